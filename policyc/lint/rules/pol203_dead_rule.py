"""POL203 dead-rule: a rule that never decides anything.

Every event it matches is decided by rules the strategy prefers (or by a locked
floor). Locked rules are exempt: a floor covered by stricter rules still guards
the region against future edits.
"""

from __future__ import annotations

from collections.abc import Iterator

from policyc.diagnostics import Diagnostic, diagnostic
from policyc.lint.context import LintContext
from policyc.lint.registry import rule
from policyc.lint.rules._common import names, related


@rule("POL203")
def check(ctx: LintContext) -> Iterator[Diagnostic]:
    dm = ctx.decision_map
    by_id = {r.id: r for r in ctx.policy.rules}
    for ri, r in ctx.own_rules():
        if r.locked or not dm.boxes[ri] or ctx.deciding_region[ri] is not None:
            continue
        box = dm.boxes[ri][0]
        outcome = dm.decide_point(dm.cell_point(box))
        shown = [by_id[outcome.rule]] if outcome.rule in by_id else []
        shown += [by_id[m] for m in outcome.matched if m not in (r.id, outcome.rule)]
        yield diagnostic("POL203", f"rule `{r.id}` never decides: {names(shown)} always "
                             f"decide{'s' if len(shown) == 1 else ''} first",
                   span=r.span, related=[related(b) for b in shown[:4]],
                   help="remove the rule, or change the guards or the strategy so it can win",
                   witness=ctx.witness(box))
