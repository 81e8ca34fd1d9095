"""POL204 redundant-rule: removing the rule changes no decision anywhere.

It decides somewhere, but wherever it does, the rules below it (or the default)
would decide exactly the same. Exact: for the key-ordered strategies every way the
decision could fall back without the rule (the default, each lower-ranked rule,
each locked floor over a lower winner) is searched for a witness where it differs;
other strategies compare the decision map with and without the rule. Without locked
rules, the key-ordered search is one split-and-prune pass over the rule's region that
stops at the first decision other than the rule's (`compare.decision_pairs`).
"""

from __future__ import annotations

from collections.abc import Iterator

from policyc.diagnostics import Diagnostic, diagnostic
from policyc.lint.context import LintContext
from policyc.lint.registry import rule
from policyc.runtime.bits import bits_of
from policyc.semantics.regions.boxes import Box, box_and
from policyc.semantics.regions.compare import decision_pairs, first_difference
from policyc.semantics.regions.decision_map import DecisionMap
from policyc.semantics.regions.search import search


@rule("POL204")
def check(ctx: LintContext) -> Iterator[Diagnostic]:
    dm = ctx.decision_map
    for ri, r in ctx.own_rules():
        if r.locked or ctx.deciding_region[ri] is None:
            continue
        if dm.key_ordered:
            if _fallback_differs(dm, ri, ctx.deciding_region[ri]):
                continue
        elif any(first_difference(dm, dm, box, 0, dm.rule_entries[ri]) is not None
                 for box in dm.boxes[ri]):
            continue
        region = ctx.deciding_region[ri]
        assert region is not None
        yield diagnostic("POL204", f"rule `{r.id}` is redundant: without it every decision stays "
                             f"the same", span=r.span,
                   help="remove it, or change its decision if it was meant to differ",
                   witness=ctx.witness(region))


def _fallback_differs(dm: DecisionMap, ri: int, known: Box | None = None) -> bool:
    """Whether somewhere rule `ri` decides and the decision without it differs."""
    rule = dm.rules[ri]
    decides = dm.entries_above(ri) | dm.floor_overriders(ri)
    own = dm.rule_entries[ri]
    default = dm.policy.default
    if known is not None:  # fast path: a cell where the rule is known to decide
        point = dm.cell_point(known)
        matched = [j for j in dm.matched_rules(dm.matched_entries(point)) if j != ri]
        if dm.resolve(matched).key() != (rule.decision.action, rule.decision.argument):
            return True
    if not dm.locked_entries:  # where the rule decides, search the fallback's decisions
        return any(next(decision_pairs(dm, dm, box, decides, own | decides), None)
                   is not None for box in dm.boxes[ri])
    locked = [li for li, lock in enumerate(dm.rules) if lock.locked]
    better_floor = {li: _better_floors(dm, li, locked) for li in locked}
    for box in dm.boxes[ri]:
        # nothing else matches: the default (or a gap) decides without the rule
        if default != rule.decision and search(dm, box, decides | (dm.all_entries & ~own)):
            return True
        lower = dm.compat(box) & ~own & ~decides & ~dm.entries_above(ri)
        seen: set[int] = set()
        for e in bits_of(lower):
            wi = dm.entry_rule[e]
            if wi in seen:
                continue
            seen.add(wi)
            w = dm.rules[wi]
            between = dm.entries_between(ri, wi)
            inter = [x for bw in dm.boxes[wi] if (x := box_and(box, bw)) is not None]
            # `w` is the winner without the rule and no floor lifts it
            if w.decision != rule.decision:
                forbid = decides | between | dm.locked_above(w.decision.restrictiveness)
                if any(search(dm, x, forbid) is not None for x in inter):
                    return True
            # `w` wins but a locked floor above it decides
            for li in locked:
                lock = dm.rules[li]
                if (li == ri or lock.decision == rule.decision
                        or lock.decision.restrictiveness <= w.decision.restrictiveness):
                    continue
                better = better_floor[li]
                for x in inter:
                    for bl in dm.boxes[li]:
                        y = box_and(x, bl)
                        if y is not None and search(dm, y, decides | between | better):
                            return True
    return False


def _better_floors(dm: DecisionMap, li: int, locked: list[int]) -> int:
    """Entries of locked rules that win the floor over locked rule `li`."""
    lock = dm.rules[li]
    out = 0
    for lj in locked:
        other = dm.rules[lj]
        if (other.decision.restrictiveness, -other.order) > (lock.decision.restrictiveness,
                                                              -lock.order):
            out |= dm.rule_entries[lj]
    return out
