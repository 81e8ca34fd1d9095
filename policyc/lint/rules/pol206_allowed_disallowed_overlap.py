"""POL206 allowed-disallowed-overlap: one category is both allowed and disallowed.

`allow S` and `disallow T` with a category in both is the classic over-refusal /
under-refusal trap: which one wins depends on the strategy, not on intent.
"""

from __future__ import annotations

from collections.abc import Iterator

from policyc.diagnostics import Diagnostic, diagnostic
from policyc.lint.context import LintContext
from policyc.lint.registry import rule
from policyc.lint.rules._common import related


@rule("POL206")
def check(ctx: LintContext) -> Iterator[Diagnostic]:
    rules = ctx.policy.rules
    allows = [r for r in rules if r.sugar == "allow"]
    disallows = [r for r in rules if r.sugar == "disallow"]
    dm = ctx.decision_map
    for a in allows:
        for d in disallows:
            if ctx.policy.name not in (a.origin, d.origin):
                continue
            common = sorted(set().union(*a.category_sets) & set().union(*d.category_sets))
            if not common:
                continue
            leaf = common[0]
            box = {}
            var = dm.space.index[leaf]
            box[var] = 1 << dm.space.vars[var].piece_of(1.0)
            witness = ctx.witness(box)
            outcome = dm.decide_event(witness)
            later = a if a.order > d.order else d
            other = d if later is a else a
            yield diagnostic("POL206",
                       f"{', '.join(f'`{c}`' for c in common[:4])} "
                       f"{'is' if len(common) == 1 else 'are'} both allowed (`{a.id}`) and "
                       f"disallowed (`{d.id}`); `{outcome.rule}` decides {outcome.decision}",
                       span=later.span, related=[related(other)],
                       help="remove the category from one of the sets, or write a rule with a "
                            "narrower guard that says which wins", witness=witness)
