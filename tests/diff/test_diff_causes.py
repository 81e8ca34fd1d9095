"""Causes named by diff rows (issue 17): cases the random property found, pinned."""

from __future__ import annotations

from policyc.diff.semantic import semantic_diff
from policyc.semantics.program import load_policy_text

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
