"""POL404 missing-version: decisions and audit records cannot name the version."""

from __future__ import annotations

from collections.abc import Iterator

from policyc.diagnostics import Diagnostic, Severity
from policyc.lint.context import LintContext
from policyc.lint.registry import make, rule


@rule("POL404", "missing-version", Severity.warning, "the policy declares no version")
def check(ctx: LintContext) -> Iterator[Diagnostic]:
    if not ctx.policy.version:
        yield make("POL404", f"policy `{ctx.policy.name}` has no version", span=ctx.policy.span,
                   help=f'write `policy {ctx.policy.name} version "1.0.0" {{`')
