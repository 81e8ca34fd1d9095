"""POL303 parent-loosened: a child decides less restrictively than a parent somewhere.

Allowed without `narrowing`, but worth a reviewer's eye: one finding per parent with
the number of loosened regions, as `policyc diff PARENT CHILD` counts them, and one
witness with the rules that decide there in the parent and in the child.
"""

from __future__ import annotations

from collections.abc import Iterator

from policyc.diagnostics import Diagnostic, diagnostic
from policyc.lint.context import LintContext
from policyc.lint.registry import rule
from policyc.lint.rules._hierarchy import diff_command, loosened_regions
from policyc.semantics.regions.boxes import witness


@rule("POL303")
def check(ctx: LintContext) -> Iterator[Diagnostic]:
    for ref in ctx.policy.parents:
        if ref.narrowing or ref.name not in ctx.policy.ancestors:
            continue
        parent = ctx.policy.ancestors[ref.name]
        regions = loosened_regions(ctx.policy, parent)
        if not regions:
            continue
        diff, space = regions[0]
        old, new = diff.old, diff.new
        n = len(regions)
        yield diagnostic("POL303",
                   f"`{ctx.policy.name}` loosens `{ref.name}` in {n} "
                   f"region{'s' if n != 1 else ''}, e.g. {old.decision or 'no decision'} → "
                   f"{new.decision or 'no decision'} (`{new.rule or 'default'}` decides where "
                   f"`{old.rule or 'default'}` decided)",
                   span=ref.span,
                   help=f"run `{diff_command(parent, ctx.policy)}` to see every region; "
                        "declare `extends ... narrowing` to forbid loosening",
                   witness=witness(diff.witness_box(), space))
