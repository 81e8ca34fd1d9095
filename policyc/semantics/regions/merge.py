"""Fewer, larger diff regions: merge the boxes of one change without changing the set.

Plain boxes with the same change that differ on one variable only become one box;
small groups are then grown while they stay inside the group's union, and cut apart
again so the rows of a report partition the changed space (no event in two rows, each
exact), and each row then sheds the constraints it does not need (`_fewest_constraints`).
Large groups merge by hashing, linear per pass. Scoped rows
(`compare.Difference`) pass through: each stands for its own witness.
"""

from __future__ import annotations

import itertools

from policyc.semantics.regions.boxes import Box, box_and, box_subtract, normalize, witness_point
from policyc.semantics.regions.compare import Difference
from policyc.semantics.regions.decision_map import DecisionMap
from policyc.semantics.regions.space import Space


def merge_regions(diffs: list[Difference], space: Space, a: DecisionMap | None = None,
                  b: DecisionMap | None = None) -> list[Difference]:
    """Merge boxes with the same change (old and new decision) that differ on one variable
    only (adjacent). With the maps given, each merged region names the rules that decide
    at its witness (`regions.witness`), the event reports show with it."""
    def change(d: Difference) -> tuple[object, ...]:
        """What a merged region must share: the decisions (and, without the maps, the
        rules that made them)."""
        if a is not None:
            return d.old.key(), d.new.key()
        return d.old.key(), d.old.rule, d.new.key(), d.new.rule

    groups: dict[tuple[object, ...], list[Box]] = {}
    out: list[Difference] = [d for d in diffs if d.scope is not None]  # one witness each
    diffs = [d for d in diffs if d.scope is None]
    for d in diffs:
        groups.setdefault(change(d), []).append(dict(d.box))
    sample = {change(d): d for d in diffs}
    for key, boxes in groups.items():
        norm = _disjoint([normalize(bx, space) for bx in boxes], space)
        if len(norm) > _PAIRWISE_LIMIT:
            norm = _merge_by_hash(norm, space)
        if len(norm) <= _PAIRWISE_LIMIT:
            norm = _merge_pairs(_disjoint(_expand(_merge_pairs(norm, space), space), space),
                                space)
            norm = _fewest_constraints(norm, space)
        d0 = sample[key]
        for bx in norm:
            if a is not None and b is not None:  # what decides at the region's witness
                point = list(witness_point(bx, space))
                out.append(Difference(bx, a.decide_point(point), b.decide_point(point)))
            else:
                out.append(Difference(bx, d0.old, d0.new))
    return out


#: Above this many boxes of one change, pairwise merging and growing (quadratic and
#: worse) give way to merging by hashing (`policyc diff --exact` on large diffs).
_PAIRWISE_LIMIT = 200


#: Bounds on the constraint-shedding pass: groups of more boxes, and widened boxes of more
#: grid cells, are left as they are (the pass stays a small share of a large diff).
_SHED_GROUP_LIMIT = 60
_SHED_CELL_LIMIT = 4096


def _cells(box: Box, space: Space) -> int:
    n = 1
    for v, var in enumerate(space.vars):
        n *= bin(box.get(v, var.domain)).count("1")
    return n


def _fewest_constraints(boxes: list[Box], space: Space) -> list[Box]:
    """The same union as disjoint boxes with fewer constraints: a box drops a variable
    (widens it to its whole domain) when every event of the widened box is in the group,
    so changes as the row says; the other boxes give up what the widened one now covers.
    A change is kept only when it lowers the constraints printed in all (then the rows),
    so the pass ends; it is skipped above `_SHED_GROUP_LIMIT` boxes or
    `_SHED_CELL_LIMIT` cells per widened box."""
    if not 2 <= len(boxes) <= _SHED_GROUP_LIMIT:
        return boxes

    def cost(bs: list[Box]) -> tuple[int, int]:
        return sum(len(bx) for bx in bs), len(bs)

    cur = list(boxes)
    improved = True
    while improved:
        improved = False
        for i, bx in enumerate(cur):
            for v in sorted(bx, key=lambda v: -bin(bx[v]).count("1")):
                wide = {k: m for k, m in bx.items() if k != v}
                if _cells(wide, space) > _SHED_CELL_LIMIT or not _covered(wide, cur, space):
                    continue
                rest: list[Box] = []
                for j, other in enumerate(cur):
                    if j != i:
                        rest.extend(normalize(p, space) for p in box_subtract(other, wide, space))
                trial = _merge_pairs([wide, *rest], space)
                if cost(trial) < cost(cur):
                    cur, improved = trial, True
                    break
            if improved:
                break
    return cur


def _merge_pairs(boxes: list[Box], space: Space) -> list[Box]:
    """Merge boxes that differ on one variable only, until none do. Disjoint boxes stay
    disjoint: a merged box is exactly the union of the two."""
    norm = list(boxes)
    changed = True
    while changed:
        changed = False
        i = 0
        while i < len(norm):
            j = i + 1
            while j < len(norm):
                merged = _merge_two(norm[i], norm[j], space)
                if merged is not None:
                    norm[i] = merged
                    norm.pop(j)
                    changed = True
                else:
                    j += 1
            i += 1
    return norm


def _disjoint(boxes: list[Box], space: Space) -> list[Box]:
    """The same union as pairwise disjoint boxes: the largest boxes stay whole, each
    later one loses what earlier ones cover."""
    out: list[Box] = []
    for bx in sorted(boxes, key=len):
        pieces = [bx]
        for k in out:
            if not pieces:
                break
            nxt: list[Box] = []
            for p in pieces:
                nxt.extend(box_subtract(p, k, space) if box_and(p, k) is not None else [p])
            pieces = nxt
        out.extend(normalize(p, space) for p in pieces)
    return out


def _merge_by_hash(boxes: list[Box], space: Space) -> list[Box]:
    """Merge, variable by variable until nothing changes, every set of boxes that agree
    on all other variables: one pass is linear in the number of boxes."""
    domains = [var.domain for var in space.vars]
    cur = {tuple(bx.get(v, d) for v, d in enumerate(domains)) for bx in boxes}
    changed = True
    while changed:
        changed = False
        for v in range(len(domains)):
            groups: dict[tuple[int, ...], int] = {}
            for t in cur:
                rest = t[:v] + t[v + 1:]
                groups[rest] = groups.get(rest, 0) | t[v]
            if len(groups) < len(cur):
                changed = True
                cur = {rest[:v] + (m,) + rest[v:] for rest, m in groups.items()}
    return [{v: m for v, m in enumerate(t) if m != domains[v]} for t in sorted(cur)]


def _merge_two(x: Box, y: Box, space: Space) -> Box | None:
    keys = set(x) | set(y)
    diff_vars = [v for v in keys
                 if x.get(v, space.vars[v].domain) != y.get(v, space.vars[v].domain)]
    if len(diff_vars) > 1:
        return None
    if not diff_vars:
        return x
    v = diff_vars[0]
    mask = x.get(v, space.vars[v].domain) | y.get(v, space.vars[v].domain)
    out = dict(x)
    if mask == space.vars[v].domain:
        out.pop(v, None)
    else:
        out[v] = mask
    return out


def _covered(box: Box, cover: list[Box], space: Space) -> bool:
    rest = [box]
    for c in cover:
        nxt: list[Box] = []
        for r in rest:
            nxt.extend(box_subtract(r, c, space))
        rest = nxt
        if not rest:
            return True
    return False


def _expand(boxes: list[Box], space: Space) -> list[Box]:
    """Grow each box one variable at a time while it stays inside the group's union, then
    drop boxes inside another: fewer, larger regions that still change exactly as stated."""
    if len(boxes) < 2:
        return boxes
    grown: list[Box] = []
    for bx in boxes:
        cur = dict(bx)
        for v in sorted(bx, key=lambda v: -bin(bx[v]).count("1")):
            trial = dict(cur)
            del trial[v]
            if _covered(trial, boxes, space):
                cur = trial
        grown.append(cur)
    unique: list[Box] = []
    for bx in sorted(grown, key=len):
        if not any(all(bx.get(v, space.vars[v].domain) & ~m == 0 for v, m in k.items())
                   for k in unique):
            unique.append(bx)
    # a box covered by the union of the others adds nothing: drop it (most specific first)
    i = len(unique) - 1
    while i >= 0 and len(unique) > 1:
        others = unique[:i] + unique[i + 1:]
        if _covered(unique[i], others, space):
            unique.pop(i)
        i -= 1
    return unique


#: The most exceptions an `except` row lists (more would not read as "except …").
EXCEPT_LIMIT = 3

#: A row in the `except` form: its region (a box) minus the union of its exceptions.
ExceptRow = tuple[Box, list[Box]]


def except_rows(boxes: list[Box], space: Space) -> list[tuple[ExceptRow, list[int]]]:
    """Rows of one change (disjoint boxes with the same decisions and causes) in the
    `except` form where it prints fewer rows and fewer constraints: a set of boxes
    becomes their bounding box minus the few boxes of it that are not theirs (an
    L-shape: "instructions in [0.3, 0.5), harassment in a range, except teens with
    intent ≥ 0.5"). Exact by construction: the bounding box minus the exceptions is
    the union of the merged boxes, so the rows stay disjoint from every other row.
    Each result names the indexes of the boxes it stands for; a box no merge helps
    stays as it is (no exceptions)."""
    rows: list[tuple[ExceptRow, list[int]]] = [((bx, []), [i]) for i, bx in enumerate(boxes)]
    if not 2 <= len(boxes) <= _SHED_GROUP_LIMIT:
        return rows

    def cost(row: ExceptRow) -> int:
        return len(row[0]) + sum(len(h) for h in row[1])

    merged = True
    while merged:
        merged = False
        for i, j in itertools.combinations(range(len(rows)), 2):
            members = rows[i][1] + rows[j][1]
            row = _except_form([boxes[k] for k in members], space)
            if row is not None and cost(row) < cost(rows[i][0]) + cost(rows[j][0]):
                rows[i] = (row, sorted(members))
                rows.pop(j)
                merged = True
                break
    return rows


def _except_form(boxes: list[Box], space: Space) -> ExceptRow | None:
    """The bounding box of `boxes` and, as exceptions, the fewest-constraint boxes that
    cover the rest of it (each widened while it meets none of `boxes`), or None when
    that takes more than `EXCEPT_LIMIT` exceptions or a box too large to check."""
    bound: Box = {}
    for v, var in enumerate(space.vars):
        mask = 0
        for bx in boxes:
            mask |= bx.get(v, var.domain)
        if mask != var.domain:
            bound[v] = mask
    if _cells(bound, space) > _SHED_CELL_LIMIT:
        return None
    holes = [bound]
    for bx in boxes:
        holes = [normalize(p, space) for h in holes for p in box_subtract(h, bx, space)]
        if len(holes) > 4 * _SHED_GROUP_LIMIT:
            return None
    holes = _merge_pairs(holes, space)
    wide: list[Box] = []
    for h in holes:
        cur = dict(h)
        for v in sorted(h, key=lambda v: -bin(h[v]).count("1")):
            trial = {k: m for k, m in cur.items() if k != v}
            if all(box_and(trial, bx) is None for bx in boxes):
                cur = trial
        wide.append(cur)
    unique: list[Box] = []
    for h in sorted(wide, key=len):  # a hole inside another adds nothing
        if not any(all(h.get(v, space.vars[v].domain) & ~m == 0 for v, m in k.items())
                   for k in unique):
            unique.append(h)
    if not unique or len(unique) > EXCEPT_LIMIT:
        return None
    return bound, [dict(sorted(h.items())) for h in unique]
