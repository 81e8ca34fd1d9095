"""POL305 unannotated-change: a child rule changes a parent rule's decision silently.

Inside a parent rule's region, a new child rule that decides differently should
say so with `override` (LANGUAGE.md §5). Only rules reading a common category are
compared (rules on unrelated categories always co-occur in some event), and only
changes that do not tighten: a stricter special case added by a child is the normal
way to specialize a parent and has no `override` to name (POL303 covers loosening
of the parent as a whole).
"""

from __future__ import annotations

from collections.abc import Iterator

from policyc.diagnostics import Diagnostic, diagnostic
from policyc.lint.context import LintContext
from policyc.lint.registry import rule
from policyc.lint.rules._common import related
from policyc.semantics.regions.search import search_both


@rule("POL305")
def check(ctx: LintContext) -> Iterator[Diagnostic]:
    dm = ctx.decision_map
    rules = ctx.policy.rules
    inherited = [i for i, r in enumerate(rules) if r.origin != ctx.policy.name]
    if not inherited or not dm.key_ordered:
        return
    for ri, r in ctx.own_rules():
        if r.override or ctx.deciding_region[ri] is None:
            continue
        forbid = dm.entries_above(ri) | dm.floor_overriders(ri)
        reads = ctx.categories_read[ri]
        for pi in inherited:
            p = rules[pi]
            # rules on unrelated categories always co-occur: that is not a change of `p`
            if (p.decision == r.decision or p.locked or not reads & ctx.categories_read[pi]
                    or r.decision.restrictiveness > p.decision.restrictiveness):
                continue
            found = search_both(dm, ri, pi, forbid)
            if found is None:
                continue
            yield diagnostic("POL305",
                       f"rule `{r.id}` changes the decision of parent rule `{p.id}` "
                       f"({p.decision} → {r.decision}) without `override`",
                       span=r.span, related=[related(p, f"`{p.id}` in `{p.origin}`")],
                       help=f"write `override {p.id}: ...` if this replaces it, or narrow the "
                            f"guard", witness=ctx.witness(found))
            break
