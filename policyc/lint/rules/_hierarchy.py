"""Child-versus-parent comparison shared by the hierarchy rules."""

from __future__ import annotations

from policyc.semantics.model import FlatPolicy
from policyc.semantics.regions.changes import change_kind, changed_regions
from policyc.semantics.regions.compare import Difference
from policyc.semantics.regions.space import Space


def loosened_regions(child: FlatPolicy, parent: FlatPolicy) -> list[tuple[Difference, Space]]:
    """The regions where the child decides less restrictively than the parent alone, as
    `policyc diff PARENT CHILD` reports them (same regions, same count, same witnesses)."""
    found = changed_regions(parent, child, kind="loosened")
    return [(d, found.space) for d in found.regions if change_kind(d) == "loosened"]


def diff_command(parent: FlatPolicy, child: FlatPolicy) -> str:
    """The `policyc diff` command line that lists these regions (a `std.*` parent by name)."""
    old = parent.name if parent.name.startswith("std.") else parent.path
    return f"policyc diff {old} {child.path}"
