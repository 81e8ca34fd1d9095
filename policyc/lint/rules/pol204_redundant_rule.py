"""POL204 redundant-rule: removing the rule changes no decision anywhere.

It decides somewhere, but wherever it does, the rules below it (or the default)
would decide exactly the same. Proven by an exact comparison of the decision map
with and without the rule.
"""

from __future__ import annotations

from collections.abc import Iterator

from policyc.diagnostics import Diagnostic, Severity
from policyc.lint.context import LintContext
from policyc.lint.registry import make, rule
from policyc.semantics.compare import first_difference


@rule("POL204", "redundant-rule", Severity.warning,
      "removing a rule would not change any decision")
def check(ctx: LintContext) -> Iterator[Diagnostic]:
    dm = ctx.decision_map
    for ri, r in ctx.own_rules():
        if r.locked or ctx.deciding_region[ri] is None:
            continue
        without = dm.rule_entries[ri]
        if any(first_difference(dm, dm, box, 0, without) is not None for box in dm.boxes[ri]):
            continue
        region = ctx.deciding_region[ri]
        assert region is not None
        yield make("POL204", f"rule `{r.id}` is redundant: without it every decision stays "
                             f"the same", span=r.span,
                   help="remove it, or change its decision if it was meant to differ",
                   witness=ctx.witness(region))
