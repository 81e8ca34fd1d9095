"""POL201 ambiguous-decision: the strategy cannot pick between different decisions.

Under `priority` (equal top priority), `most-specific` (neither region contains the
other) and `unique` (any overlap), two matching rules with different decisions are
ambiguous (LANGUAGE.md §4). At run time the most restrictive one is taken (fail
closed), but the policy does not say what its author meant.
"""

from __future__ import annotations

from collections.abc import Iterator

from policyc.diagnostics import Diagnostic, diagnostic
from policyc.lint.context import LintContext
from policyc.lint.registry import rule
from policyc.lint.rules._common import related
from policyc.runtime.bits import bits_of
from policyc.semantics.model import FlatPolicy
from policyc.semantics.regions.boxes import Box
from policyc.semantics.regions.decision_map import DecisionMap
from policyc.semantics.regions.search import search_both


@rule("POL201")
def check(ctx: LintContext) -> Iterator[Diagnostic]:
    policy = ctx.policy
    if policy.strategy not in ("priority", "most-specific", "unique"):
        return
    dm = ctx.decision_map
    rules = policy.rules
    declares_strategy = policy.resolve_decl is not None and not policy.resolve_decl.inherited
    ancestor_maps: dict[str, DecisionMap | None] = {}
    for i, j in _candidate_pairs(dm):
        a, b = rules[i], rules[j]
        found = _ambiguous(dm, i, j)
        if found is None:
            continue
        if (not declares_strategy and policy.name not in (a.origin, b.origin)
                and any(_ambiguous_in_origin(policy, a.id, b.id, origin, ancestor_maps)
                        for origin in {a.origin, b.origin})):
            continue  # the ancestor that holds both rules reports it
        why = {"priority": "equal priority", "most-specific": "neither more specific",
               "unique": "the `unique` strategy"}[policy.strategy]
        yield diagnostic("POL201",
                   f"rules `{a.id}` and `{b.id}` overlap with different decisions and {why}",
                   span=b.span, related=[related(a, f"`{a.id}` decides {a.decision}")],
                   help=("give one rule a higher `priority`" if policy.strategy == "priority"
                         else "narrow one guard so the rules do not overlap, or make them "
                              "decide the same")
                   + "; at run time the most restrictive decision is taken",
                   witness=ctx.witness(found))


def _candidate_pairs(dm: DecisionMap) -> Iterator[tuple[int, int]]:
    """Pairs (i < j) that overlap somewhere, decide differently and (under `priority`)
    share a priority: found through the entry index, not by trying every pair."""
    rules = dm.rules
    by_priority: dict[int, int] = {}
    for k, r in enumerate(rules):
        by_priority[r.priority] = by_priority.get(r.priority, 0) | dm.rule_entries[k]
    for i, a in enumerate(rules):
        near = 0
        for box in dm.boxes[i]:
            near |= dm.compat(box)
        near &= ~dm.decision_entries(a.decision)
        if dm.strategy == "priority":
            near &= by_priority[a.priority]
        for j in sorted({dm.entry_rule[e] for e in bits_of(near)}):
            if j > i:
                yield i, j


def _ambiguous(dm: DecisionMap, i: int, j: int) -> Box | None:
    """A region where rules `i` and `j` both match and the strategy cannot choose."""
    rules, n = dm.rules, len(dm.rules)
    forbid = 0
    if dm.strategy == "priority":
        for k, other in enumerate(rules):
            if other.priority > rules[i].priority:
                forbid |= dm.rule_entries[k]
    elif dm.strategy == "most-specific":
        if dm.strictly_contains(i, j) or dm.strictly_contains(j, i):
            return None
        for k in range(n):
            if k not in (i, j) and (dm.strictly_contains(i, k) or dm.strictly_contains(j, k)):
                forbid |= dm.rule_entries[k]
    return search_both(dm, i, j, forbid)


def _ambiguous_in_origin(policy: FlatPolicy, a: str, b: str, origin: str,
                         maps: dict[str, DecisionMap | None]) -> bool:
    """Whether ancestor `origin` holds both rules and finds the pair ambiguous
    (then that ancestor's lint reports it; a child that drops or overrides a rule can
    make an ambiguity its ancestor does not have, and reports it itself)."""
    if origin not in maps:
        parent = policy.ancestors.get(origin)
        maps[origin] = (DecisionMap(parent) if parent is not None and parent.strategy
                        == policy.strategy else None)
    pdm = maps[origin]
    if pdm is None:
        return False
    index = {r.id: k for k, r in enumerate(pdm.rules)}
    if a not in index or b not in index:
        return False
    i, j = sorted((index[a], index[b]))
    return _ambiguous(pdm, i, j) is not None
