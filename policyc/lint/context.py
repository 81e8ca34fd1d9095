"""What a lint rule sees: one flattened policy, its decision map, and the program."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from policyc.semantics.formula import variables
from policyc.semantics.model import FlatPolicy, FlatRule
from policyc.semantics.program import Program
from policyc.semantics.regions.boxes import Box
from policyc.semantics.regions.decision_map import DecisionMap
from policyc.semantics.regions.search import where_decides


@dataclass
class LintContext:
    program: Program
    policy: FlatPolicy

    @cached_property
    def decision_map(self) -> DecisionMap:
        return DecisionMap(self.policy)

    @cached_property
    def deciding_region(self) -> dict[int, Box | None]:
        """For each rule index: a box where it decides, or None (dead). Shared by rules."""
        dm = self.decision_map
        return {i: where_decides(dm, i) for i in range(len(self.policy.rules))}

    @cached_property
    def categories_read(self) -> list[frozenset[str]]:
        """For each rule index: the categories its guard reads. Rules that read no common
        category always co-occur in some event, which is no finding (POL202/301/305)."""
        cats = set(self.policy.categories)
        return [frozenset(variables(r.formula) & cats) for r in self.policy.rules]

    def own_rules(self) -> list[tuple[int, FlatRule]]:
        """Rules declared by this policy (inherited ones are linted in their own file)."""
        return [(i, r) for i, r in enumerate(self.policy.rules) if r.origin == self.policy.name]

    def witness(self, box: Box) -> dict[str, Any]:
        return self.decision_map.witness(box)
