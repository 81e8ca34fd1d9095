"""POL404 missing-version: decisions and audit records cannot name the version."""

from __future__ import annotations

from collections.abc import Iterator

from policyc.diagnostics import Diagnostic, diagnostic
from policyc.lint.context import LintContext
from policyc.lint.registry import rule


@rule("POL404")
def check(ctx: LintContext) -> Iterator[Diagnostic]:
    if not ctx.policy.version:
        yield diagnostic("POL404", f"policy `{ctx.policy.name}` has no version", span=ctx.policy.span,
                   help=f'write `policy {ctx.policy.name} version "1.0.0" {{`')
