"""POL306 locked-allow: a locked `allow` is no floor.

A locked rule is a floor: where it matches, the decision is at least as restrictive as
its action (LANGUAGE.md §5). Nothing is less restrictive than `allow`, so a locked
`allow` never changes a decision, in this policy or in any child; whoever wrote it
probably meant to protect something it does not protect. (A locked rule covered by
stricter rules is fine, see POL203: it still guards against future edits.)
"""

from __future__ import annotations

from collections.abc import Iterator

from policyc.diagnostics import Diagnostic, diagnostic
from policyc.lint.context import LintContext
from policyc.lint.registry import rule


@rule("POL306")
def check(ctx: LintContext) -> Iterator[Diagnostic]:
    dm = ctx.decision_map
    for ri, r in ctx.own_rules():
        if not r.locked or r.decision.action != "allow" or not dm.boxes[ri]:
            continue
        yield diagnostic("POL306",
                   f"locked rule `{r.id}` decides allow: a floor at allow never changes a "
                   f"decision, here or in any child",
                   span=r.span,
                   help="remove `locked`, or lock the action the region must never fall "
                        "below (e.g. `warn(...)`); a child cannot be kept from allowing",
                   witness=ctx.witness(dm.boxes[ri][0]))
