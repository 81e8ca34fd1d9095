"""Child-versus-parent comparison shared by the hierarchy rules."""

from __future__ import annotations

from policyc.semantics.compare import Difference, diff_maps
from policyc.semantics.decision import DecisionMap
from policyc.semantics.merge import merge_regions
from policyc.semantics.model import FlatPolicy
from policyc.semantics.regions import build_space
from policyc.semantics.space import Space


def loosened_regions(child: FlatPolicy, parent: FlatPolicy) -> list[tuple[Difference, Space]]:
    """Merged regions where the child decides less restrictively than the parent alone."""
    space = build_space([child, parent])
    a = DecisionMap(parent, space)
    b = DecisionMap(child, space)
    diffs = [d for d in diff_maps(a, b)
             if d.old.decision is not None and d.new.decision is not None
             and d.kind == "loosened"]
    return [(d, space) for d in merge_regions(diffs, space)]
