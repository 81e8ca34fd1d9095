"""Golden diff reports in the three formats (update with `pytest --update-golden`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.golden import check_golden
from typer.testing import CliRunner

from policyc.cli import app

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests/golden/diff"


@pytest.mark.parametrize("case", ["diff", "diff_scoped"])
@pytest.mark.parametrize("fmt,suffix", [("text", "txt"), ("json", "json"), ("markdown", "md")])
def test_diff_golden(case: str, fmt: str, suffix: str, update_golden: bool,
                     monkeypatch: pytest.MonkeyPatch) -> None:
    """`diff_scoped`: a generated 50-rule policy with one rule replaced, whose exact boxes
    would number over a thousand: reported as scoped rows."""
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(app, ["diff", f"tests/golden/{case}/old.pol",
                                      f"tests/golden/{case}/new.pol", "--format", fmt])
    assert result.exit_code == 0, result.output
    check_golden(ROOT / "tests/golden" / case / f"expected.{suffix}", result.output, update_golden)


def test_diff_json_contract_and_gate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    args = ["diff", "tests/golden/diff/old.pol", "tests/golden/diff/new.pol"]
    data = json.loads(CliRunner().invoke(app, [*args, "--format", "json"]).output)
    assert data["schema"] == "policyc/diff/v1"
    assert set(data["summary"]) == {"loosened", "tightened", "changed", "pairs"}
    for change in data["changes"]:
        assert set(change) >= {"kind", "region", "old", "new", "witness"}
        assert set(change["old"]) == {"action", "argument", "rule"}
    accepted = [c for c in data["changes"] if c.get("accepted")]
    assert accepted and all(c["kind"] == "loosened" for c in accepted)
    assert data["bindings"][0]["category"] == "harassment"
    # the teen loosening is accepted by annotation; the threshold loosening is not
    assert CliRunner().invoke(app, [*args, "--fail-on", "loosened"]).exit_code == 1
    assert CliRunner().invoke(app, [*args, "--fail-on", "any"]).exit_code == 1


def test_scoped_rows_hold_at_their_witnesses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each scoped row: its rule decides at the witness in its version, and both versions
    decide there exactly as the row says."""
    from policyc.semantics.program import load_program
    from policyc.semantics.regions.boxes import build_space
    from policyc.semantics.regions.decision_map import DecisionMap

    monkeypatch.chdir(ROOT)
    case = ROOT / "tests/golden/diff_scoped"
    data = json.loads(CliRunner().invoke(
        app, ["diff", str(case / "old.pol"), str(case / "new.pol"), "--format", "json"]).output)
    scoped = [c for c in data["changes"] if "scope" in c]
    assert len(scoped) >= 3 and len(data["changes"]) < 20
    old, new = (next(iter(load_program([case / f]).policies.values()))
                for f in ("old.pol", "new.pol"))
    space = build_space([old, new])
    maps = {"old": DecisionMap(old, space), "new": DecisionMap(new, space)}
    for c in scoped:
        event = {v.name: 0.0 for v in space.vars if v.kind == "score"} | c["witness"]
        outcomes = {k: m.decide_event(event) for k, m in maps.items()}
        assert outcomes[c["scope"]["version"]].rule == c["scope"]["rule"]
        for k in ("old", "new"):
            d = outcomes[k].decision
            assert (d.action, d.argument) == (c[k]["action"], c[k]["argument"]), c


def test_causes_name_the_edits_and_counts_are_true(monkeypatch: pytest.MonkeyPatch) -> None:
    """examples/diff: rows are disjoint (6, not double counted: three
    are `except` rows), each names its edits."""
    monkeypatch.chdir(ROOT)
    data = json.loads(CliRunner().invoke(app, ["diff", "examples/diff/v1.pol",
                                               "examples/diff/v2.pol", "--format",
                                               "json"]).output)
    texts = {c["text"]: c["rows"] for c in data["causes"]}
    assert texts["threshold self_harm.instructions 0.3 → 0.5"]["loosened"] > 0
    assert texts['rule teen_intent: action redirect("crisis_resources") → '
                 'warn("crisis_resources")']["loosened"] > 0
    assert texts["rule harassment_refuse added"] == {"loosened": 0, "tightened": 2,
                                                     "changed": 0}
    assert all(c["causes"] for c in data["changes"])
    assert len(data["changes"]) == 6 and sum("except" in c for c in data["changes"]) == 3
    assert data["summary"]["pairs"] == len({(json.dumps(c["old"]), json.dumps(c["new"]))
                                            for c in data["changes"]})
    text = CliRunner().invoke(app, ["diff", "examples/diff/v1.pol", "examples/diff/v2.pol"])
    assert "threshold self_harm.instructions 0.3 → 0.5: loosens refuse → " in text.output
