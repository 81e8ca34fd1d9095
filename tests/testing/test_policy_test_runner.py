"""`policyc test`: test blocks, failures, errors, coverage, json and junit output."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from policyc.cli import app

ROOT = Path(__file__).resolve().parents[2]

FIXTURE = """\
policy fixture.tests version "1.0.0" {
  context audience: enum { adult, teen }
  context verified: bool = false

  categories {
    violence { weapons, threat }
    pii { email }
  }

  detector pii.email = regex "[a-z]+@[a-z]+\\\\.com"

  threshold default 0.5

  default allow

  rule weapons: refuse when violence.weapons
  rule teen_threat: redirect("resources") when violence.threat and audience == teen
  rule adult_threat: warn("threat") when violence.threat and audience == adult and not verified
  rule email: redact("pii") when pii.email
  rule never_tested: escalate("review") when score(violence.threat) >= 0.95

  test "weapons refused" {
    given audience = adult, violence.weapons = 0.8
    expect refuse by weapons
  }
  test "teen threat redirected" {
    given audience = teen, violence.threat = 0.6
    expect redirect("resources")
  }
  test "wrong expectation" {
    given audience = adult, violence.threat = 0.6
    expect allow
  }
  test "wrong rule" {
    given audience = adult, violence.weapons = 0.9
    expect refuse by teen_threat
  }
  test "no audience" {
    given violence.weapons = 0.8
    expect refuse
  }
  test "email by text" {
    text "mail me at jane@example.com"
    given audience = adult
    expect redact("pii")
  }
}
"""

PASSING = """\
policy fixture.passing version "1.0.0" {
  categories { violence }
  default allow
  rule v: refuse when violence
  test "refused" { given violence = 0.7 expect refuse by v }
  test "allowed" { given violence = 0.1 expect allow }
}
"""


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout


@pytest.fixture
def fixture_file(tmp_path: Path) -> Path:
    p = tmp_path / "fixture.pol"
    p.write_text(FIXTURE, encoding="utf-8")
    return p


def test_text_output_failures_errors_and_coverage(fixture_file: Path) -> None:
    code, out = _invoke("test", str(fixture_file))
    assert code == 1
    lines = out.rstrip("\n").splitlines()
    assert lines[-1] == "3 passed, 3 failed"
    # a wrong decision: expected vs actual, with the rule that decided
    assert 'FAIL "wrong expectation"' in out
    assert "expected: allow" in out
    assert 'actual:   warn("threat") by rule `adult_threat`' in out
    # `expect ... by RULE` checks the rule
    assert 'FAIL "wrong rule"' in out
    assert "expected: refuse by rule `teen_threat`" in out
    assert "actual:   refuse by rule `weapons`" in out
    # an attribute without a default that `given` leaves out is an error, not a guess
    assert 'ERROR "no audience"' in out
    assert "missing attribute `audience` (no default): give it in `given`" in out
    # coverage: rules no test decided, with file:line
    assert "coverage: 4/5 rules decided in some test" in out
    assert "rules no test exercised:" in out
    assert f"{fixture_file}:20  never_tested  (fixture.tests)" in out.replace(
        str(fixture_file.resolve()), str(fixture_file))
    # the failing lines point at the test's line
    assert f"{fixture_file.name}:34" in out


def test_passing_file_exits_0(tmp_path: Path) -> None:
    p = tmp_path / "ok.pol"
    p.write_text(PASSING, encoding="utf-8")
    code, out = _invoke("test", str(p))
    assert code == 0
    assert out.rstrip("\n").splitlines()[-1] == "2 passed, 0 failed"
    assert "coverage: 1/1 rules decided in some test; 1/1 deciding regions reached" in out


def test_json_schema(fixture_file: Path) -> None:
    code, out = _invoke("test", str(fixture_file), "--format", "json")
    assert code == 1
    data = json.loads(out)
    assert data["schema"] == "policyc/test/v1"
    assert data["summary"] == {"passed": 3, "failed": 2, "errors": 1, "total": 6}
    by_name = {r["name"]: r for r in data["results"]}
    wrong = by_name["wrong expectation"]
    assert wrong["status"] == "failed"
    assert wrong["expected"] == {"action": "allow", "argument": None, "rule": None}
    assert wrong["actual"]["action"] == "warn"
    assert wrong["actual"]["rule"] == "adult_threat"
    assert by_name["no audience"]["status"] == "error"
    assert by_name["email by text"]["actual"]["scores"] == {"pii.email": 1.0}
    cov = data["coverage"]
    assert cov["rules"] == 5 and cov["exercised"] == 4
    assert [c["rule"] for c in cov["unexercised"]] == ["never_tested"]
    assert cov["unexercised"][0]["line"] == 20
    assert cov["reached"] <= cov["regions"]
    assert data["policies"] == [{"policy": "fixture.tests", "file": data["policies"][0]["file"],
                                 "tests": 6, "passed": 3, "failed": 2, "errors": 1}]


def test_junit_parses(fixture_file: Path) -> None:
    code, out = _invoke("test", str(fixture_file), "--format", "junit")
    assert code == 1
    root = ET.fromstring(out.encode())
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("6", "2", "1")
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == "fixture.tests"
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert len(cases) == 6
    assert cases["weapons refused"].find("failure") is None
    failure = cases["wrong expectation"].find("failure")
    assert failure is not None and "adult_threat" in (failure.get("message") or "")
    assert cases["no audience"].find("error") is not None


def test_syntax_error_exits_2(tmp_path: Path) -> None:
    p = tmp_path / "bad.pol"
    p.write_text('policy bad version "1" {\n  rule r: refuse when\n}\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["test", str(p)])
    assert result.exit_code == 2
    assert "bad.pol:3" in result.stderr or "bad.pol:2" in result.stderr
    result = CliRunner().invoke(app, ["test", str(p), "--format", "json"])
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert data["schema"] == "policyc/test/v1" and data["diagnostics"]


def test_missing_input_exits_2(tmp_path: Path) -> None:
    code, _ = _invoke("test", str(tmp_path / "nope.pol"))
    assert code == 2


def test_examples_and_stdlib_pass() -> None:
    result = CliRunner().invoke(app, ["test", str(ROOT / "examples"),
                                      str(ROOT / "stdlib_policies")])
    assert result.exit_code == 0, result.stdout + result.stderr
    last = result.stdout.rstrip("\n").splitlines()[-1]
    passed, failed = (int(x.split()[0]) for x in last.split(", "))
    assert failed == 0 and passed >= 15  # the acme examples carry 15 tests
