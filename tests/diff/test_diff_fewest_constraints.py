"""Rows print the fewest constraints a partition allows (issue 17), against brute force.

For each (old decision → new decision) pair of `examples/diff`, every partition of its
changed cells into disjoint boxes (a box: a set of pieces per variable, so a union of
ranges on one variable is one constraint) is searched, and the fewest constraints in all
is what the report must print for that pair.

On v1 → v2 this bound is also why the median constraints per BOX row is 4 there, not 3:
three of the pairs are "instructions in [0.3, 0.5), harassment in one range, except teen
with intent ≥ 0.5" (the teen rows change to `warn("crisis_resources")`), an L-shape no
single box covers, so each takes a 3-constraint and a 4-constraint row; the other three
pairs need all four variables. Nine rows, six of them with 4: the median of any exact
partition into boxes is 4.

The report prints those L-shapes in the `except` form (a box minus a few boxes, the
exceptions listed apart): one row of 2 region constraints each, so 6 rows, median 3.
"""

from __future__ import annotations

import itertools
import statistics
from pathlib import Path
from typing import Any

from policyc.diff.semantic import semantic_diff
from policyc.semantics.program import load_program
from policyc.semantics.regions.changes import changed_regions
from policyc.semantics.regions.space import Space

ROOT = Path(__file__).resolve().parents[2]


def _flat(path: Path):  # type: ignore[no-untyped-def]
    program = load_program([path])
    assert not program.fatal
    return program.policies[program.roots[0].policy.name]


def _fewest(cells: dict[tuple[int, ...], object], key: object, sizes: list[int],
            bound: int) -> int:
    """The fewest constraints over all partitions of the `key` cells into boxes (exact
    cover), or `bound` when none has fewer (the search prunes at it). `cells`: the
    change (or None) of every cell of a grid with `sizes` pieces per variable."""
    mine = {c for c, k in cells.items() if k == key}
    full = [(1 << n) - 1 for n in sizes]
    boxes = []
    for combo in itertools.product(*[range(1, f + 1) for f in full]):
        inside = set(itertools.product(*[[p for p in range(n) if m >> p & 1]
                                         for n, m in zip(sizes, combo, strict=True)]))
        if inside <= mine:
            boxes.append((frozenset(inside), sum(m != f for m, f in zip(combo, full, strict=True))))
    boxes.sort(key=lambda t: (t[1], -len(t[0])))
    best = [bound]

    def cover(left: frozenset[tuple[int, ...]], spent: int) -> None:
        if spent >= best[0]:
            return
        if not left:
            best[0] = spent
            return
        first = min(left)
        for inside, cost in boxes:
            if first in inside and inside <= left:
                cover(left - inside, spent + cost)

    cover(frozenset(mine), 0)
    return best[0]


def _classes(space: Space, change: Any) -> tuple[list[list[int]], dict[tuple[int, ...], object]]:
    """Each variable's pieces in classes no change tells apart (an optimal partition
    never needs to split a class: widening each mask to whole classes keeps it exact,
    disjoint and as cheap), and the change of every cell of the grid of classes."""
    axes = [[p for p in range(v.n_pieces) if v.domain >> p & 1] for v in space.vars]
    grid = {c: change(c) for c in itertools.product(*axes)}
    classes = []
    for i, pieces in enumerate(axes):
        sig: dict[tuple[object, ...], list[int]] = {}
        others = list(itertools.product(*(axes[:i] + axes[i + 1:])))
        for p in pieces:
            key = tuple(grid[o[:i] + (p,) + o[i:]] for o in others)
            sig.setdefault(key, []).append(p)
        classes.append([ps[0] for ps in sig.values()])
    reps = {c: grid[c] for c in itertools.product(*classes)}
    index = [{p: k for k, p in enumerate(ps)} for ps in classes]
    return classes, {tuple(index[i][p] for i, p in enumerate(c)): k for c, k in reps.items()}


def test_examples_diff_prints_the_fewest_constraints() -> None:
    old, new = (_flat(ROOT / "examples/diff" / f) for f in ("v1.pol", "v2.pol"))
    found = changed_regions(old, new, budget=None)
    space, a, b = found.space, found.old, found.new

    def change(cell: tuple[int, ...]) -> object:
        oa, ob = a.decide_point(list(cell)).key(), b.decide_point(list(cell)).key()
        return None if oa == ob else (oa, ob)

    classes, cells = _classes(space, change)
    groups = {k for k in cells.values() if k is not None}
    boxes: dict[object, int] = {}  # the box partition the merge pass makes
    for d in found.regions:
        key = (d.old.key(), d.new.key())
        boxes[key] = boxes.get(key, 0) + len(d.box)
    assert set(boxes) == set(groups)
    for key in groups:
        assert _fewest(cells, key, [len(c) for c in classes], boxes[key]) == boxes[key], key
    sizes = sorted(len(d.box) for d in found.regions)
    assert statistics.median(sizes) == 4  # the box bound above: see the module docstring
    report = semantic_diff(old, new)  # the `except` form goes under it
    printed: dict[object, list[int]] = {}
    for c in report.changes:
        printed.setdefault((c.old.key(), c.new.key()), []).append(len(c.region))
    assert set(printed) == set(groups)
    for key in groups:
        assert sum(printed[key]) <= boxes[key], key
    assert [len(c.exceptions) for c in report.changes].count(1) == 3
    rows = sorted(n for ns in printed.values() for n in ns)
    assert len(rows) == 6 and statistics.median(rows) == 3, rows
