"""POL301 locked-floor-loosened: a child rule tries to loosen a locked region.

Inside a locked rule's region the final decision is at least as restrictive as
the locked action (LANGUAGE.md §5), so a less restrictive child rule can never
take effect there. Reported where the strategy would pick the child rule over
everything else but the floor overrides it, for child rules that read a variable
the locked rule reads (rules on unrelated categories always co-occur; that is
not an attempt to loosen the floor).
"""

from __future__ import annotations

from collections.abc import Iterator

from policyc.diagnostics import Diagnostic, diagnostic
from policyc.lint.context import LintContext
from policyc.lint.registry import rule
from policyc.lint.rules._common import related
from policyc.semantics.regions.search import search_both


@rule("POL301")
def check(ctx: LintContext) -> Iterator[Diagnostic]:
    dm = ctx.decision_map
    rules = ctx.policy.rules
    locked = [i for i, r in enumerate(rules) if r.locked and r.origin != ctx.policy.name]
    for ri, r in ctx.own_rules():
        if r.locked or not dm.key_ordered:
            continue
        above = dm.entries_above(ri)
        for li in locked:
            lock = rules[li]
            if (r.decision.restrictiveness >= lock.decision.restrictiveness
                    or not ctx.categories_read[ri] & ctx.categories_read[li]):
                continue
            inter = search_both(dm, ri, li, above)
            if inter is None:
                continue
            yield diagnostic("POL301",
                       f"rule `{r.id}` ({r.decision}) would loosen locked rule `{lock.id}` "
                       f"({lock.decision}) of `{lock.origin}`; it cannot take effect there",
                       span=r.span, related=[related(lock, f"locked in `{lock.origin}`")],
                       help=f"exclude the locked region from the guard, e.g. `and not "
                            f"(...)`, or decide at least {lock.decision.action}",
                       witness=ctx.witness(inter))
