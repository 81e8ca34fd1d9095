"""Causes named by diff rows (issue 17): cases the random property found, pinned."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from policyc.diff.bundles import flat_from_bundle
from policyc.diff.causes import program_edits
from policyc.diff.semantic import semantic_diff
from policyc.runtime.bundle_reader import read_bundle_file
from policyc.semantics.program import load_policy_text, load_program

HEADER = 'policy t.p version "1" {\n  owner "o"\n  categories { c }\n'


def _flat(body: str):  # type: ignore[no-untyped-def]
    program = load_policy_text(HEADER + body + "}\n", "t.pol")
    assert not program.fatal, [d.message for d in program.diagnostics]
    return program.policies["t.p"]


def test_a_strategy_edit_is_named_where_it_picks_among_matching_rules() -> None:
    """`p1` changed its argument and the strategy changed: the new strategy hands the
    event to the locked `g0`, so the strategy is what changed the decision (the row used to
    name only `p1`'s edit, whose revert alone leaves the row as it is)."""
    old = _flat("  resolve most-restrictive\n  locked rule g0: allow\n  rule p1: warn\n")
    new = _flat('  resolve least-restrictive\n  locked rule g0: allow\n  rule p1: warn("p")\n')
    report = semantic_diff(old, new)
    assert len(report.changes) == 1
    texts = [c.text for c in report.changes[0].causes]
    assert "strategy most-restrictive → least-restrictive" in texts, texts


def test_removing_a_winner_a_floor_overrides_is_a_change_with_its_cause() -> None:
    """Found by the partition property test: `r0` wins the strategy everywhere but the
    locked `p0` decides over it. Removing `r0` hands the win to `p1`, as restrictive as
    the floor, so `p1` decides: warn("p") → warn("q") everywhere. The diff used to prune
    the search where a floor overrides the removed rule and report no change."""
    base = ('  resolve least-restrictive\n  rule p1: warn("q")\n'
            '  locked rule p0: warn("p")\n')
    report = semantic_diff(_flat(base + "  rule r0: allow\n"), _flat(base))
    assert [(c.kind, str(c.old.decision), str(c.new.decision), c.region)
            for c in report.changes] == [("changed", 'warn("p")', 'warn("q")', {})]
    assert [c.text for c in report.changes[0].causes] == ["rule r0 removed"]


def test_a_threshold_edit_that_changes_which_rule_is_more_specific_is_named() -> None:
    """Found by the cause-revert property test: under `most-specific`, `threshold c 0.3`
    puts `r1`'s region (c.b >= 0.3 and not pro) inside `r2`'s (c.b now means >= 0.3), so
    `r1` wins where both used to tie, also at c.b >= 0.5, where the witness is not between
    the two thresholds. The row had no cause at all."""
    body = ("  context pro: bool\n  resolve most-specific\n"
            "  rule r1: allow when not pro and not (score(c) < 0.3)\n"
            '  rule r2: warn("p") when c\n')
    report = semantic_diff(_flat(body), _flat("  threshold c 0.3\n" + body))
    assert report.changes
    for row in report.changes:
        assert "threshold c 0.5 → 0.3" in [c.text for c in row.causes], (row.region, [
            c.text for c in row.causes])


def test_bundles_name_threshold_causes_and_compare_guards_as_regions(tmp_path: Path) -> None:
    """A bundle records the thresholds in force and each rule's region: a diff of two
    bundles names the threshold edit, and a source against a bundle sees no guard edit
    where only the form differs (`audience == teen` against the region `in {teen}`)."""
    root = Path(__file__).resolve().parents[2] / "examples/diff"
    bundles = []
    for name in ("v1", "v2"):
        out = tmp_path / f"{name}.pbundle"
        r = subprocess.run([sys.executable, "-m", "policyc", "compile", str(root / f"{name}.pol"),
                            "-o", str(out)], capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PYTHONPATH": str(root.parents[1])})
        assert r.returncode == 0, r.stderr
        bundles.append(flat_from_bundle(read_bundle_file(str(out))))
    texts = [e.text for e in program_edits(*bundles)]
    assert "threshold self_harm.instructions 0.3 → 0.5" in texts, texts
    program = load_program([root / "v1.pol"])
    source = program.policies[program.roots[0].policy.name]
    texts = [e.text for e in program_edits(source, bundles[1])]
    assert "threshold self_harm.instructions 0.3 → 0.5" in texts, texts
    assert not [t for t in texts if t.startswith("rule teen_intent: guard")], texts
    assert not [t for t in texts if t.startswith("threshold harassment")], texts
