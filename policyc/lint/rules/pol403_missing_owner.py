"""POL403 missing-owner: nobody is named as responsible for the policy."""

from __future__ import annotations

from collections.abc import Iterator

from policyc.diagnostics import Diagnostic, diagnostic
from policyc.lint.context import LintContext
from policyc.lint.registry import rule


@rule("POL403")
def check(ctx: LintContext) -> Iterator[Diagnostic]:
    if ctx.policy.owner is None:
        yield diagnostic("POL403", f"policy `{ctx.policy.name}` has no owner", span=ctx.policy.span,
                   help='add `owner "team@example.com"` so reviewers know whom to ask')
