"""Resolved guards: boolean formulas over one-variable atoms.

Every atom constrains exactly one variable (a leaf category score or a context
attribute) with a comparison against a constant, so every guard denotes a finite
union of boxes (LANGUAGE.md §3). Names are already resolved here: thresholds are
applied, sets and inner categories expanded, derived categories unfolded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

Const = Union[str, float, bool]


@dataclass(frozen=True, slots=True)
class Atom:
    """`var op value`; `op` is a comparison or `in` (value is then a frozenset)."""

    var: str
    op: str  # "==", "!=", "<", "<=", ">", ">=", "in"
    value: Const | frozenset[Const]

    def holds(self, x: Const) -> bool:
        v = self.value
        op = self.op
        if op == "in":
            return x in v  # type: ignore[operator]
        if op == "==":
            return x == v
        if op == "!=":
            return x != v
        if op == ">=":
            return x >= v  # type: ignore[operator]
        if op == ">":
            return x > v  # type: ignore[operator]
        if op == "<=":
            return x <= v  # type: ignore[operator]
        return x < v  # type: ignore[operator]


@dataclass(frozen=True, slots=True)
class FAnd:
    items: tuple[Formula, ...]


@dataclass(frozen=True, slots=True)
class FOr:
    items: tuple[Formula, ...]


@dataclass(frozen=True, slots=True)
class FNot:
    item: Formula


@dataclass(frozen=True, slots=True)
class FConst:
    value: bool


TRUE = FConst(True)
FALSE = FConst(False)

Formula = Union[Atom, FAnd, FOr, FNot, FConst]


def conj(items: list[Formula]) -> Formula:
    flat: list[Formula] = []
    for f in items:
        if f == FALSE:
            return FALSE
        if f == TRUE:
            continue
        flat.extend(f.items if isinstance(f, FAnd) else (f,))
    if not flat:
        return TRUE
    return flat[0] if len(flat) == 1 else FAnd(tuple(flat))


def disj(items: list[Formula]) -> Formula:
    flat: list[Formula] = []
    for f in items:
        if f == TRUE:
            return TRUE
        if f == FALSE:
            continue
        flat.extend(f.items if isinstance(f, FOr) else (f,))
    if not flat:
        return FALSE
    return flat[0] if len(flat) == 1 else FOr(tuple(flat))


def dnf_bound(f: Formula, cap: int, negate: bool = False) -> int:
    """An upper bound on the boxes of `f`'s disjunctive normal form, as
    `regions.boxes.formula_boxes` builds it (an `or` adds its parts', an `and` multiplies
    them, negations pushed to the atoms), counted only up to `cap + 1`.

    Why: the DNF of a short guard can be exponential (`(a1 or b1) and ... (a16 or b16)` has
    65,536 boxes) and every analysis builds it; the bound is linear to compute."""
    if isinstance(f, FConst):
        return 1 if f.value != negate else 0
    if isinstance(f, Atom):
        return 1
    if isinstance(f, FNot):
        return dnf_bound(f.item, cap, not negate)
    conjunctive = isinstance(f, FAnd) != negate
    out = 1 if conjunctive else 0
    for g in f.items:
        n = dnf_bound(g, cap, negate)
        out = min(out * n if conjunctive else out + n, cap + 1)
    return out


def evaluate(f: Formula, env: dict[str, Const]) -> bool:
    """Direct interpretation on one event: the reference that everything is tested against."""
    if isinstance(f, Atom):
        return f.holds(env[f.var])
    if isinstance(f, FAnd):
        return all(evaluate(g, env) for g in f.items)
    if isinstance(f, FOr):
        return any(evaluate(g, env) for g in f.items)
    if isinstance(f, FNot):
        return not evaluate(f.item, env)
    return f.value


def atoms(f: Formula) -> list[Atom]:
    out: list[Atom] = []
    stack = [f]
    while stack:
        g = stack.pop()
        if isinstance(g, Atom):
            out.append(g)
        elif isinstance(g, (FAnd, FOr)):
            stack.extend(g.items)
        elif isinstance(g, FNot):
            stack.append(g.item)
    return out


def variables(f: Formula) -> set[str]:
    return {a.var for a in atoms(f)}
