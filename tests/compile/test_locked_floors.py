"""Locked floors and `narrowing` are honoured by every bundle compile produces (LANGUAGE.md §5).

Two lines of defence, each tested on its own:

* `policyc compile` (and every command that compiles: `check`, `explain`, `test`) refuses
  a child with an error-level hierarchy finding (POL301, POL302, POL304) with exit 2 and
  the findings printed;
* the decisions honour floors by construction: an inherited locked rule keeps the region
  it has in each parent it came through, so a child can tighten a floor but never loosen
  it, even when the refusal is bypassed.

The property tests reuse the random hierarchies and the reference interpreter of
`tests/semantics/test_decision_map_hierarchy_property.py`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from semantics.test_decision_map_hierarchy_property import (
    RESTR,
    Policy,
    Reference,
    grid,
    hierarchies,
    load,
    policy_text,
)

from policyc.compile import pipeline
from policyc.compile.pipeline import CompileState, compile_program, run_passes
from policyc.lint.gate import COMPILE_GATE
from policyc.runtime import Bundle
from policyc.semantics.program import load_policy_text, load_program
from policyc.semantics.regions.decision_map import DecisionMap

REPO = Path(__file__).resolve().parents[2]

RAISED = """policy my.child version "1" {
  owner "o"
  extends std.baseline
  threshold violence.threat 0.9
}
"""
LOWERED = RAISED.replace("0.9", "0.8")


def policyc(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "policyc", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=120,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})


# ---- the first line: compile refuses -------------------------------------------------------


def test_compile_refuses_a_raised_locked_threshold(tmp_path: Path) -> None:
    (tmp_path / "child.pol").write_text(RAISED)
    result = policyc("compile", "child.pol", "-o", "child.bundle", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "error[POL304]" in result.stderr and "credible_threat" in result.stderr
    assert "was not compiled" in result.stderr
    assert not (tmp_path / "child.bundle").exists()
    assert "Traceback" not in result.stderr


def test_check_refuses_a_std_baseline_child_that_loosens_a_floor(tmp_path: Path) -> None:
    (tmp_path / "child.pol").write_text(RAISED)
    result = policyc("check", "child.pol", "--score", "violence.threat=0.87", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "error[POL304]" in result.stderr
    assert "allow" not in result.stdout


def test_check_on_a_std_baseline_child_that_tightens_a_floor(tmp_path: Path) -> None:
    (tmp_path / "child.pol").write_text(LOWERED)
    for score in ("0.87", "0.82"):
        result = policyc("check", "child.pol", "--score", f"violence.threat={score}",
                         cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith('escalate("threat_review")'), result.stdout


def test_compile_refuses_a_broken_narrowing(tmp_path: Path) -> None:
    (tmp_path / "parent.pol").write_text(
        'policy t.parent version "1" {\n  owner "o"\n  categories { c }\n  default allow\n'
        "  rule p: refuse when c\n}\n")
    (tmp_path / "child.pol").write_text(
        'policy t.child version "1" {\n  owner "o"\n  extends t.parent narrowing\n'
        "  resolve priority\n  rule r: allow when c priority 5\n}\n")
    result = policyc("compile", "child.pol", "-o", "child.bundle", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "error[POL302]" in result.stderr
    assert not (tmp_path / "child.bundle").exists()


def test_compile_refuses_a_narrowing_child_that_leaves_a_gap(tmp_path: Path) -> None:
    """Found by hypothesis: dropping the parent's only rule leaves the child with no
    decision there (`on_error` decides, refuse < escalate); that loosens the parent, so
    POL302 reports it and compile refuses, not only POL207's coverage gap."""
    (tmp_path / "parent.pol").write_text(
        'policy t.parent version "1" {\n  owner "o"\n  categories { c }\n'
        "  rule p0: escalate\n}\n")
    (tmp_path / "child.pol").write_text(
        'policy t.child version "1" {\n  owner "o"\n  extends t.parent narrowing\n'
        "  drop p0\n}\n")
    result = policyc("compile", "child.pol", "-o", "child.bundle", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "error[POL302]" in result.stderr
    assert "escalate → no decision (`on_error` decides) in every event" in result.stderr
    assert not (tmp_path / "child.bundle").exists()


def test_compile_summarizes_the_lint_errors_it_does_not_block_on(tmp_path: Path) -> None:
    (tmp_path / "p.pol").write_text(
        'policy t.p version "1" {\n  owner "o"\n  categories { a, b }\n  resolve unique\n'
        "  default allow\n  rule x: refuse when a\n  rule y: warn when b\n}\n")
    result = policyc("compile", "p.pol", "-o", "p.bundle", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    last = result.stdout.splitlines()[-1]
    assert last.startswith("lint: 1 error (POL201) does not block the bundle"), last
    assert "`--strict` refuses it" in last
    strict = policyc("compile", "p.pol", "-o", "q.bundle", "--strict", cwd=tmp_path)
    assert strict.returncode == 1 and "error[POL201]" in strict.stderr
    (tmp_path / "p.pol").write_text(
        'policy t.p version "1" {\n  owner "o"\n  categories { a }\n  default allow\n'
        "  rule x: refuse when a\n}\n")
    clean = policyc("compile", "p.pol", "-o", "p.bundle", cwd=tmp_path)
    assert clean.stdout.splitlines()[-1] == "lint: no errors"


# ---- the second line: floors by construction -----------------------------------------------


def _bypass(program: Any) -> CompileState:
    """Compile without the hierarchy refusal: what the bundle would decide anyway."""
    passes = tuple(p for p in pipeline.PASSES if p is not pipeline.check_hierarchy)
    state = CompileState(program=program)
    for step in passes:
        step(state)
        if state.stop:
            break
    return state


def test_a_raised_threshold_does_not_loosen_the_floor_even_when_compiled() -> None:
    program = load_policy_text(RAISED, "child.pol")
    child = program.policies["my.child"]
    assert DecisionMap(child).decide_event({"violence.threat": 0.87}).rule == "credible_threat"
    state = _bypass(program)
    assert state.bundle is not None
    got = Bundle.from_bytes(state.bundle).check(scores={"violence.threat": 0.87})
    assert (got.action, got.rule) == ("escalate", "credible_threat")
    assert run_passes(CompileState(program=program, gate=COMPILE_GATE)).bundle is None  # refused


def _floors_broken(h: dict[str, Policy], cells: list[dict[str, Any]], decided: list[int]
                   ) -> list[tuple[str, str, dict[str, Any]]]:
    """(ancestor, locked rule, event) wherever the decision is less restrictive than a
    matching locked rule of an ancestor, evaluated with that ancestor's own thresholds."""
    out = []
    for name in h:
        if name == "t.child":
            continue
        alone = Reference(h, name, cells)
        for i, rule in enumerate(alone.rules):
            if not rule.locked:
                continue
            for k, event in enumerate(cells):
                if alone.truth[i][k] and decided[k] < RESTR[rule.decision[0]]:
                    out.append((name, rule.id, event))
                    break
    return out


def _restrictiveness(bundle: bytes, cells: list[dict[str, Any]]) -> list[int]:
    """The bundle's decision on every cell, as restrictiveness (a gap: -1)."""
    b = Bundle.from_bytes(bundle)
    out = []
    for e in cells:
        got = b.check(context={"aud": e["aud"], "pro": e["pro"], "age": e["age"]},
                      scores={"c.a": e["c.a"], "c.b": e["c.b"]})
        out.append(RESTR.get(str(got.action), -1))
    return out


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hierarchies())
def test_every_bundle_honours_floors_and_narrowing(h: dict[str, Policy]) -> None:
    """Compile refuses nothing but hierarchy errors here; every bundle it writes
    decides at least as restrictively as each ancestor's matching locked rules (with the
    ancestor's thresholds) and as each `narrowing` parent alone; and a bundle compiled
    with the refusal bypassed still honours every floor."""
    program, child = load(h)
    texts = {n: policy_text(p) for n, p in h.items()}
    cells = grid(DecisionMap(child))
    state = compile_program(program, gate=COMPILE_GATE)
    refused = {d.code for d in state.diagnostics if d.fatal}
    assert refused <= set(pipeline.HIERARCHY_ERRORS), (texts, refused)
    if state.bundle is not None:
        decided = _restrictiveness(state.bundle, cells)
        assert not _floors_broken(h, cells, decided), texts
        for name, narrowing in h["t.child"].parents:
            if not narrowing:
                continue
            alone = Reference(h, name, cells)
            for k, event in enumerate(cells):
                theirs = alone.decide(k)[0]
                if theirs is not None:
                    assert decided[k] >= RESTR[theirs[0]], (texts, name, event)
    bypassed = _bypass(program)
    assert bypassed.bundle is not None, texts
    assert not _floors_broken(h, cells, _restrictiveness(bypassed.bundle, cells)), texts


# ---- POL303 and `policyc diff` agree (one region algebra) ------------------------------------

PARENT_303 = """policy t.parent version "1" {
  owner "o"
  context aud: enum { x, y, z } = y
  categories { c }
  default allow
  rule p: refuse when c
}
"""
CHILD_303 = """policy t.child version "1" {
  owner "o"
  extends t.parent
  resolve priority
  rule a: allow when c and aud == x priority 5
  rule b: allow when c and aud == y priority 5
}
"""


def test_pol303_names_the_rule_deciding_at_its_witness_and_counts_like_diff(
        tmp_path: Path) -> None:
    import json

    (tmp_path / "parent.pol").write_text(PARENT_303)
    (tmp_path / "child.pol").write_text(CHILD_303)
    lint = policyc("lint", "child.pol", "--format", "json", cwd=tmp_path)
    found = [d for d in json.loads(lint.stdout)["diagnostics"] if d["code"] == "POL303"]
    assert len(found) == 1, lint.stdout
    d = found[0]
    assert d["witness"]["aud"] == "y"  # the attribute's default: rule `b` decides there
    assert "in 1 region," in d["message"] and "(`b` decides where `p` decided)" in d["message"]
    assert "policyc diff parent.pol child.pol" in d["help"]
    diff = policyc("diff", "parent.pol", "child.pol", "--format", "json", cwd=tmp_path)
    report = json.loads(diff.stdout)
    assert report["summary"]["loosened"] == 1
    change = report["changes"][0]
    assert change["witness"] == d["witness"]
    assert (change["old"]["rule"], change["new"]["rule"]) == ("p", "b")
    explain = policyc("explain", "child.pol", "--score", "c=0.5", "--context", "aud=y",
                      cwd=tmp_path)
    assert "by rule `b`" in explain.stdout, explain.stdout


def test_diff_and_explain_accept_std_names(tmp_path: Path) -> None:
    (tmp_path / "child.pol").write_text(LOWERED)
    diff = policyc("diff", "std.baseline", "child.pol", cwd=tmp_path)
    assert diff.returncode == 0, diff.stderr
    assert diff.stdout.startswith("std.baseline 1.0.0 → my.child 1:"), diff.stdout
    assert "tightened" in diff.stdout
    explain = policyc("explain", "std.baseline", "--score", "violence.threat=0.9",
                      cwd=tmp_path)
    assert explain.returncode == 0, explain.stderr
    assert 'decided: escalate("threat_review") by rule `credible_threat`' in explain.stdout
    typo = policyc("diff", "std.basline", "child.pol", cwd=tmp_path)
    assert typo.returncode == 2
    assert "did you mean `std.baseline`?" in typo.stderr and "Traceback" not in typo.stderr


BRIDGED = """policy my.child version "1" {
  owner "o"
  extends t.base
  derive c0.l0 = max(c1)
  threshold c0 1.0
}
"""

BRIDGED_BASE = """policy t.base version "1" {
  owner "o"
  categories { c0 { l0 }, c1 }
  default allow
  locked rule no_c0: escalate when c0
}
"""


def test_a_childs_bridge_meets_the_floor_at_the_parents_threshold(tmp_path: Path) -> None:
    """Found by the oracle (tests/oracle): the floor's parent region read the raw score of
    `c0.l0`, the child's region the bridged one at the raised threshold 1.0, so a `c1` of
    0.5 (c0.l0's score in the child) met neither. §5's "lower of the two thresholds"
    applies to the child's score: the floor holds at 0.5."""
    (tmp_path / "base.pol").write_text(BRIDGED_BASE)
    (tmp_path / "child.pol").write_text(BRIDGED)
    program = load_program([tmp_path / "child.pol"], [tmp_path])
    state = _bypass(program)
    assert state.bundle is not None
    got = Bundle.from_bytes(state.bundle).check(scores={"c1": 0.5})
    assert (got.action, got.rule) == ("escalate", "no_c0")
