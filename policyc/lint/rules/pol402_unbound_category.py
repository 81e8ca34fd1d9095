"""POL402 unbound-category: a category rules read but nothing ever scores.

No classifier label, no detector, no bridge source with one, and no test gives
it a score: such rules only fire when the caller supplies the score.
"""

from __future__ import annotations

from collections.abc import Iterator

from policyc.diagnostics import Diagnostic, diagnostic
from policyc.lint.context import LintContext
from policyc.lint.registry import rule
from policyc.semantics.formula import variables


@rule("POL402")
def check(ctx: LintContext) -> Iterator[Diagnostic]:
    p = ctx.policy
    bound = {leaf for c in p.classifiers for leaf, _ in c.labels}
    bound |= {d.category for d in p.detectors}
    bound |= {a.name for t in p.tests for a in t.given}
    for target, sources in p.derived.items():
        if any(s in bound for s in sources):
            bound.add(target)
    reported: set[str] = set()
    for _, r in ctx.own_rules():
        for v in sorted(variables(r.formula)):
            if v in p.categories and v not in bound and v not in reported:
                reported.add(v)
                yield diagnostic("POL402",
                           f"category `{v}` is used by rule `{r.id}` but nothing scores it",
                           span=r.span,
                           help="bind it (`classifier ... labels`, `detector`), or add a `test` "
                                "that gives it a score, if callers supply it")
