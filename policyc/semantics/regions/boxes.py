"""Exact region algebra: boxes of pieces and finite unions of them.

A `Box` maps a variable index to the bitmask of pieces it allows; a variable not
in the map is unconstrained (its whole domain). A region is a list of boxes.
Everything here is exact set algebra on finite objects: no sampling anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from policyc.semantics.formula import Atom, FAnd, FConst, FNot, Formula
from policyc.semantics.model import FlatPolicy
from policyc.semantics.regions.space import Space, Variable

Box = dict[int, int]


def build_space(policies: Iterable[FlatPolicy]) -> Space:
    """Variables and cut points for one or more policies (diff uses the union)."""
    from policyc.semantics.formula import atoms

    cuts: dict[str, set[float]] = {}
    kinds: dict[str, str] = {}
    values: dict[str, list[Any]] = {}
    defaults: dict[str, Any] = {}
    order: list[str] = []

    def declare(name: str, kind: str) -> None:
        if name not in kinds:
            kinds[name] = kind
            cuts[name] = set()
            values[name] = []
            order.append(name)

    for p in policies:
        for leaf in p.leaves:
            declare(leaf, "score")
        for name, var in p.contexts.items():
            declare(name, var.kind)
            if var.kind == "enum":
                values[name].extend(v for v in var.values if v not in values[name])
            if var.default is not None:
                defaults.setdefault(name, var.default)
        for rule in p.rules:
            for atom in atoms(rule.formula):
                if kinds.get(atom.var) in ("score", "number") and atom.op != "in":
                    cuts[atom.var].add(float(atom.value))  # type: ignore[arg-type]
    variables = []
    for name in order:
        kind = kinds[name]
        if kind == "bool":
            variables.append(Variable(name, "bool", values=(False, True),
                                      default=defaults.get(name)))
        elif kind == "enum":
            variables.append(Variable(name, "enum", values=tuple(values[name]),
                                      default=defaults.get(name)))
        else:
            variables.append(Variable(name, kind, cuts=tuple(sorted(cuts[name])),  # type: ignore[arg-type]
                                      default=defaults.get(name)))
    return Space(variables)


# ---- boxes -----------------------------------------------------------------------------


def box_and(a: Box, b: Box) -> Box | None:
    """Intersection, or None when empty."""
    if len(a) < len(b):
        a, b = b, a
    out = dict(a)
    for v, m in b.items():
        mm = out.get(v)
        if mm is not None:
            m &= mm
            if not m:
                return None
        out[v] = m
    return out


def box_contains(outer: Box, inner: Box) -> bool:
    """Whether `inner ⊆ outer`."""
    for v, m in outer.items():
        im = inner.get(v)
        if im is None or im & ~m:
            return False
    return True


def box_subtract(a: Box, b: Box, space: Space) -> list[Box]:
    """`a - b` as disjoint boxes (split `a` one variable at a time)."""
    inter = box_and(a, b)
    if inter is None:
        return [a]
    out: list[Box] = []
    rest = dict(a)
    for v, bm in b.items():
        am = rest.get(v, space.vars[v].domain)
        outside = am & ~bm
        if outside:
            piece = dict(rest)
            piece[v] = outside
            out.append(piece)
        rest[v] = am & bm
    return out


def normalize(box: Box, space: Space) -> Box:
    """Drop full-domain constraints so equal boxes compare equal."""
    return {v: m for v, m in box.items() if m != space.vars[v].domain}


def region_subtract(region: list[Box], b: Box, space: Space) -> list[Box]:
    out: list[Box] = []
    for a in region:
        out.extend(box_subtract(a, b, space))
    return out


# ---- formulas → boxes ---------------------------------------------------------------------


def formula_boxes(f: Formula, space: Space, negate: bool = False) -> list[Box]:
    """Disjunctive normal form as boxes (negations pushed into atoms as complements)."""
    if isinstance(f, FConst):
        return [{}] if f.value != negate else []
    if isinstance(f, Atom):
        i = space.index[f.var]
        var = space.vars[i]
        mask = var.mask_of(f)
        if negate:
            mask = var.domain & ~mask
        if mask == var.domain:
            return [{}]
        return [{i: mask}] if mask else []
    if isinstance(f, FNot):
        return formula_boxes(f.item, space, not negate)
    conjunctive = isinstance(f, FAnd) != negate
    parts = [formula_boxes(g, space, negate) for g in f.items]  # type: ignore[union-attr]
    if not conjunctive:
        return _absorb([b for part in parts for b in part])
    result: list[Box] = [{}]
    for part in parts:
        nxt: list[Box] = []
        for a in result:
            for b in part:
                c = box_and(a, b)
                if c is not None:
                    nxt.append(c)
        result = _absorb(nxt)
        if not result:
            return []
    return result


def _absorb(boxes: list[Box]) -> list[Box]:
    """Drop boxes contained in another (keeps DNF small; exact)."""
    if len(boxes) < 2:
        return boxes
    if any(not b for b in boxes):
        return [{}]
    boxes = sorted(boxes, key=len)
    kept: list[Box] = []
    for b in boxes:
        if not any(box_contains(k, b) for k in kept):
            kept.append(b)
    return kept


# ---- description -----------------------------------------------------------------------------


def describe_box(box: Box, space: Space) -> dict[str, Any]:
    """JSON form (CLI.md diff regions): only the constrained variables."""
    return {space.vars[v].name: space.vars[v].describe(m) for v, m in sorted(box.items())}


def witness(box: Box, space: Space) -> dict[str, Any]:
    """One concrete, valid event inside the box.

    Every context attribute is given (an event without one is invalid unless it has a
    default); scores are listed only when not 0 (an absent score is 0).
    """
    out: dict[str, Any] = {}
    for i, var in enumerate(space.vars):
        mask = box.get(i, var.domain)
        value = var.witness_cache.get(mask)
        if value is None:
            value = var.rep(_preferred_piece(var, mask))
            var.witness_cache[mask] = value
        if var.kind != "score" or value != 0.0:
            out[var.name] = value
    return out


def witness_point(box: Box, space: Space) -> tuple[int, ...]:
    """The cell of `witness(box, space)`: one piece per variable."""
    return tuple(_preferred_piece(var, box.get(i, var.domain)) for i, var in enumerate(space.vars))


def _preferred_piece(var: Variable, mask: int) -> int:
    pieces = var.pieces(mask)
    if var.default is not None and var.kind != "score":
        try:
            p = var.piece_of(var.default)
            if p in pieces:
                return p
        except ValueError:
            pass
    if var.kind == "number":  # prefer the piece holding 0, else the first
        try:
            p = var.piece_of(0.0)
            if p in pieces:
                return p
        except ValueError:
            pass
    return pieces[0]
