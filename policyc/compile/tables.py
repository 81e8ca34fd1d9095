"""Decision tables: the entries of a DecisionMap as a few small dense numpy tables.

For the key-ordered strategies the decision is the matching entry of best rank
(then the locked floor). One dense table over every variable would be huge, so
entries are factored into **groups** by the variables they touch: one group per
primary category (the first component of a leaf's name) and one for entries that
touch no category, split when a dense table would exceed ``CELL_LIMIT`` cells.
Each table cell holds the best rank among the group's entries matching it; at run
time the minimum over groups is the best rank overall. An entry whose own
variables would already exceed the limit is kept as a box, matched piece by piece.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from policyc.runtime.bundle import BoxSpec, GroupSpec, TableSetSpec
from policyc.semantics.regions.boxes import Box
from policyc.semantics.regions.space import Space

#: Largest dense table of one group (cells). 2^16 int16 cells = 128 KiB.
CELL_LIMIT = 1 << 16


@dataclass
class _Group:
    key: str
    vars: set[int] = field(default_factory=set)
    cells: int = 1  # the dense table's size over `vars`
    entries: list[tuple[Box, int]] = field(default_factory=list)


def _cells(space: Space, vars_: set[int]) -> int:
    return math.prod(space.vars[v].n_pieces for v in vars_)


def _primary(space: Space, box: Box) -> str:
    cats = sorted({space.vars[v].name.split(".")[0] for v in box if space.vars[v].kind == "score"})
    return "+".join(cats) if cats else "~context"


def _index(space: Space, vars_: list[int], box: Box) -> tuple[Any, ...]:
    """The table cells of a box: slices where its pieces are one run (a threshold or a
    range, the usual case, assigned as a view), an open mesh otherwise."""
    index: list[Any] = []
    for v in vars_:
        pieces = space.vars[v].pieces(box.get(v, space.vars[v].domain))
        if pieces[-1] - pieces[0] + 1 == len(pieces):
            index.append(slice(pieces[0], pieces[-1] + 1))
        else:
            index.append(np.array(pieces, dtype=np.intp))
    arrays = [k for k, ix in enumerate(index) if not isinstance(ix, slice)]
    if len(arrays) > 1:  # several lists: mesh them all (np.ix_ wants no slices)
        return np.ix_(*(np.arange(ix.start, ix.stop) if isinstance(ix, slice) else ix
                        for ix in index))
    return tuple(index)


def table_dtype(sentinel: int) -> type[np.signedinteger]:
    return np.int16 if sentinel < np.iinfo(np.int16).max else np.int32


def build_tables(entries: list[tuple[Box, int]], space: Space, sentinel: int, prefix: str
                 ) -> tuple[TableSetSpec, dict[str, np.ndarray]]:
    """Group `(box, rank)` entries into dense tables; returns the spec and the arrays."""
    always: int | None = None
    boxes: list[BoxSpec] = []
    by_key: dict[str, list[_Group]] = {}
    for box, rank in entries:
        box = {v: m for v, m in box.items() if m & space.vars[v].domain != space.vars[v].domain}
        if not box:
            always = rank if always is None else min(always, rank)
            continue
        vs = set(box)
        if _cells(space, vs) > CELL_LIMIT:
            boxes.append(BoxSpec(rank=rank, masks=[(v, space.vars[v].pieces(box[v]))
                                                   for v in sorted(box)]))
            continue
        groups = by_key.setdefault(_primary(space, box), [])
        # the group of this key where the table grows least; a new one past the limit
        best: _Group | None = None
        best_cells = 0
        for g in groups:
            c = g.cells * _cells(space, vs - g.vars)
            if c <= CELL_LIMIT and (best is None or c < best_cells):
                best, best_cells = g, c
        if best is None:
            best = _Group(key=_primary(space, box))
            best_cells = _cells(space, vs)
            groups.append(best)
        best.vars |= vs
        best.cells = best_cells
        best.entries.append((box, rank))

    dtype = table_dtype(sentinel)
    specs: list[GroupSpec] = []
    arrays: dict[str, np.ndarray] = {}
    for key in sorted(by_key):
        for i, g in enumerate(by_key[key]):
            vars_ = sorted(g.vars)
            shape = [space.vars[v].n_pieces for v in vars_]
            table = np.full(shape, sentinel, dtype=dtype)
            # worse ranks first so better ones overwrite: min without a read
            for box, rank in sorted(g.entries, key=lambda e: -e[1]):
                table[_index(space, vars_, box)] = rank
            name = f"tables/{prefix}_{len(specs):04d}.npy"
            score_vars = [v for v in vars_ if space.vars[v].kind == "score"]
            skip_zero = False
            if score_vars:
                sl = tuple(space.vars[v].piece_of(0.0) if v in score_vars else slice(None)
                           for v in vars_)
                skip_zero = bool((table[sl] == sentinel).all())
            specs.append(GroupSpec(name=f"{key}#{i}", vars=vars_, shape=shape, table=name,
                                   score_vars=score_vars, skip_zero=skip_zero))
            arrays[name] = table.reshape(-1)
    boxes.sort(key=lambda b: b.rank)
    return TableSetSpec(sentinel=sentinel, always=always, groups=specs, boxes=boxes), arrays
