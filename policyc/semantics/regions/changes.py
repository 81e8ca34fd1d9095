"""Where two policies decide differently: the one region algebra diff and lint share.

`policyc diff` reports these regions and the hierarchy rules (POL302, POL303) count and
show them, so a child's lint finding and `policyc diff PARENT CHILD` agree on how many
regions changed and on what decides at each witness.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from policyc.semantics.model import FlatPolicy
from policyc.semantics.regions.boxes import build_space
from policyc.semantics.regions.compare import EXACT_BUDGET, Difference, diff_maps
from policyc.semantics.regions.decision_map import DecisionMap
from policyc.semantics.regions.merge import merge_regions
from policyc.semantics.regions.space import Space


@dataclass
class Changes:
    space: Space
    old: DecisionMap
    new: DecisionMap
    #: merged regions; each names the decisions and rules of both versions at its witness
    regions: list[Difference]


def change_kind(d: Difference) -> str:
    """`loosened`, `tightened` or `changed` (CLI.md); a gap (no decision) is the least
    restrictive outcome of all."""
    if d.old.decision is None or d.new.decision is None:
        return "tightened" if d.old.decision is None else "loosened"
    return d.kind


def changed_regions(old: FlatPolicy, new: FlatPolicy, budget: int | None = EXACT_BUDGET,
                    kind: str | None = None) -> Changes:
    """Every region where `new` decides differently from `old`, on one shared space,
    merged so the report is small (`budget`: see `diff_maps`). With `kind` (`loosened`,
    …), only those regions: merging works on each (old, new) decision pair alone, so they
    are exactly the rows of that kind the whole report has, without merging the others."""
    space = build_space([old, new])
    a = DecisionMap(old, space)
    b = DecisionMap(new, space)
    diffs = diff_maps(a, b, budget=budget)
    if kind is not None:
        diffs = [d for d in diffs if change_kind(d) == kind]
    return Changes(space, a, b, merge_regions(diffs, space, a, b))


def region_text(region: dict[str, Any]) -> str:
    """A region in words (`describe_box`'s JSON form), as diff reports and lint show it."""
    if not region:
        return "every event"
    return ", ".join(f"{name} {constraint_text(c)}" for name, c in region.items())


def constraint_text(c: dict[str, Any]) -> str:
    """One variable's constraint in words: `in {a, b}`, `≥ 0.5 and < 0.9`, `... or ...`."""
    if "in" in c:
        return "in {" + ", ".join(str(v).lower() if isinstance(v, bool) else str(v)
                                  for v in c["in"]) + "}"
    if "any_of" in c:
        return " or ".join(constraint_text(x) for x in c["any_of"])
    ops = {"eq": "=", "ge": "≥", "gt": ">", "le": "≤", "lt": "<"}
    return " and ".join(f"{ops[k]} {v}" for k, v in c.items())
