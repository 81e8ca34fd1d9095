"""Machine output for diagnostics: lint JSON, SARIF 2.1.0, GitHub workflow commands.

All three are stable: diagnostics come out in the order given (callers pass
`sort_diagnostics(...)`), keys in the documented order, and `dumps` writes JSON the
same way every time.

Positions are those of `Span`: 1-based lines, 1-based columns counted in characters
(Unicode code points), `end_column` exclusive (the column just after the last
character). SARIF says so with `run.columnKind = "unicodeCodePoints"`.

Lint JSON (`policyc/lint/v1`, docs/cli.md): every diagnostic object has every key,
always in this order::

    code, severity, message, file, line, column, end_line, end_column, related, help, witness

`help` and `witness` are `null` when absent. A diagnostic without a span (a
configuration problem, a file that could not be read before it had any text) has
`"file": ""` and `0` for `line`, `column`, `end_line` and `end_column`: the types stay
the same for every object, and 0 is never a real (1-based) position. A related span
without a location is reported the same way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import PurePath
from typing import Any, Protocol
from urllib.parse import quote

import policyc
from policyc.diagnostics import Diagnostic, Related, Severity, Span

__all__ = [
    "DEFAULT_DOCS_URL",
    "INFORMATION_URI",
    "LINT_SCHEMA",
    "SARIF_SCHEMA_URI",
    "RuleLike",
    "RuleMeta",
    "dumps",
    "github_escape_data",
    "github_escape_property",
    "help_uri",
    "json_default",
    "to_github",
    "to_lint_json",
    "to_sarif",
]

LINT_SCHEMA = "policyc/lint/v1"
SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
#: `tool.driver.informationUri`: must be an absolute URI. Change it when the project
#: has a home page of its own.
INFORMATION_URI = "https://pypi.org/project/policyc/"
#: Where each rule's `helpUri` points: a template of an absolute URL with `{code}` (and
#: optionally `{version}`, policyc's version), set by `docs-url` in `[tool.policyc]`.
#: GitHub code scanning shows it as the rule's help link, so it must be absolute.
DEFAULT_DOCS_URL = "https://github.com/policyc/policyc/blob/main/docs/rules/{code}.md"

_SARIF_LEVEL = {Severity.error: "error", Severity.warning: "warning", Severity.info: "note"}
_GITHUB_COMMAND = {Severity.error: "error", Severity.warning: "warning", Severity.info: "notice"}


@dataclass(frozen=True, slots=True)
class RuleMeta:
    """What SARIF says about a rule; the lint registry provides one per code."""

    code: str  # "POL201"
    name: str  # kebab-case, "overlapping-rules"
    summary: str  # one line, lowercase, no final period
    severity: Severity | str  # default severity
    description: str | None = None  # longer text for `fullDescription`; else the summary


class RuleLike(Protocol):
    """What `to_sarif` reads from a rule: `RuleMeta`, or the lint registry's `CodeSpec`
    as it is (`description` is read when present)."""

    @property
    def code(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def severity(self) -> Severity | str: ...


# ---- JSON ----------------------------------------------------------------------------------


def dumps(obj: Any) -> str:
    """Stable JSON text: keys in insertion (documented) order, UTF-8 as is, indent 2, `\\n`."""
    return json.dumps(obj, ensure_ascii=False, indent=2, default=json_default) + "\n"


def json_default(value: Any) -> Any:
    """Values a witness may hold that `json` does not know: enums, sets, paths, ..."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return list(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


def to_lint_json(diagnostics: Iterable[Diagnostic]) -> dict[str, Any]:
    """The `policyc lint --format json` object (see the module docstring)."""
    diagnostics = list(diagnostics)
    return {
        "schema": LINT_SCHEMA,
        "diagnostics": [_lint_diagnostic(d) for d in diagnostics],
        "summary": _summary(diagnostics),
    }


def _lint_diagnostic(d: Diagnostic) -> dict[str, Any]:
    s = d.span
    return {
        "code": d.code,
        "severity": Severity(d.severity).value,
        "message": d.message,
        "file": s.file if s else "",
        "line": s.line if s else 0,
        "column": s.column if s else 0,
        "end_line": s.end_line if s else 0,
        "end_column": s.end_column if s else 0,
        "related": [_lint_related(r) for r in d.related],
        "help": d.help,
        "witness": d.witness,
    }


def _lint_related(r: Related) -> dict[str, Any]:
    s = r.span
    return {
        "file": s.file if s else "",
        "line": s.line if s else 0,
        "column": s.column if s else 0,
        "message": r.message,
    }


def _summary(diagnostics: Iterable[Diagnostic]) -> dict[str, int]:
    counts = {s.value: 0 for s in (Severity.error, Severity.warning, Severity.info)}
    for d in diagnostics:
        counts[Severity(d.severity).value] += 1
    return counts


# ---- SARIF 2.1.0 ---------------------------------------------------------------------------


def to_sarif(
    diagnostics: Iterable[Diagnostic],
    rules_meta: Mapping[str, RuleLike] | None = None,
    *,
    docs_url: str | None = DEFAULT_DOCS_URL,
    information_uri: str = INFORMATION_URI,
) -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run.

    `tool.driver.rules` lists every rule of `rules_meta` (by code), then any code that a
    diagnostic carries and `rules_meta` does not know (e.g. syntax errors), as a bare
    `{"id": code}`; each result points at its rule by `ruleId` and `ruleIndex`.
    `helpUri` is the `docs_url` template filled in by `help_uri` (`None` leaves it out).
    The witness and the help line go under `result.properties`.
    """
    diagnostics = list(diagnostics)
    rules_meta = rules_meta or {}
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    for meta in sorted(rules_meta.values(), key=lambda m: m.code):
        if meta.code not in index:
            index[meta.code] = len(rules)
            rules.append(_sarif_rule(meta, docs_url))
    for d in diagnostics:
        if d.code not in index:
            index[d.code] = len(rules)
            rules.append({"id": d.code})

    driver: dict[str, Any] = {
        "name": "policyc",
        "version": policyc.__version__,
        "semanticVersion": policyc.__version__,
        "informationUri": information_uri,
        "rules": rules,
    }
    run = {
        "tool": {"driver": driver},
        "columnKind": "unicodeCodePoints",
        "results": [_sarif_result(d, index[d.code]) for d in diagnostics],
    }
    return {"$schema": SARIF_SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]}


def help_uri(code: str, docs_url: str = DEFAULT_DOCS_URL) -> str:
    """The documentation URL of rule `code`: `docs_url` with `{code}` and `{version}` filled in."""
    return docs_url.replace("{code}", code).replace("{version}", policyc.__version__)


def _sarif_rule(meta: RuleLike, docs_url: str | None) -> dict[str, Any]:
    description = getattr(meta, "description", None) or meta.summary
    rule: dict[str, Any] = {
        "id": meta.code,
        "name": meta.name,
        "shortDescription": {"text": meta.summary},
        "fullDescription": {"text": description},
    }
    if docs_url is not None:
        rule["helpUri"] = help_uri(meta.code, docs_url)
    rule["defaultConfiguration"] = {"level": _SARIF_LEVEL[Severity(meta.severity)]}
    return rule


def _sarif_result(d: Diagnostic, rule_index: int) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": d.code,
        "ruleIndex": rule_index,
        "level": _SARIF_LEVEL[Severity(d.severity)],
        "message": {"text": d.message},
    }
    location = _sarif_physical(d.span)
    if location is not None:
        result["locations"] = [{"physicalLocation": location}]
    if d.related:
        related = []
        for i, r in enumerate(d.related, start=1):
            loc: dict[str, Any] = {"id": i}
            physical = _sarif_physical(r.span)
            if physical is not None:
                loc["physicalLocation"] = physical
            loc["message"] = {"text": r.message}
            related.append(loc)
        result["relatedLocations"] = related
    properties: dict[str, Any] = {}
    if d.help is not None:
        properties["help"] = d.help
    if d.witness is not None:
        properties["witness"] = d.witness
    if properties:
        result["properties"] = properties
    return result


def _sarif_physical(span: Span | None) -> dict[str, Any] | None:
    if span is None or not span.file:
        return None
    physical: dict[str, Any] = {"artifactLocation": {"uri": artifact_uri(span.file)}}
    if span.line >= 1:
        region: dict[str, Any] = {"startLine": span.line}
        if span.column >= 1:
            region["startColumn"] = span.column
        end_line = max(span.end_line, span.line)
        region["endLine"] = end_line
        if span.end_column >= 1 and span.column >= 1:
            end_column = span.end_column
            if end_line == span.line:
                end_column = max(end_column, span.column)
            region["endColumn"] = end_column
        physical["region"] = region
    return physical


_DRIVE = re.compile(r"^[A-Za-z]:/")


def artifact_uri(path: str) -> str:
    """A file path as a URI reference: forward slashes, percent-encoded.

    Relative paths stay relative (GitHub resolves them against the repository root);
    absolute ones become `file://` URIs.
    """
    posix = path.replace("\\", "/")
    if posix.startswith("/") or _DRIVE.match(posix):
        prefix = "file://" if posix.startswith("/") else "file:///"
        return prefix + quote(posix, safe="/:")
    posix = PurePath(posix).as_posix()
    return quote(posix, safe="/")


# ---- GitHub workflow commands --------------------------------------------------------------


def github_escape_data(text: str) -> str:
    """Escape a command's message (the part after `::`)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def github_escape_property(text: str) -> str:
    """Escape a property value (`file=...`, `title=...`)."""
    return github_escape_data(text).replace(":", "%3A").replace(",", "%2C")


def to_github(diagnostics: Iterable[Diagnostic]) -> str:
    """One `::error|warning|notice file=...,line=...,title=CODE::message` line each.

    The help line, when there is one, follows the message on a new line (escaped as
    `%0A`): GitHub shows it in the annotation. Related spans have no place in the
    format and are left out. Empty string when there is nothing to report.
    """
    lines = []
    for d in diagnostics:
        props: list[tuple[str, str]] = []
        s = d.span
        if s is not None and s.file:
            props.append(("file", s.file.replace("\\", "/")))
            if s.line >= 1:
                props.append(("line", str(s.line)))
                if s.column >= 1:
                    props.append(("col", str(s.column)))
                props.append(("endLine", str(max(s.end_line, s.line))))
                if s.end_column >= 1 and s.column >= 1:
                    props.append(("endColumn", str(s.end_column)))
        props.append(("title", d.code))
        message = d.message if d.help is None else f"{d.message}\nhelp: {d.help}"
        rendered = ",".join(f"{k}={github_escape_property(v)}" for k, v in props)
        command = _GITHUB_COMMAND[Severity(d.severity)]
        lines.append(f"::{command} {rendered}::{github_escape_data(message)}")
    return "".join(line + "\n" for line in lines)
