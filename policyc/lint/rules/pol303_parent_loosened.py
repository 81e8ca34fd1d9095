"""POL303 parent-loosened: a child decides less restrictively than a parent somewhere.

Allowed without `narrowing`, but worth a reviewer's eye: one finding per parent
with the number of loosened regions and one witness.
"""

from __future__ import annotations

from collections.abc import Iterator

from policyc.diagnostics import Diagnostic, Severity
from policyc.lint.context import LintContext
from policyc.lint.registry import make, rule
from policyc.lint.rules._hierarchy import loosened_regions
from policyc.semantics.regions import witness


@rule("POL303", "parent-loosened", Severity.warning,
      "a child loosens a parent's decision somewhere (without `narrowing`)")
def check(ctx: LintContext) -> Iterator[Diagnostic]:
    for ref in ctx.policy.parents:
        if ref.narrowing or ref.name not in ctx.policy.ancestors:
            continue
        regions = loosened_regions(ctx.policy, ctx.policy.ancestors[ref.name])
        if not regions:
            continue
        diff, space = regions[0]
        yield make("POL303",
                   f"`{ctx.policy.name}` loosens `{ref.name}` in {len(regions)} "
                   f"region{'s' if len(regions) != 1 else ''}, e.g. {diff.old.decision} → "
                   f"{diff.new.decision} (`{diff.new.rule or 'default'}` instead of "
                   f"`{diff.old.rule or 'default'}`)",
                   span=ref.span,
                   help="run `policyc diff` on the parent and this policy for every region; "
                        "declare `extends ... narrowing` to forbid loosening",
                   witness=witness(diff.box, space))
