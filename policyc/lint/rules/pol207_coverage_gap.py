"""POL207 coverage-gap: no `default` and some events match no rule.

Such events have no defined decision (LANGUAGE.md §4); the runtime falls back to
`on_error` (fail closed), but the policy should say what it means.
"""

from __future__ import annotations

from collections.abc import Iterator

from policyc.diagnostics import Diagnostic, diagnostic
from policyc.lint.context import LintContext
from policyc.lint.registry import rule
from policyc.semantics.regions.search import search


@rule("POL207")
def check(ctx: LintContext) -> Iterator[Diagnostic]:
    if ctx.policy.default is not None:
        return
    dm = ctx.decision_map
    found = search(dm, {}, dm.all_entries)
    if found is not None:
        yield diagnostic("POL207", f"policy `{ctx.policy.name}` has no `default` and some events "
                             f"match no rule", span=ctx.policy.span,
                   help="add `default ACTION`, or a rule that covers the events shown",
                   witness=ctx.witness(found))
