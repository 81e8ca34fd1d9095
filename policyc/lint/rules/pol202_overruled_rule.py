"""POL202 overruled-rule: part of a rule's region is decided by another rule.

Two rules on different categories always overlap (an event can carry both), so
only rules that read a common category are compared: where they overlap,
the strategy lets the other rule decide. One finding per overruled rule, naming
the rules that win over it, with one witness.
"""

from __future__ import annotations

from collections.abc import Iterator

from policyc.diagnostics import Diagnostic, diagnostic
from policyc.lint.context import LintContext
from policyc.lint.registry import rule
from policyc.lint.rules._common import names, related


@rule("POL202")
def check(ctx: LintContext) -> Iterator[Diagnostic]:
    dm = ctx.decision_map
    if not dm.key_ordered:
        return
    rules = ctx.policy.rules
    vars_of = ctx.categories_read
    by_var: dict[str, list[int]] = {}
    for i, vs in enumerate(vars_of):
        for v in vs:
            by_var.setdefault(v, []).append(i)
    for ri, r in ctx.own_rules():
        if ctx.deciding_region[ri] is None:
            continue  # dead: POL203 says it better
        position = dm.position[ri]
        candidates = sorted({h for v in vars_of[ri] for h in by_var[v]
                             if dm.position[h] < position and rules[h].decision != r.decision},
                            key=dm.position.__getitem__)
        winners = []
        first_witness = None
        for h in candidates:
            found = ctx.overlap_won_by(ri, h)
            if found is not None:
                winners.append(rules[h])
                first_witness = first_witness or found
        if winners and first_witness is not None:
            yield diagnostic("POL202",
                       f"rule `{r.id}` ({r.decision}) is overruled by {names(winners)} where "
                       f"their guards overlap",
                       span=r.span,
                       related=[related(w, f"`{w.id}` decides {w.decision} there")
                                for w in winners[:4]],
                       help=f"this is what `resolve {ctx.policy.strategy}` does; narrow a guard "
                            f"if `{r.id}` should win there",
                       witness=ctx.witness(first_witness))
