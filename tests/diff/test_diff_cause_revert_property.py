"""Every diff row names a cause that explains it (issue 17), on random hierarchy versions.

A hierarchy (parent, chain or two parents; locked rules, overrides, drops, thresholds
inherited and replaced) is edited one to three times anywhere in it: a threshold set,
changed or removed, a rule's action, guard, priority or lock changed, a rule added or
removed, the child's strategy or default changed. For every row of the diff, some cause
it names, reverted alone in the new version (that one field of that rule, that threshold,
…), removes the row or shrinks it: fewer grid events of the row still change as the row
says (same decisions by the same rules). Where no single revert does, the change is
overdetermined (each of two edits alone makes it, e.g. a rule removed and a strategy
changed both leave the event to one rule): then all its causes reverted together must.
The rows themselves are checked for exactness elsewhere (`test_diff_partition_property.py`);
here also every row has a cause.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "semantics"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_decision_map_hierarchy_property as hier  # noqa: E402
from helpers.diff_match import matches as _matches  # noqa: E402

from policyc.diff.causes import Cause  # noqa: E402
from policyc.diff.semantic import semantic_diff  # noqa: E402
from policyc.semantics.model import FlatPolicy  # noqa: E402
from policyc.semantics.regions.boxes import build_space  # noqa: E402
from policyc.semantics.regions.decision_map import DecisionMap  # noqa: E402

Hierarchy = dict[str, hier.Policy]


def _rules(p: hier.Policy) -> list[hier.Rule]:
    return [i for i in p.items if isinstance(i, hier.Rule)]


@st.composite
def edited(draw: Any, h: Hierarchy) -> Hierarchy:
    """`h` with one to three edits (see the module docstring); may be invalid (a locked
    rule overridden, a dropped rule removed): the caller skips those."""
    out = copy.deepcopy(h)
    names = sorted(out)
    for n in range(draw(st.integers(1, 3))):
        p = out[draw(st.sampled_from(names))]
        what = draw(st.sampled_from(("threshold", "action", "guard", "priority", "lock",
                                     "add", "remove", "strategy", "default")))
        rules = _rules(p)
        if what == "threshold":
            key = draw(st.sampled_from(hier.THRESHOLD_KEYS))
            value = draw(st.sampled_from((*hier.CONSTANTS, None)))
            if value is None:
                p.thresholds.pop(key, None)
            else:
                p.thresholds[key] = value
        elif what in ("action", "guard", "priority", "lock") and rules:
            r = draw(st.sampled_from(rules))
            if what == "action":
                r.decision = draw(hier.decisions())
            elif what == "guard":
                r.guard = draw(hier.guards())
            elif what == "priority":
                r.priority = draw(st.integers(0, 2))
            elif not r.override:
                r.locked = not r.locked
        elif what == "add":
            rid = f"{p.name[2]}n{n}"
            p.items.insert(draw(st.integers(0, len(p.items))),
                           draw(hier.rules(rid, p.name == "t.child" or draw(st.booleans()))))
        elif what == "remove" and p.items:
            p.items.pop(draw(st.integers(0, len(p.items) - 1)))
        elif what == "strategy" and p.name == "t.child":
            p.strategy = draw(st.one_of(st.none(), st.sampled_from(hier.STRATEGIES)))
        elif what == "default" and p.name == "t.child":
            p.default = draw(st.one_of(st.none(), hier.decisions()))
    return out


def _name(item: hier.Rule | str) -> str:
    return item if isinstance(item, str) else item.id


def _load(h: Hierarchy) -> FlatPolicy | None:
    with_tmp = hier.tempfile.TemporaryDirectory()
    with with_tmp as tmp:
        for p in h.values():
            (Path(tmp) / f"{p.name}.pol").write_text(hier.policy_text(p), encoding="utf-8")
        program = hier.load_program([Path(tmp) / "t.child.pol"])
    return None if program.fatal else program.policies["t.child"]


def reverted(old: Hierarchy, new: Hierarchy, cause: Cause) -> Hierarchy:
    """`new` with the one edit `cause` names put back as it is in `old`."""
    out = copy.deepcopy(new)
    if cause.kind == "threshold":
        key = cause.target or "default"
        for name, p in out.items():
            before = old[name].thresholds.get(key) if name in old else None
            if before is None:
                p.thresholds.pop(key, None)
            else:
                p.thresholds[key] = before
    elif cause.kind in ("strategy", "default"):
        for name, p in out.items():
            setattr(p, cause.kind, getattr(old[name], cause.kind))
    elif cause.kind == "rule" and cause.change == "floor region":
        # the floor moved with a threshold of a policy it comes through (LANGUAGE.md §5):
        # put back every threshold of the policies that declare or inherit the rule
        for name, p in out.items():
            if name in old and any(_name(i) == cause.target for i in p.items):
                p.thresholds = dict(old[name].thresholds)
    elif cause.kind == "rule":
        field = {"action": "decision", "guard": "guard", "priority": "priority",
                 "locked": "locked"}.get(cause.change)
        for name, p in out.items():
            before = old[name].items

            def refers(i: hier.Rule | str) -> bool:
                return _name(i) == cause.target

            if field is None or (any(map(refers, before)) != any(map(refers, p.items))):
                # added or removed, or an override or drop of it added or removed in
                # this policy (the flattened rule's field changes): the items naming it
                p.items = [i for i in p.items if not refers(i)]
                for k, i in enumerate(before):
                    if refers(i):  # where it was: before the next item both versions have
                        later = [_name(j) for j in before[k + 1:]]
                        at = next((n for n, j in enumerate(p.items) if _name(j) in later),
                                  len(p.items))
                        p.items.insert(at, copy.deepcopy(i))
                continue
            was = {i.id: i for i in before if isinstance(i, hier.Rule)}
            for i in p.items:
                if isinstance(i, hier.Rule) and i.id == cause.target and i.id in was:
                    setattr(i, field, getattr(was[i.id], field))
    return out


def _changed_cells(old: FlatPolicy, new: FlatPolicy, row: Any, space_of: list[FlatPolicy]
                   ) -> set[int]:
    """Grid events of the row's printed region where `old` → `new` changes as it says:
    the same decisions by the same rules as at its witness (a change two edits each make
    alone, e.g. a rule's guard and action, still shrinks when one is reverted: the other
    edit's rule decides there instead)."""
    space = build_space(space_of)
    a, b = DecisionMap(old, space), DecisionMap(new, space)
    says = (row.old.key(), row.old.rule, row.new.key(), row.new.rule)
    out = set()
    for k, e in enumerate(hier.grid(a)):
        if _matches(row.region, e, row.exceptions):
            oa, ob = a.decide_event(e), b.decide_event(e)
            if (oa.key(), oa.rule, ob.key(), ob.rule) == says:
                out.add(k)
    return out


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(hier.hierarchies(), st.data())
def test_every_row_has_a_cause_that_explains_it(h: Hierarchy, data: st.DataObject) -> None:
    h2 = data.draw(edited(h))
    old, new = _load(h), _load(h2)
    assume(old is not None and new is not None)
    assert old is not None and new is not None
    report = semantic_diff(old, new, budget=None)
    texts = {n: hier.policy_text(p) for n, p in h2.items()}
    event(f"rows: {min(len(report.changes), 3)}")
    for row in report.changes:
        assert row.causes, (texts, row.region)
        causes = [c for c in row.causes if c.kind != "parent"]
        flats = [f for f in (_load(reverted(h, h2, c)) for c in causes) if f is not None]
        together = h2
        for c in causes:
            together = reverted(h, together, c)
        all_back = _load(together)
        assume(flats or all_back is not None)  # every revert gave an invalid hierarchy
        space_of = [old, new, *flats, *([all_back] if all_back is not None else [])]
        before = _changed_cells(old, new, row, space_of)
        assert before, (texts, row.region)
        if any(_changed_cells(old, f, row, space_of) < before for f in flats):
            continue
        # overdetermined: each edit alone makes the change (a removed rule and a new
        # strategy both hand the event to the same rule), so only all of them reverted
        # together undo it
        event("overdetermined row")
        assert all_back is not None and _changed_cells(old, all_back, row, space_of) < before, (
            texts, row.region, [c.text for c in row.causes])
