"""Golden diff reports in the three formats (update with `pytest --update-golden`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from policyc.cli import app

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests/golden/diff"


@pytest.mark.parametrize("fmt,suffix", [("text", "txt"), ("json", "json"), ("markdown", "md")])
def test_diff_golden(fmt: str, suffix: str, update_golden: bool,
                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(app, ["diff", "tests/golden/diff/old.pol",
                                      "tests/golden/diff/new.pol", "--format", fmt])
    assert result.exit_code == 0, result.output
    golden = GOLDEN / f"expected.{suffix}"
    if update_golden or not golden.exists():
        golden.write_text(result.output, encoding="utf-8")
    assert result.output == golden.read_text(encoding="utf-8")


def test_diff_json_contract_and_gate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    args = ["diff", "tests/golden/diff/old.pol", "tests/golden/diff/new.pol"]
    data = json.loads(CliRunner().invoke(app, [*args, "--format", "json"]).output)
    assert data["schema"] == "policyc/diff/v1"
    assert set(data["summary"]) == {"loosened", "tightened", "changed"}
    for change in data["changes"]:
        assert set(change) >= {"kind", "region", "old", "new", "witness"}
        assert set(change["old"]) == {"action", "argument", "rule"}
    accepted = [c for c in data["changes"] if c.get("accepted")]
    assert accepted and all(c["kind"] == "loosened" for c in accepted)
    assert data["bindings"][0]["category"] == "harassment"
    # the teen loosening is accepted by annotation; the threshold loosening is not
    assert CliRunner().invoke(app, [*args, "--fail-on", "loosened"]).exit_code == 1
    assert CliRunner().invoke(app, [*args, "--fail-on", "any"]).exit_code == 1
