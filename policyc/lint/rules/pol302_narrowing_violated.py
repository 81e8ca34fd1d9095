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
            if new.decision is None:
                # a gap in the child is loosening too (diff's reading): narrowing is a
                # guarantee compile enforces, so POL207 alone would let the bundle through
                got = "no decision (`on_error` decides)"
                fix = (f"no child rule matches where the parent decides "
                       f"`{old.rule or 'default'}`; add a rule or a `default` at least as "
                       f"restrictive as `{old.decision}`")
            else:
                got = str(new.decision)
                fix = (f"the child decides `{new.rule or 'default'}` where the parent "
                       f"decides `{old.rule or 'default'}`; make the child at least as "
                       f"restrictive there")
            yield diagnostic("POL302",
                       f"`{ctx.policy.name}` loosens `{ref.name}` (declared `narrowing`): "
                       f"{old.decision} → {got} in "
                       f"{region_text(describe_box(diff.box, space))}",
                       span=ref.span, help=fix,
                       witness=witness(diff.witness_box(), space))
