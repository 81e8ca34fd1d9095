"""Lint configuration: `[tool.policyc]` in pyproject.toml or a `policyc.toml`.

Keys: `select`, `ignore` (lists of codes or prefixes such as `POL2`), `severity`
(a table code → error|warning|info), `fail-on`, `path` (parent search folders),
`docs-url` (the absolute URL of a rule's page, with `{code}`: SARIF `helpUri`).
The nearest file found from the first input's folder upwards wins.

Nothing is silently accepted: an unknown key (`selct`, or `fail_on` for `fail-on`),
and a code or prefix that names no diagnostic (`POL999`, `FOO`), in the file or in
`--select`/`--ignore`, is an error with a "did you mean" (exit 2 in the CLI).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from policyc.diagnostics import Severity


@dataclass
class LintConfig:
    select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    severity: dict[str, Severity] = field(default_factory=dict)
    fail_on: Severity | None = None
    path: list[str] = field(default_factory=list)
    docs_url: str | None = None
    source: Path | None = None

    def enabled(self, code: str) -> bool:
        if self.select and not any(code.startswith(s) for s in self.select):
            return False
        return not any(code.startswith(s) for s in self.ignore)


KEYS = ("select", "ignore", "severity", "fail-on", "path", "docs-url")


class ConfigError(ValueError):
    def __init__(self, message: str, help: str | None = None):
        super().__init__(message)
        self.help = help


def _did_you_mean(name: str, choices: list[str]) -> str | None:
    import difflib

    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    if not close and name.replace("_", "-") in choices:
        close = [name.replace("_", "-")]
    return f"did you mean `{close[0]}`?" if close else None


def check_selectors(selectors: list[str], where: str) -> None:
    """Every code or prefix must name at least one diagnostic code (`policyc rules`)."""
    from policyc.lint.registry import all_codes

    codes = list(all_codes())
    for sel in selectors:
        if not any(code.startswith(sel) for code in codes):
            hint = _did_you_mean(sel, codes)
            raise ConfigError(f"`{sel}` in {where} is not a diagnostic code or prefix",
                              (hint + " " if hint else "")
                              + "`policyc rules` lists every code; a prefix such as `POL2` "
                              "selects a group")


def find_config(start: Path) -> LintConfig:
    folder = start if start.is_dir() else start.parent
    for d in [folder.resolve(), *folder.resolve().parents]:
        own = d / "policyc.toml"
        if own.is_file():
            return _read(own, None) or LintConfig()  # None only for a missing table
        pyproject = d / "pyproject.toml"
        if pyproject.is_file():
            cfg = _read(pyproject, ("tool", "policyc"))
            if cfg is not None:
                return cfg
    return LintConfig()


def _read(path: Path, table: tuple[str, ...] | None) -> LintConfig | None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"cannot read `{path}`: {err}") from err
    if table is not None:
        for key in table:
            data = data.get(key)  # type: ignore[assignment]
            if not isinstance(data, dict):
                return None
    where = f"`{path.name}`" + (" `[tool.policyc]`" if table else "")
    for key in data:
        if key not in KEYS:
            line = _line_of(path, key)
            hint = _did_you_mean(key, list(KEYS))
            raise ConfigError(f"{path}{f':{line}' if line else ''}: unknown key `{key}` in {where}",
                              hint or f"known keys: {', '.join(f'`{k}`' for k in KEYS)}")
    try:
        severity = {code: Severity(level) for code, level in data.get("severity", {}).items()}
        fail_on = data.get("fail-on")
        docs_url = data.get("docs-url")
        if docs_url is not None and not (isinstance(docs_url, str) and "{code}" in docs_url
                                         and docs_url.startswith(("https://", "http://"))):
            raise ValueError("`docs-url` must be an absolute http(s) URL containing `{code}`")
        for key in ("select", "ignore"):
            check_selectors([str(c).strip().upper() for c in data.get(key, [])],
                            f"`{key}` of `{path}`")
        check_selectors(list(severity), f"`severity` of `{path}`")
        return LintConfig(select=list(data.get("select", [])), ignore=list(data.get("ignore", [])),
                          severity=severity, fail_on=Severity(fail_on) if fail_on else None,
                          path=[str(path.parent / p) for p in data.get("path", [])],
                          docs_url=docs_url, source=path)
    except ConfigError:
        raise
    except (ValueError, TypeError, AttributeError) as err:
        raise ConfigError(f"invalid policyc configuration in `{path}`: {err}") from err


def _line_of(path: Path, key: str) -> int | None:
    """The line where `key = …` is written (for the message), when it can be found."""
    import re

    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    m = re.search(rf"^[ \t]*[\"']?{re.escape(key)}[\"']?[ \t]*=", text, re.MULTILINE)
    return text.count("\n", 0, m.start()) + 1 if m else None
