"""`policyc lint --fix / --unsafe-fixes / --diff` through a real subprocess, and the fixes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "lint"


def run(cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "policyc", *args], cwd=cwd, env=env,
                          input=stdin, capture_output=True, text=True, timeout=120)


def test_fix_removes_a_dead_rule(tmp_path: Path) -> None:
    shutil.copy(GOLDEN / "POL203" / "fire.pol", tmp_path / "p.pol")
    before = (tmp_path / "p.pol").read_text()
    r = run(tmp_path, "lint", "p.pol", "--diff")
    assert r.returncode == 1, r.stderr
    assert '-  rule teen_support: redirect("crisis_resources")' in r.stdout
    assert "1 fix available" in r.stderr
    assert (tmp_path / "p.pol").read_text() == before  # --diff writes nothing
    r = run(tmp_path, "lint", "p.pol", "--fix")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "fixed 1 finding in 1 file" in r.stdout and "no findings" in r.stdout
    after = (tmp_path / "p.pol").read_text()
    assert after == before.replace(
        '  rule teen_support: redirect("crisis_resources") when self_harm.intent and '
        "audience == teen\n", "")


FLOORED = """policy t.p version "1" {
  owner "o"
  categories { c }
  resolve least-restrictive
  rule p1: warn("q")
  locked rule p0: warn("p")
  rule r0: allow
}
"""


def test_a_dead_rule_that_wins_under_a_floor_is_no_safe_fix(tmp_path: Path) -> None:
    """`r0` never decides (the floor `p0` decides over it) but it wins the strategy:
    without it `p1` wins and decides warn("q") instead of warn("p"). Only `p1`, which never
    wins, is removed by the safe fix, and the fixed policy decides as before."""
    (tmp_path / "p.pol").write_text(FLOORED)
    r = run(tmp_path, "lint", "p.pol")
    assert "rule `r0` never decides: where it wins, the locked floor `p0` decides" in r.stdout
    assert "check with `policyc diff` before removing it" in r.stdout
    r = run(tmp_path, "lint", "p.pol", "--fix")
    after = (tmp_path / "p.pol").read_text()
    assert after == FLOORED.replace('  rule p1: warn("q")\n', ""), r.stdout + r.stderr
    (tmp_path / "old.pol").write_text(FLOORED)
    r = run(tmp_path, "diff", "old.pol", "p.pol", "--fail-on", "any")
    assert r.returncode == 0, r.stdout + r.stderr


def test_fix_from_stdin_prints_the_fixed_source() -> None:
    text = (GOLDEN / "POL203" / "fire.pol").read_text()
    r = run(ROOT, "lint", "-", "--fix", stdin=text)
    assert r.returncode == 0, r.stderr
    assert "rule teen_support" not in r.stdout and r.stdout.startswith("# POL203")


def test_unsafe_fix_only_when_asked(tmp_path: Path) -> None:
    for name in ("fire.pol", "parent.pol"):
        shutil.copy(GOLDEN / "POL305" / name, tmp_path / name)
    r = run(tmp_path, "lint", "fire.pol", "--diff")
    assert r.returncode == 0 and r.stdout == "" and "0 fixes available" in r.stderr
    r = run(tmp_path, "lint", "fire.pol", "--fix", "--unsafe-fixes")
    text = (tmp_path / "fire.pol").read_text()
    assert "override minor_support: redirect(\"child_line\")" in text, r.stdout + r.stderr
    assert "POL305" not in r.stdout
    assert (tmp_path / "parent.pol").read_text() == (GOLDEN / "POL305" / "parent.pol").read_text()


def test_dead_override_becomes_drop() -> None:
    from policyc.diagnostics import Diagnostic, Severity
    from policyc.lint.fixes import apply_edits, fix_for
    from policyc.syntax.parse import parse_text

    text = 'policy a version "1" {\n  extends b\n  override r: allow when x\n}\n'
    module, _ = parse_text(text, "a.pol")
    assert module is not None
    rule = module.policy.items[1]
    d = Diagnostic(code="POL203", severity=Severity.warning, message="rule `r` never decides",
                   span=rule.span)
    fix = fix_for(d, module, text)
    assert fix is not None and fix.safe
    assert apply_edits(text, fix.edits)[0] == 'policy a version "1" {\n  extends b\n  drop r\n}\n'
