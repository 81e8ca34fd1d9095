"""POL304 locked-threshold-raised: a child's threshold would shrink a locked rule's region.

Thresholds are late-bound: a child's `threshold` also applies to the parent's
rules. A locked rule is the exception (LANGUAGE.md §5): it keeps the region it had
in its parents, so raising a threshold it reads cannot loosen the floor, but the
child then says something that never takes effect there, which is an error.
"""

from __future__ import annotations

from collections.abc import Iterator

from policyc.diagnostics import Diagnostic, Related, Span, diagnostic
from policyc.lint.context import LintContext
from policyc.lint.registry import rule
from policyc.semantics.model import FlatPolicy
from policyc.semantics.regions.boxes import formula_boxes, region_subtract, witness


@rule("POL304")
def check(ctx: LintContext) -> Iterator[Diagnostic]:
    raised = [c for c in ctx.policy.threshold_changes if c[2] > c[1]]
    if not raised:
        return
    space = ctx.decision_map.space
    for rule_ in ctx.policy.rules:
        if rule_.in_force is None:
            continue
        kept = formula_boxes(rule_.in_force, space)
        lost = None
        for box in formula_boxes(rule_.formula, space):
            rest = [box]
            for k in kept:
                rest = region_subtract(rest, k, space)
                if not rest:
                    break
            if rest:
                lost = rest[0]
                break
        if lost is None:
            continue
        key, old, new, span = _culprit(ctx.policy, raised, set(witness(lost, space)))
        yield diagnostic("POL304",
                   f"threshold {key or 'default'} raised from {old} to {new} would loosen "
                   f"locked rule `{rule_.id}` of `{rule_.origin}`; the floor keeps the "
                   f"parent's threshold",
                   span=span, related=[Related(message="locked here", span=rule_.span)],
                   help="keep the parent's threshold (lowering it is allowed)",
                   witness=witness(lost, space))


Change = tuple[str | None, float, float, Span | None]


def _culprit(policy: FlatPolicy, raised: list[Change], names: set[str]) -> Change:
    """The raised threshold that applies to a category at the witness, else the first."""
    for change in raised:
        key = change[0]
        if key is None or any(n == key or n.startswith(key + ".") for n in names
                              if n in policy.categories):
            return change
    return raised[0]
