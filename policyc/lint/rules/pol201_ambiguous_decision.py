"""POL201 ambiguous-decision: the strategy cannot pick between different decisions.

Under `priority` (equal top priority), `most-specific` (neither region contains the
other) and `unique` (any overlap), two matching rules with different decisions are
ambiguous (LANGUAGE.md §4). At run time the most restrictive one is taken (fail
closed), but the policy does not say what its author meant.
"""

from __future__ import annotations

from collections.abc import Iterator

from policyc.diagnostics import Diagnostic, Severity
from policyc.lint.context import LintContext
from policyc.lint.registry import make, rule
from policyc.lint.rules._common import related


@rule("POL201", "ambiguous-decision", Severity.error,
      "two rules match the same events with different decisions and the strategy cannot choose")
def check(ctx: LintContext) -> Iterator[Diagnostic]:
    policy = ctx.policy
    if policy.strategy not in ("priority", "most-specific", "unique"):
        return
    dm = ctx.decision_map
    rules = policy.rules
    declares_strategy = "resolve" in policy.decl_spans
    n = len(rules)
    for i in range(n):
        for j in range(i + 1, n):
            a, b = rules[i], rules[j]
            if a.decision == b.decision:
                continue
            if not declares_strategy and policy.name not in (a.origin, b.origin):
                continue
            if policy.strategy == "priority" and a.priority != b.priority:
                continue
            forbid = 0
            if policy.strategy == "priority":
                for k, other in enumerate(rules):
                    if other.priority > a.priority:
                        forbid |= dm.rule_entries[k]
            elif policy.strategy == "most-specific":
                if dm.strictly_contains(i, j) or dm.strictly_contains(j, i):
                    continue
                for k in range(n):
                    if k not in (i, j) and (dm.strictly_contains(i, k)
                                            or dm.strictly_contains(j, k)):
                        forbid |= dm.rule_entries[k]
            found = dm.search_both(i, j, forbid)
            if found is None:
                continue
            why = {"priority": "equal priority", "most-specific": "neither more specific",
                   "unique": "the `unique` strategy"}[policy.strategy]
            yield make("POL201",
                       f"rules `{a.id}` and `{b.id}` overlap with different decisions and {why}",
                       span=b.span, related=[related(a, f"`{a.id}` decides {a.decision}")],
                       help=("give one rule a higher `priority`" if policy.strategy == "priority"
                             else "narrow one guard so the rules do not overlap, or make them "
                                  "decide the same")
                       + "; at run time the most restrictive decision is taken",
                       witness=ctx.witness(found))
