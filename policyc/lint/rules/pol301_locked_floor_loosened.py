"""POL301 locked-floor-loosened: a child rule tries to loosen a locked region.

Inside a locked rule's region the final decision is at least as restrictive as
the locked action (LANGUAGE.md §5), so a less restrictive child rule can never
take effect there. Reported where the strategy would pick the child rule over
everything else but the floor overrides it, for child rules that read a variable
(category or attribute) the locked rule reads (rules on unrelated variables always
co-occur; that is not an attempt to loosen the floor). Attributes count as the rule
page says: `allow when audience == child` under first-match targets a floor on
`audience == child and ...` as surely as a shared category does.
"""

from __future__ import annotations

from collections.abc import Iterator

from policyc.diagnostics import Diagnostic, diagnostic
from policyc.lint.context import LintContext
from policyc.lint.registry import rule
from policyc.lint.rules._common import related
from policyc.semantics.regions.boxes import Box, box_and
from policyc.semantics.regions.decision_map import DecisionMap
from policyc.semantics.regions.search import cells, search_both


@rule("POL301")
def check(ctx: LintContext) -> Iterator[Diagnostic]:
    dm = ctx.decision_map
    rules = ctx.policy.rules
    locked = [i for i, r in enumerate(rules) if r.locked and r.origin != ctx.policy.name]
    for ri, r in ctx.own_rules():
        if r.locked:
            continue
        above = dm.entries_above(ri) if dm.key_ordered else 0
        for li in locked:
            lock = rules[li]
            if (r.decision.restrictiveness >= lock.decision.restrictiveness
                    or not ctx.variables_read[ri] & ctx.variables_read[li]):
                continue
            inter = (search_both(dm, ri, li, above) if dm.key_ordered
                     else _picked_inside(dm, ri, li))
            if inter is None:
                continue
            yield diagnostic("POL301",
                       f"rule `{r.id}` ({r.decision}) would loosen locked rule `{lock.id}` "
                       f"({lock.decision}) of `{lock.origin}`; it cannot take effect there",
                       span=r.span, related=[related(lock, f"locked in `{lock.origin}`")],
                       help=f"exclude the locked region from the guard, e.g. `and not "
                            f"(...)`, or decide at least {lock.decision.action}",
                       witness=ctx.witness(inter))


def _picked_inside(dm: DecisionMap, ri: int, li: int) -> Box | None:
    """most-specific (no rank order): a cell of both regions where the strategy picks
    rule `ri`, so the floor of `li` decides over it (it was skipped for this strategy)."""
    rid = dm.rules[ri].id
    for a in dm.boxes[ri]:
        for b in dm.boxes[li]:
            inter = box_and(a, b)
            if inter is None:
                continue
            for cell in cells(dm, inter):
                if dm.decide_point(dm.cell_point(cell)).overridden == rid:
                    return cell
    return None
