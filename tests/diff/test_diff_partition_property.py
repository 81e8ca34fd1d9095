"""The rows of a diff report partition the changed space (issue 17), against brute force.

Random version pairs (related versions with locked rules, unrelated policies,
hierarchies, and hierarchies against an edited version of themselves): the plain rows
are pairwise disjoint, their union is exactly the set of grid cells the two versions
decide differently, each row's cells all change as the row says, and each row's witness
changes as stated.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import event as note
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "semantics"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_decision_map_hierarchy_property as hier  # noqa: E402
import test_decision_map_property as flat  # noqa: E402
from helpers.diff_match import matches as _matches  # noqa: E402
from test_diff_cause_revert_property import _load, edited  # noqa: E402

from policyc.diff.semantic import semantic_diff  # noqa: E402
from policyc.semantics.model import FlatPolicy  # noqa: E402
from policyc.semantics.regions.changes import changed_regions  # noqa: E402


def _check_partition(old: FlatPolicy, new: FlatPolicy) -> None:
    found = changed_regions(old, new, budget=None)
    space, a, b = found.space, found.old, found.new
    rows = found.regions
    assert all(d.scope is None for d in rows)
    for d in rows:  # the witness changes as the row says
        point = list(d.witness_box() and a.cell_point(d.box))
        assert (a.decide_point(point).key(), b.decide_point(point).key()) == (
            d.old.key(), d.new.key())
    for event in flat.grid(space):
        point = a.point_of(event)
        holding = [d for d in rows if flat._in_box(d.box, point, space)]
        oa, ob = a.decide_point(point).key(), b.decide_point(point).key()
        assert len(holding) == (oa != ob), (event, holding)  # disjoint and exactly covering
        for d in holding:
            assert (d.old.key(), d.new.key()) == (oa, ob)
    report = semantic_diff(old, new, budget=None)
    for event in flat.grid(space):  # the printed constraints: every event they match changes
        point = a.point_of(event)  # as the row says, and the rows' events never overlap
        oa, ob = a.decide_point(point).key(), b.decide_point(point).key()
        matching = [c for c in report.changes if _matches(c.region, event, c.exceptions)]
        assert len(matching) == (oa != ob), (event, [c.region for c in matching])
        for c in matching:
            assert (c.old.key(), c.new.key()) == (oa, ob), (event, c.region)
    s = report.summary()  # `except` rows merge box rows: never more rows than boxes
    assert s["loosened"] + s["tightened"] + s["changed"] == len(report.changes) <= len(rows)
    assert s["pairs"] == len({(d.old.key(), d.new.key()) for d in rows})
    for c in report.changes:  # an exception with no constraint would empty its row
        assert all(c.exceptions), c.exceptions
    note(f"except rows: {min(sum(bool(c.exceptions) for c in report.changes), 2)}")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flat.versions())
def test_rows_partition_the_changed_space(pair: tuple[str, str]) -> None:
    _check_partition(flat.load(pair[0]), flat.load(pair[1]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flat.policies(), flat.policies())
def test_rows_partition_unrelated_policies(old: str, new: str) -> None:
    _check_partition(flat.load(old), flat.load(new))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hier.hierarchies(), st.data())
def test_rows_partition_hierarchy_versions(h: dict[str, Any], data: st.DataObject) -> None:
    """A hierarchy against a second drawn hierarchy (locked floors, inherited thresholds)."""
    other = data.draw(hier.hierarchies())
    _check_partition(hier.load(h)[1], hier.load(other)[1])


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(hier.hierarchies(), st.data())
def test_rows_partition_edited_hierarchy_versions(h: dict[str, Any], data: st.DataObject
                                                  ) -> None:
    """A hierarchy against a version of itself with one to three edits anywhere in it
    (thresholds, rule actions, guards, priorities, locks, rules added or removed, the
    child's strategy or default): the related pairs a real review sees."""
    old, new = _load(h), _load(data.draw(edited(h)))
    assume(old is not None and new is not None)
    assert old is not None and new is not None
    _check_partition(old, new)
