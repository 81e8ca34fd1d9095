"""POL401 fail-open: `on_error allow` lets events through when a classifier fails."""

from __future__ import annotations

from collections.abc import Iterator

from policyc.diagnostics import Diagnostic, diagnostic
from policyc.lint.context import LintContext
from policyc.lint.registry import rule


@rule("POL401")
def check(ctx: LintContext) -> Iterator[Diagnostic]:
    p = ctx.policy
    declared = p.on_error_decl
    if p.on_error.action == "allow" and declared is not None and not declared.inherited:
        yield diagnostic("POL401", f"policy `{p.name}` fails open: `on_error allow`",
                         span=declared.span,
                         help="fail closed (`on_error refuse`, the default) unless an outage of "
                              "the classifier is safer than a refusal")
    for c in p.classifiers:
        if c.origin == p.name and c.on_error is not None and c.on_error.action == "allow":
            yield diagnostic("POL401", f"classifier `{c.name}` fails open: `on_error allow`",
                       span=c.span, help="remove `on_error allow` to fail closed")
