"""POL302 narrowing-violated: `extends P narrowing` but the child loosens P somewhere.

Each loosened region is reported with a witness (exact comparison of the child's
decision map with P's alone).
"""

from __future__ import annotations

from collections.abc import Iterator

from policyc.diagnostics import Diagnostic, diagnostic
from policyc.lint.context import LintContext
from policyc.lint.registry import rule
from policyc.lint.rules._hierarchy import loosened_regions
from policyc.semantics.regions.boxes import describe_box, witness
from policyc.semantics.regions.changes import region_text


@rule("POL302")
def check(ctx: LintContext) -> Iterator[Diagnostic]:
    for ref in ctx.policy.parents:
        if not ref.narrowing or ref.name not in ctx.policy.ancestors:
            continue
        for diff, space in loosened_regions(ctx.policy, ctx.policy.ancestors[ref.name]):
            old, new = diff.old, diff.new
            if old.decision is None or new.decision is None:
                continue  # a gap: POL207 (coverage-gap) reports it
            yield diagnostic("POL302",
                       f"`{ctx.policy.name}` loosens `{ref.name}` (declared `narrowing`): "
                       f"{old.decision} → {new.decision} in "
                       f"{region_text(describe_box(diff.box, space))}",
                       span=ref.span,
                       help=f"the child decides `{new.rule or 'default'}` where the parent "
                            f"decides `{old.rule or 'default'}`; make the child at least as "
                            f"restrictive there",
                       witness=witness(diff.witness_box(), space))


