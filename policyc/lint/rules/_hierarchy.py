"""Child-versus-parent comparison shared by the hierarchy rules."""

from __future__ import annotations

from policyc.semantics.model import FlatPolicy
from policyc.semantics.regions.changes import change_kind, changed_regions
from policyc.semantics.regions.compare import Difference
from policyc.semantics.regions.space import Space


def loosened_regions(child: FlatPolicy, parent: FlatPolicy) -> list[tuple[Difference, Space]]:
    """The regions where the child decides less restrictively than the parent alone, as
    `policyc diff PARENT CHILD` reports them (same regions, same count, same witnesses)."""
    if cannot_loosen(parent, child):
        return []
    found = changed_regions(parent, child, kind="loosened")
    return [(d, found.space) for d in found.regions if change_kind(d) == "loosened"]


def cannot_loosen(parent: FlatPolicy, child: FlatPolicy) -> bool:
    """Whether `child` decides at least as restrictively as `parent` at every event,
    provable without a region search (the common case of a child that only adds rules;
    the search costs a second against large parents such as the standard library's).

    Under `most-restrictive` (in both) an event is decided by its most restrictive
    matching rule, or by the default when none matches; locked floors never lift that
    winner. A guard equal as a formula matches the same events in the shared space. So
    if each parent guard is also a child guard with a decision at least as restrictive,
    the child's default is no looser, and every child guard that is not a parent guard
    decides at least as restrictively as the parent's default, then where the parent
    matches the child matches something as strict, and where it does not the child's
    decision is no looser than the parent's default."""
    if parent.strategy != "most-restrictive" or child.strategy != "most-restrictive":
        return False
    floor = parent.default.restrictiveness if parent.default is not None else None
    if floor is not None and (child.default is None or child.default.restrictiveness < floor):
        return False
    strongest: dict[object, int] = {}
    for r in child.rules:
        level = r.decision.restrictiveness
        if strongest.get(r.formula, -1) < level:
            strongest[r.formula] = level
    parent_guards = set()
    for r in parent.rules:
        if strongest.get(r.formula, -1) < r.decision.restrictiveness:
            return False
        parent_guards.add(r.formula)
    return floor is None or all(r.decision.restrictiveness >= floor for r in child.rules
                                if r.formula not in parent_guards)


def diff_command(parent: FlatPolicy, child: FlatPolicy) -> str:
    """The `policyc diff` command line that lists these regions (a `std.*` parent by name)."""
    old = parent.name if parent.name.startswith("std.") else parent.path
    return f"policyc diff {old} {child.path}"
