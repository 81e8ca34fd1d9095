"""POL203 dead-rule: a rule that never decides anything.

Every event it matches is decided by rules the strategy prefers (or by a locked
floor). Locked rules are exempt: a floor covered by stricter rules still guards
the region against future edits. A rule the strategy picks somewhere, only for a
floor to decide over it, is reported too, but it is not inert: without it another
rule wins there and may decide instead of the floor, so removing it is no safe fix.
"""

from __future__ import annotations

from collections.abc import Iterator

from policyc.diagnostics import Diagnostic, diagnostic
from policyc.lint.context import LintContext
from policyc.lint.registry import rule
from policyc.lint.rules._common import names, related
from policyc.semantics.regions.search import search

#: the help of a rule that wins the strategy where a floor decides (`lint/fixes.py`
#: does not offer its removal as a safe fix)
FLOORED_HELP = ("it still wins the strategy there, so without it another rule may "
                "decide instead of the floor: check with `policyc diff` before removing it")


@rule("POL203")
def check(ctx: LintContext) -> Iterator[Diagnostic]:
    dm = ctx.decision_map
    by_id = {r.id: r for r in ctx.policy.rules}
    for ri, r in ctx.own_rules():
        if r.locked or not dm.boxes[ri] or ctx.deciding_region[ri] is not None:
            continue
        box = dm.boxes[ri][0]
        won = None
        if dm.key_ordered:  # where it wins the strategy, only a floor decides over it
            above = dm.entries_above(ri)
            won = next((w for b in dm.boxes[ri] if (w := search(dm, b, above)) is not None),
                       None)
        if won is not None:
            outcome = dm.decide_point(dm.cell_point(won))
            floor = by_id.get(outcome.floor or "")
            yield diagnostic("POL203", f"rule `{r.id}` never decides: where it wins, the "
                                       f"locked floor `{outcome.floor}` decides instead",
                             span=r.span, related=[related(floor)] if floor else [],
                             help=FLOORED_HELP, witness=ctx.witness(won))
            continue
        outcome = dm.decide_point(dm.cell_point(box))
        shown = [by_id[outcome.rule]] if outcome.rule in by_id else []
        shown += [by_id[m] for m in outcome.matched if m not in (r.id, outcome.rule)]
        yield diagnostic("POL203", f"rule `{r.id}` never decides: {names(shown)} always "
                             f"decide{'s' if len(shown) == 1 else ''} first",
                   span=r.span, related=[related(b) for b in shown[:4]],
                   help="remove the rule, or change the guards or the strategy so it can win",
                   witness=ctx.witness(box))
