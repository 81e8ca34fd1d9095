"""POL205 unsatisfiable-guard: a guard that no event can satisfy."""

from __future__ import annotations

from collections.abc import Iterator

from policyc.diagnostics import Diagnostic, Severity
from policyc.lint.context import LintContext
from policyc.lint.registry import make, rule


@rule("POL205", "unsatisfiable-guard", Severity.warning, "a rule's guard can never be true")
def check(ctx: LintContext) -> Iterator[Diagnostic]:
    dm = ctx.decision_map
    for ri, r in ctx.own_rules():
        if not dm.boxes[ri]:
            yield make("POL205", f"the guard of rule `{r.id}` can never be true", span=r.span,
                       help="look for contradictory conditions, e.g. `a == x and a == y` or "
                            "`score(c) > 0.8 and score(c) < 0.2`")
