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
from policyc.semantics.formula import variables
from policyc.semantics.model import FlatPolicy, FlatRule
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
        leaves = _raised_leaves(ctx.policy, rule_)
        if not leaves:  # lost only by a lowering under `not`: lowering is allowed (§5)
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
        key, old, new, span = _culprit(ctx.policy, raised, leaves)
        yield diagnostic("POL304",
                   f"threshold {key or 'default'} raised from {old} to {new} would loosen "
                   f"locked rule `{rule_.id}` of `{rule_.origin}`; the floor keeps the "
                   f"parent's threshold",
                   span=span, related=[Related(message="locked here", span=rule_.span)],
                   help="keep the parent's threshold (lowering it is allowed)",
                   witness=witness(lost, space))


Change = tuple[str | None, float, float, Span | None]


def _raised_leaves(policy: FlatPolicy, rule_: FlatRule) -> list[str]:
    """Leaves the locked rule reads whose threshold here is above the one in a parent it
    came through. Only a raise is the error: a floor that loses ground only because a
    threshold under `not` was lowered was blamed on an unrelated raise (and refused)."""
    parents = [policy.ancestors[p.name] for p in policy.parents if p.name in policy.ancestors]
    via = [p for p in parents if p.rule(rule_.id) is not None] or parents
    return [leaf for leaf in sorted(variables(rule_.formula))
            if leaf in policy.categories
            and any(policy.threshold(leaf) > p.threshold(leaf) for p in via)]


def _culprit(policy: FlatPolicy, raised: list[Change], leaves: list[str]) -> Change:
    """The raised declaration in force for a raised leaf (its nearest key), else the first."""
    for leaf in leaves:
        nearest = next((c for c in sorted(raised, key=lambda c: -len(c[0] or ""))
                        if c[0] is None or leaf == c[0] or leaf.startswith(c[0] + ".")), None)
        if nearest is not None and policy.threshold(leaf) == nearest[2]:
            return nearest
    return raised[0]
