"""What a lint rule sees: one flattened policy, its decision map, and the program."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from policyc.lint.memo import MapMemo, SearchMemo
from policyc.semantics.formula import variables
from policyc.semantics.model import FlatPolicy, FlatRule
from policyc.semantics.program import Program
from policyc.semantics.regions.boxes import Box, box_and
from policyc.semantics.regions.decision_map import DecisionMap
from policyc.semantics.regions.search import search_both, where_decides


@dataclass
class LintContext:
    program: Program
    policy: FlatPolicy
    memo: SearchMemo | None = None  # an editor's searches, kept across versions (memo.py)

    @cached_property
    def decision_map(self) -> DecisionMap:
        return DecisionMap(self.policy)

    @cached_property
    def _map_memo(self) -> MapMemo | None:
        return self.memo.for_map(self.decision_map) if self.memo is not None else None

    @cached_property
    def deciding_region(self) -> dict[int, Box | None]:
        """For each rule index: a box where it decides, or None (dead). Shared by rules."""
        dm = self.decision_map
        memo = self._map_memo
        if memo is None:
            return {i: where_decides(dm, i) for i in range(len(self.policy.rules))}
        # `where_decides` of a key-ordered map without locked rules, remembered
        return {i: next((found for box in dm.boxes[i]
                         if (found := memo.search_above(box, dm.position[i])) is not None),
                        None)
                for i in range(len(self.policy.rules))}

    def overlap_won_by(self, ri: int, h: int) -> Box | None:
        """A box where rules `ri` and `h` both match and `h` decides (no rule ranked
        above `h` matches, nor a floor over it): `search_both`, remembered when it can."""
        dm = self.decision_map
        memo = self._map_memo
        if memo is None:
            return search_both(dm, ri, h, dm.entries_above(h) | dm.floor_overriders(h))
        for a in dm.boxes[ri]:
            for b in dm.boxes[h]:
                inter = box_and(a, b)
                if inter is not None:
                    found = memo.search_above(inter, dm.position[h])
                    if found is not None:
                        return found
        return None

    @cached_property
    def categories_read(self) -> list[frozenset[str]]:
        """For each rule index: the categories its guard reads. Rules that read no common
        category always co-occur in some event, which is no finding (POL202/301/305)."""
        cats = set(self.policy.categories)
        return [frozenset(variables(r.formula) & cats) for r in self.policy.rules]

    @cached_property
    def variables_read(self) -> list[frozenset[str]]:
        """For each rule index: every variable (category or attribute) its guard reads."""
        return [frozenset(variables(r.formula)) for r in self.policy.rules]

    def own_rules(self) -> list[tuple[int, FlatRule]]:
        """Rules declared by this policy (inherited ones are linted in their own file)."""
        return [(i, r) for i, r in enumerate(self.policy.rules) if r.origin == self.policy.name]

    def witness(self, box: Box) -> dict[str, Any]:
        return self.decision_map.witness(box)
