"""Rule coverage of `policyc test` (LANGUAGE.md §6).

A rule is **exercised** when it decided some test. Each rule's guard is a union of
boxes (its regions); a box is a **deciding region** when the rule decides somewhere
inside it (exact, from the decision map), and it is **reached** when some test's event
lies in it and the rule decided that test. Rules are counted once per declaration (a
parent's rule seen through several children is one rule); rules inherited from the
standard library are counted apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from policyc.semantics.regions.decision_map import DecisionMap
from policyc.semantics.regions.search import cells, search

#: Cells examined per box when deciding regions need enumeration (locked, most-specific).
CELL_BUDGET = 20000


@dataclass
class RuleCoverage:
    rule: str
    policy: str  # the declaring policy
    file: str
    line: int | None
    regions: int = 0  # boxes of the guard
    deciding: set[int] = field(default_factory=set)  # boxes where the rule can decide
    reached: set[int] = field(default_factory=set)  # deciding boxes a test reached
    decided_in: list[str] = field(default_factory=list)  # tests it decided
    #: inherited from the standard library (a `std.*` policy not among the files given):
    #: counted apart, since the user's tests are not where it gets tested
    stdlib: bool = False

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "policy": self.policy, "file": self.file, "line": self.line,
                "regions": len(self.deciding), "reached": len(self.reached & self.deciding),
                "dead": not self.deciding, "decided_in": self.decided_in,
                "stdlib": self.stdlib}


def box_entries(dm: DecisionMap) -> dict[int, tuple[int, int]]:
    """Entry -> (rule index, box index within the rule), as DecisionMap numbers them."""
    out: dict[int, tuple[int, int]] = {}
    e = 0
    for ri in dm.rank:
        for k in range(len(dm.boxes[ri])):
            out[e] = (ri, k)
            e += 1
    return out


def deciding_boxes(dm: DecisionMap, ri: int) -> set[int]:
    """Indices of rule `ri`'s boxes inside which it decides somewhere (exact)."""
    rule = dm.rules[ri]
    out: set[int] = set()
    forbid = dm.entries_above(ri) | dm.floor_overriders(ri) if dm.key_ordered else 0
    for k, box in enumerate(dm.boxes[ri]):
        if dm.key_ordered and search(dm, box, forbid) is not None:
            out.add(k)
        elif (rule.locked or not dm.key_ordered) and _decides_by_cells(dm, ri, box):
            out.add(k)
    return out


def _decides_by_cells(dm: DecisionMap, ri: int, box: dict[int, int]) -> bool:
    target = dm.rules[ri].id
    for n, cell in enumerate(cells(dm, box)):
        if dm.decide_point(dm.cell_point(cell)).rule == target:
            return True
        if n >= CELL_BUDGET:  # pragma: no cover - enormous policies: count it, stay fast
            return True
    return False


def _counts(rules: list[RuleCoverage]) -> dict[str, int]:
    return {"rules": len(rules), "exercised": sum(bool(c.decided_in) for c in rules),
            "regions": sum(len(c.deciding) for c in rules),
            "reached": sum(len(c.reached & c.deciding) for c in rules)}


def coverage_summary(coverage: Iterable[RuleCoverage]) -> dict[str, Any]:
    """Figures over the user's rules (the policies given and their own parents); rules
    inherited from the standard library are counted apart under `stdlib`."""
    ordered = sorted(coverage, key=lambda c: (c.file, c.line or 0, c.rule))
    rules = [c for c in ordered if not c.stdlib]
    std = [c for c in ordered if c.stdlib]
    return {
        **_counts(rules),
        "unexercised": [c.to_dict() for c in rules if not c.decided_in],
        "per_rule": [c.to_dict() for c in [*rules, *std]],
        "dead": [c.rule for c in rules if not c.deciding],
        "live_rules": sum(bool(c.deciding) for c in rules),
        "stdlib": _counts(std),
    }
