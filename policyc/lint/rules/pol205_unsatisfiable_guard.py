"""POL205 unsatisfiable-guard: a guard that no event can satisfy."""

from __future__ import annotations

from collections.abc import Iterator

from policyc.diagnostics import Diagnostic, diagnostic
from policyc.lint.context import LintContext
from policyc.lint.registry import rule


@rule("POL205")
def check(ctx: LintContext) -> Iterator[Diagnostic]:
    dm = ctx.decision_map
    for ri, r in ctx.own_rules():
        if not dm.boxes[ri]:
            yield diagnostic("POL205", f"the guard of rule `{r.id}` can never be true", span=r.span,
                       help="look for contradictory conditions, e.g. `a == x and a == y` or "
                            "`score(c) > 0.8 and score(c) < 0.2`")
