"""A gap's direction in `policyc diff` is the runtime's (`on_error`), found by the oracle.

A policy without `default` refuses (fail closed, `on_error`) where no rule matches;
adding `default allow` lets those events through. The diff called it "tightened"
(a gap counted as the least restrictive outcome), so `--fail-on loosened` passed it,
while `diff --replay` of the same events said "loosened".
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from policyc.cli import app

OLD = """policy t.p version "1" {
  categories { c0 }
  %s
  rule r0: warn when c0
}
"""


def diff(tmp_path: Path, old_extra: str, new_extra: str, *args: str) -> tuple[int, dict]:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "p.pol").write_text(OLD % old_extra)
    (tmp_path / "b" / "p.pol").write_text(OLD % new_extra)
    res = CliRunner().invoke(app, ["diff", str(tmp_path / "a" / "p.pol"),
                                   str(tmp_path / "b" / "p.pol"), "--format", "json", *args])
    return res.exit_code, json.loads(res.stdout)


def test_gap_that_refused_becoming_allow_is_loosened(tmp_path: Path) -> None:
    code, data = diff(tmp_path, "", "default allow", "--fail-on", "loosened")
    assert [c["kind"] for c in data["changes"]] == ["loosened"]
    assert data["changes"][0]["old"]["action"] is None
    assert code == 1


def test_gap_under_on_error_allow_becoming_refuse_is_tightened(tmp_path: Path) -> None:
    _, data = diff(tmp_path, "on_error allow", "on_error allow\n  default refuse")
    assert [c["kind"] for c in data["changes"]] == ["tightened"]


def test_decision_becoming_a_gap_that_fails_closed_is_tightened(tmp_path: Path) -> None:
    _, data = diff(tmp_path, "default allow", "")
    assert [c["kind"] for c in data["changes"]] == ["tightened"]
