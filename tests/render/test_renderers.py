"""Renderers: golden outputs for one fixed list of diagnostics, SARIF against the
official schema, GitHub escaping. Update the golden files with `pytest --update-golden`.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from helpers.golden import check_golden
from jsonschema import Draft4Validator, FormatChecker
from rich.console import Console

import policyc
from policyc.diagnostics import Diagnostic, Related, Severity, Span
from policyc.render.human import format_human, render_human, summary_line
from policyc.render.machine import (
    RuleMeta,
    artifact_uri,
    dumps,
    github_escape_data,
    github_escape_property,
    to_github,
    to_lint_json,
    to_sarif,
)

TESTS = Path(__file__).resolve().parents[1]
GOLDEN = TESTS / "golden" / "render"
SARIF_SCHEMA = TESTS / "data" / "sarif-schema-2.1.0.json"

POL = """\
policy acme.chat version "2.3.0" {
  context audience: enum { adult, teen, child }
  set sensitive = { self_harm, violence }
  rule teen_sensitive: redirect("crisis_resources")
      when any sensitive and audience in { teen, child }
  rule teen_block: refuse when any sensitive and audience == teen
  rule greet: warn("héllo 名前 😀") when violence.weapons > 0.5
\trule tabbed: allow when self_harm.support
  rule unfinished: allow when
"""

OTHER = "policy org.baseline {\n  rule base: allow when self_harm.support\n}\n"

SOURCES = {"policies/chat.pol": POL, "policies/base.pol": OTHER}


def _span(file: str, line: int, col: int, end_line: int, end_col: int) -> Span:
    return Span(file, line, col, end_line, end_col)


CHAT = "policies/chat.pol"
BASE = "policies/base.pol"

DIAGNOSTICS: list[Diagnostic] = [
    # multi-line primary span, a related span, help and witness
    Diagnostic(
        code="POL201",
        severity=Severity.error,
        message="rules `teen_sensitive` and `teen_block` overlap with different decisions "
        "and equal priority",
        span=_span(CHAT, 4, 3, 5, 57),
        related=[Related(message="`teen_block` is defined here", span=_span(CHAT, 6, 3, 6, 66))],
        help="give one of them a higher `priority`, or make their guards disjoint",
        witness={"audience": "teen", "self_harm.intent": 0.6},
    ),
    # unicode (accents, CJK, emoji) before and inside the span
    Diagnostic(
        code="POL305",
        severity=Severity.warning,
        message="argument `héllo 名前 😀` is not a known message id",
        span=_span(CHAT, 7, 21, 7, 31),
        help="declare it in `messages { ... }`",
    ),
    # a tab before the span
    Diagnostic(
        code="POL410",
        severity=Severity.info,
        message="rule `tabbed` is shadowed by `std.allow_support`",
        span=_span(CHAT, 8, 7, 8, 13),
        related=[
            Related(message="the parent rule", span=_span(BASE, 2, 3, 2, 42)),
            Related(message="inherited through `extends org.baseline`"),
        ],
    ),
    # past the end of the line: an unexpected end of input
    Diagnostic(
        code="POL001",
        severity=Severity.error,
        message="unexpected end of input, expected a guard",
        span=_span(CHAT, 9, 30, 9, 31),
        help="write a condition after `when`",
        fatal=True,
    ),
    # a file whose source is not available, with characters GitHub must escape
    Diagnostic(
        code="POL102",
        severity=Severity.warning,
        message="100% of events reach `default`\nsecond line, with: punctuation",
        span=_span("other dir/x,y:z.pol", 3, 1, 3, 5),
    ),
    # no span at all
    Diagnostic(
        code="POL900",
        severity=Severity.info,
        message="no `[tool.policyc]` table found, using defaults",
    ),
]

RULES = {
    "POL201": RuleMeta("POL201", "overlapping-rules",
                       "two rules overlap with different decisions and equal priority",
                       Severity.error),
    "POL305": RuleMeta("POL305", "unknown-message-id", "an action argument is not declared",
                       Severity.warning,
                       description="an action's argument names a message that no "
                       "`messages` block declares"),
    "POL410": RuleMeta("POL410", "shadowed-rule", "a rule never decides", "info"),
}


# ---- golden --------------------------------------------------------------------------------


def test_human_golden(update_golden: bool) -> None:
    check_golden(GOLDEN / "human.txt", format_human(DIAGNOSTICS, SOURCES), update_golden)


def test_lint_json_golden(update_golden: bool) -> None:
    check_golden(GOLDEN / "lint.json", dumps(to_lint_json(DIAGNOSTICS)), update_golden)


def test_sarif_golden(update_golden: bool) -> None:
    sarif = to_sarif(DIAGNOSTICS, RULES)
    sarif["runs"][0]["tool"]["driver"]["version"] = "VERSION"  # golden survives releases
    sarif["runs"][0]["tool"]["driver"]["semanticVersion"] = "VERSION"
    check_golden(GOLDEN / "lint.sarif", dumps(sarif), update_golden)


def test_github_golden(update_golden: bool) -> None:
    check_golden(GOLDEN / "github.txt", to_github(DIAGNOSTICS), update_golden)


# ---- human ---------------------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return text.split("\n")


def test_human_underlines_by_display_width() -> None:
    out = _lines(format_human([DIAGNOSTICS[1]], SOURCES))
    code, under = out[3], out[4]
    assert code == '7 |   rule greet: warn("héllo 名前 😀") when violence.weapons > 0.5'
    # "héllo 名前 😀" is 10 characters but 13 cells wide (two CJK, one emoji)
    assert under == "  | " + " " * 20 + "^" * 13
    assert code.index("h", 10) == under.index("^")


def test_human_tab_expanded_and_aligned() -> None:
    out = _lines(format_human([DIAGNOSTICS[2]], SOURCES))
    assert out[3] == "8 |     rule tabbed: allow when self_harm.support"
    assert out[4] == "  | " + " " * 9 + "^" * 6
    assert out[3].index("tabbed") == out[4].index("^")


def test_human_multiline_span_underlines_rest_of_first_line() -> None:
    out = _lines(format_human([DIAGNOSTICS[0]], SOURCES))
    first = '4 |   rule teen_sensitive: redirect("crisis_resources")'
    assert out[3] == first
    assert out[4] == "  |   " + "^" * (len(first) - len("4 |   "))


def test_human_past_end_of_line_gets_one_caret() -> None:
    out = _lines(format_human([DIAGNOSTICS[3]], SOURCES))
    assert out[3] == "9 |   rule unfinished: allow when"
    assert out[4] == "  | " + " " * 29 + "^"


def test_human_unknown_source_shows_location_only() -> None:
    out = _lines(format_human([DIAGNOSTICS[4]], SOURCES))
    assert out[1] == "second line, with: punctuation"
    assert out[2] == " --> other dir/x,y:z.pol:3:1"
    assert out[3] == ""


def test_human_no_markup_no_colour_off_terminal() -> None:
    d = Diagnostic(code="POL1", severity=Severity.error, message="[bold]x[/bold] :smile:",
                   span=_span("f.pol", 1, 1, 1, 2), help="[red]y")
    buffer = io.StringIO()
    render_human([d], {"f.pol": "ab\n"}, Console(file=buffer, force_terminal=False, width=100))
    text = buffer.getvalue()
    assert "\x1b[" not in text
    assert "error[POL1]: [bold]x[/bold] :smile:" in text
    assert "= help: [red]y" in text


def test_human_colour_on_terminal() -> None:
    d = Diagnostic(code="POL1", severity=Severity.error, message="m",
                   span=_span("f.pol", 1, 1, 1, 2))
    buffer = io.StringIO()
    render_human([d], {"f.pol": "ab\n"}, Console(file=buffer, force_terminal=True, width=100))
    assert "\x1b[1;31merror[POL1]" in buffer.getvalue()
    buffer = io.StringIO()
    render_human([d], {"f.pol": "ab\n"},
                 Console(file=buffer, force_terminal=True, no_color=True, width=100))
    assert "\x1b[31m" not in buffer.getvalue() and "\x1b[1;31m" not in buffer.getvalue()


def test_human_long_lines_are_not_wrapped() -> None:
    source = "x" * 300 + "\n"
    d = Diagnostic(code="POL1", severity=Severity.info, message="m",
                   span=_span("f", 1, 290, 1, 295))
    out = _lines(format_human([d], {"f": source}))
    assert out[3] == "1 | " + "x" * 300
    assert out[4] == "  | " + " " * 289 + "^^^^^"


def test_summary_line_plurals() -> None:
    def mk(sev: str) -> Diagnostic:
        return Diagnostic(code="P", severity=Severity(sev), message="m")

    assert summary_line([]) == "0 errors, 0 warnings, 0 info"
    assert summary_line([mk("error"), mk("warning"), mk("info")]) == "1 error, 1 warning, 1 info"
    assert summary_line([mk("error")] * 2 + [mk("info")] * 3) == "2 errors, 0 warnings, 3 info"
    assert format_human([], {}) == "0 errors, 0 warnings, 0 info\n"


# ---- lint JSON -----------------------------------------------------------------------------


def test_lint_json_matches_cli_contract() -> None:
    d = Diagnostic(
        code="POL201", severity=Severity.error,
        message="rules a and b overlap with different decisions and equal priority",
        span=_span("p.pol", 12, 3, 12, 40),
        related=[Related(message="b", span=_span("p.pol", 15, 3, 15, 9))],
        witness={"audience": "teen", "self_harm.intent": 0.6},
    )
    out = to_lint_json([d])
    assert out == {
        "schema": "policyc/lint/v1",
        "diagnostics": [{
            "code": "POL201", "severity": "error",
            "message": "rules a and b overlap with different decisions and equal priority",
            "file": "p.pol", "line": 12, "column": 3, "end_line": 12, "end_column": 40,
            "related": [{"file": "p.pol", "line": 15, "column": 3, "message": "b"}],
            "help": None,
            "witness": {"audience": "teen", "self_harm.intent": 0.6}}],
        "summary": {"error": 1, "warning": 0, "info": 0},
    }
    assert list(out) == ["schema", "diagnostics", "summary"]
    assert list(out["diagnostics"][0]) == [
        "code", "severity", "message", "file", "line", "column", "end_line", "end_column",
        "related", "help", "witness",
    ]


def test_lint_json_without_span() -> None:
    out = to_lint_json([DIAGNOSTICS[5]])["diagnostics"][0]
    assert (out["file"], out["line"], out["column"], out["end_line"], out["end_column"]) == (
        "", 0, 0, 0, 0)
    assert out["help"] is None and out["witness"] is None
    related = to_lint_json([DIAGNOSTICS[2]])["diagnostics"][0]["related"][1]
    assert related == {"file": "", "line": 0, "column": 0,
                       "message": "inherited through `extends org.baseline`"}


def test_dumps_is_stable_utf8_with_newline() -> None:
    text = dumps({"b": "名前", "a": [1, 2]})
    assert text == '{\n  "b": "名前",\n  "a": [\n    1,\n    2\n  ]\n}\n'
    assert json.loads(dumps(to_lint_json(DIAGNOSTICS))) == to_lint_json(DIAGNOSTICS)
    assert dumps({"s": Severity.info, "t": frozenset({"y", "x"})}) == (
        '{\n  "s": "info",\n  "t": [\n    "x",\n    "y"\n  ]\n}\n')


# ---- SARIF ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sarif_validator() -> Draft4Validator:
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    assert schema["id"] == (
        "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/"
        "sarif-schema-2.1.0.json")
    Draft4Validator.check_schema(schema)
    return Draft4Validator(schema, format_checker=FormatChecker())


def _errors(validator: Draft4Validator, log: dict) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(log)]


def test_sarif_validates_against_official_schema(sarif_validator: Draft4Validator) -> None:
    for log in (to_sarif(DIAGNOSTICS, RULES), to_sarif(DIAGNOSTICS), to_sarif([], RULES),
                to_sarif([], None, docs_url=None)):
        assert _errors(sarif_validator, json.loads(dumps(log))) == []


def test_sarif_schema_rejects_what_it_should(sarif_validator: Draft4Validator) -> None:
    # guards against a validator that accepts anything
    log = to_sarif(DIAGNOSTICS, RULES)
    log["runs"][0]["results"][0]["level"] = "info"
    log["runs"][0]["results"][1]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    log["runs"][0]["tool"]["driver"]["rules"][0]["unknown"] = 1
    assert len(_errors(sarif_validator, log)) == 3


def test_sarif_content() -> None:
    log = to_sarif(DIAGNOSTICS, RULES)
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert log["version"] == "2.1.0"
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "policyc" and driver["version"] == policyc.__version__
    assert urlsplit(driver["informationUri"]).scheme == "https"  # the schema wants absolute
    rules = driver["rules"]
    assert [r["id"] for r in rules] == ["POL201", "POL305", "POL410", "POL001", "POL102",
                                        "POL900"]
    assert rules[0]["helpUri"] == "https://github.com/policyc/policyc/blob/main/docs/rules/POL201.md"
    assert rules[0]["defaultConfiguration"] == {"level": "error"}
    assert rules[2]["defaultConfiguration"] == {"level": "note"}
    assert rules[1]["fullDescription"]["text"].startswith("an action's argument")
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    assert [r["level"] for r in run["results"]] == [
        "error", "warning", "note", "error", "warning", "note"]
    first = run["results"][0]
    assert first["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "policies/chat.pol"},
        "region": {"startLine": 4, "startColumn": 3, "endLine": 5, "endColumn": 57},
    }
    assert first["relatedLocations"][0]["message"]["text"] == "`teen_block` is defined here"
    assert first["properties"]["witness"] == {"audience": "teen", "self_harm.intent": 0.6}
    assert run["results"][4]["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "other%20dir/x%2Cy%3Az.pol"}
    assert "locations" not in run["results"][5]


def test_sarif_accepts_registry_like_specs(sarif_validator: Draft4Validator) -> None:
    @dataclass(frozen=True)
    class Spec:  # the shape of the lint registry's CodeSpec: no `description`
        code: str
        name: str
        severity: Severity
        summary: str

    specs = {"POL201": Spec("POL201", "overlapping-rules", Severity.error, "rules overlap")}
    log = to_sarif(DIAGNOSTICS, specs)
    rule = log["runs"][0]["tool"]["driver"]["rules"][0]
    assert rule["fullDescription"] == {"text": "rules overlap"}
    assert _errors(sarif_validator, log) == []


def test_artifact_uri() -> None:
    assert artifact_uri("policies/chat.pol") == "policies/chat.pol"
    assert artifact_uri("./policies\\chat.pol") == "policies/chat.pol"
    assert artifact_uri("a b/c#d.pol") == "a%20b/c%23d.pol"
    assert artifact_uri("/abs/p.pol") == "file:///abs/p.pol"
    assert artifact_uri("C:\\work\\p.pol") == "file:///C:/work/p.pol"
    assert artifact_uri("politique/é.pol") == "politique/%C3%A9.pol"


# ---- GitHub --------------------------------------------------------------------------------


def test_github_escaping() -> None:
    assert github_escape_data("100% a\r\nb: c, d") == "100%25 a%0D%0Ab: c, d"
    assert github_escape_property("100% a\r\nb: c, d") == "100%25 a%0D%0Ab%3A c%2C d"


def test_github_commands() -> None:
    lines = to_github(DIAGNOSTICS).splitlines()
    assert lines[0].startswith(
        "::error file=policies/chat.pol,line=4,col=3,endLine=5,endColumn=57,title=POL201::"
        "rules `teen_sensitive`")
    assert lines[0].endswith("%0Ahelp: give one of them a higher `priority`, or make their "
                             "guards disjoint")
    assert lines[2].startswith("::notice file=policies/chat.pol,line=8,")
    assert lines[4] == (
        "::warning file=other dir/x%2Cy%3Az.pol,line=3,col=1,endLine=3,endColumn=5,"
        "title=POL102::100%25 of events reach `default`%0Asecond line, with: punctuation")
    assert lines[5] == "::notice title=POL900::no `[tool.policyc]` table found, using defaults"
    assert len(lines) == len(DIAGNOSTICS)
    assert to_github([]) == ""
