"""POL304 locked-threshold-raised: a child's threshold shrinks a locked rule's region.

Thresholds are late-bound: a child's `threshold` also applies to the parent's
rules. Raising one that a locked rule reads loosens the floor, which is an error.
"""

from __future__ import annotations

from collections.abc import Iterator

from policyc.diagnostics import Diagnostic, Related, Severity
from policyc.lint.context import LintContext
from policyc.lint.registry import make, rule
from policyc.semantics.decision import DecisionMap
from policyc.semantics.regions import build_space, witness


@rule("POL304", "locked-threshold-raised", Severity.error,
      "a child raises a threshold that a parent's locked rule depends on")
def check(ctx: LintContext) -> Iterator[Diagnostic]:
    raised = [c for c in ctx.policy.threshold_changes if c[2] > c[1]]
    if not raised:
        return
    for rule_ in ctx.policy.rules:
        if not rule_.locked or rule_.origin == ctx.policy.name:
            continue
        parent = ctx.policy.ancestors.get(rule_.origin)
        before = parent.rule(rule_.id) if parent else None
        if parent is None or before is None or before.formula == rule_.formula:
            continue
        space = build_space([ctx.policy, parent])
        old_boxes = DecisionMap(parent, space).boxes[parent.rules.index(before)]
        new_map = DecisionMap(ctx.policy, space)
        new_entries = new_map.rule_entries[ctx.policy.rules.index(rule_)]
        lost = next((b for box in old_boxes
                     if (b := new_map.search(box, new_entries)) is not None), None)
        if lost is None:
            continue
        key, old, new, span = raised[0]
        yield make("POL304",
                   f"threshold {key or 'default'} raised from {old} to {new} loosens locked "
                   f"rule `{rule_.id}` of `{rule_.origin}`",
                   span=span, related=[Related(message="locked here", span=rule_.span)],
                   help="keep the parent's threshold (lowering it is allowed)",
                   witness=witness(lost, space))
