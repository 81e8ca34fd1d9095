"""POL403 missing-owner: nobody is named as responsible for the policy."""

from __future__ import annotations

from collections.abc import Iterator

from policyc.diagnostics import Diagnostic, Severity
from policyc.lint.context import LintContext
from policyc.lint.registry import make, rule


@rule("POL403", "missing-owner", Severity.warning, "the policy declares no `owner`")
def check(ctx: LintContext) -> Iterator[Diagnostic]:
    if ctx.policy.owner is None:
        yield make("POL403", f"policy `{ctx.policy.name}` has no owner", span=ctx.policy.span,
                   help='add `owner "team@example.com"` so reviewers know whom to ask')
