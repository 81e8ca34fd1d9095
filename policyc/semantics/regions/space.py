"""The event space: one variable per leaf category score and per context attribute.

Each variable's domain is cut into finitely many **pieces** at every constant the
policies compare it with: for cuts c1 < … < ck the pieces are (-inf, c1), [c1],
(c1, c2), [c2], …, (ck, +inf) (scores keep only the pieces inside [0, 1]); enums
and bools have one piece per value. Every atom is constant on every piece, so a
guard is exactly a union of boxes of pieces, and a region is a finite object.
A set of pieces is an int bitmask.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from policyc.runtime.bits import bits_of
from policyc.semantics.formula import Atom, Const

Kind = Literal["score", "enum", "bool", "number"]


@dataclass
class Variable:
    name: str
    kind: Kind
    cuts: tuple[float, ...] = ()  # numeric kinds
    values: tuple[Const, ...] = ()  # enum / bool
    default: Const | None = None
    n_pieces: int = 0
    domain: int = 0  # bitmask of the pieces that exist
    _mask_cache: dict[Atom, int] = field(default_factory=dict, repr=False)
    _pieces_cache: dict[int, list[int]] = field(default_factory=dict, repr=False)
    witness_cache: dict[int, Const] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.kind in ("enum", "bool"):
            self.n_pieces = len(self.values)
            self.domain = (1 << self.n_pieces) - 1
            return
        if self.kind == "score":
            self.cuts = tuple(sorted(set(self.cuts) | {0.0, 1.0}))
        self.n_pieces = 2 * len(self.cuts) + 1
        self.domain = (1 << self.n_pieces) - 1
        if self.kind == "score":  # drop (-inf, 0) and (1, +inf)
            self.domain &= ~1 & ~(1 << (self.n_pieces - 1))

    @property
    def numeric(self) -> bool:
        return self.kind in ("score", "number")

    # ---- pieces ------------------------------------------------------------------------

    def piece_of(self, value: Const) -> int:
        """The piece holding a concrete value (`ValueError` if outside the domain)."""
        if not self.numeric:
            try:
                return self.values.index(value)
            except ValueError:
                raise ValueError(f"`{value}` is not a value of `{self.name}`") from None
        x = float(value)  # type: ignore[arg-type]
        i = bisect.bisect_left(self.cuts, x)
        piece = 2 * i + 1 if i < len(self.cuts) and self.cuts[i] == x else 2 * i
        if not (self.domain >> piece) & 1:
            raise ValueError(f"{x} is outside the domain of `{self.name}`")
        return piece

    def rep(self, piece: int) -> Const:
        """A readable concrete value inside a piece (used for witnesses)."""
        if not self.numeric:
            return self.values[piece]
        cuts = self.cuts
        i = piece // 2
        if piece % 2 == 1:
            return _clean(cuts[i])
        lo = cuts[i - 1] if i > 0 else -math.inf
        hi = cuts[i] if i < len(cuts) else math.inf
        if lo == -math.inf and hi == math.inf:
            return 0.0
        if lo == -math.inf:
            return _clean(hi - 1.0) if hi - 1.0 < hi else hi / 2 - 1
        if hi == math.inf:
            return _clean(lo + 1.0)
        for digits in range(0, 8):
            x = round((lo + hi) / 2, digits)
            if lo < x < hi:
                return _clean(x)
        return (lo + hi) / 2

    def pieces(self, mask: int) -> list[int]:
        cached = self._pieces_cache.get(mask)
        if cached is not None:
            return cached
        out = list(bits_of(mask & self.domain))
        self._pieces_cache[mask] = out
        return out

    def mask_of(self, atom: Atom) -> int:
        """The pieces where an atom holds (exact: atoms are constant on pieces)."""
        cached = self._mask_cache.get(atom)
        if cached is not None:
            return cached
        mask = 0
        for p in self.pieces(self.domain):
            if atom.holds(self.rep_exact(p)):
                mask |= 1 << p
        self._mask_cache[atom] = mask
        return mask

    def rep_exact(self, piece: int) -> Const:
        """Any value in the piece; for atom evaluation (no rounding games)."""
        if not self.numeric:
            return self.values[piece]
        i = piece // 2
        if piece % 2 == 1:
            return self.cuts[i]
        lo = self.cuts[i - 1] if i > 0 else None
        hi = self.cuts[i] if i < len(self.cuts) else None
        if lo is None and hi is None:
            return 0.0
        if lo is None:
            return hi - 1.0  # type: ignore[operator]
        if hi is None:
            return lo + 1.0
        return (lo + hi) / 2

    def bounds(self, piece: int) -> tuple[float, bool, float, bool]:
        """(low, low_closed, high, high_closed) of a numeric piece."""
        i = piece // 2
        if piece % 2 == 1:
            return self.cuts[i], True, self.cuts[i], True
        lo = self.cuts[i - 1] if i > 0 else -math.inf
        hi = self.cuts[i] if i < len(self.cuts) else math.inf
        return lo, False, hi, False

    def runs(self, mask: int) -> list[tuple[int, int]]:
        """The pieces of `mask` grouped into runs of adjacent pieces: (first, last) of each
        (on a numeric variable, each run is one interval)."""
        out: list[tuple[int, int]] = []
        for p in self.pieces(mask):
            if out and p == out[-1][1] + 1:
                out[-1] = (out[-1][0], p)
            else:
                out.append((p, p))
        return out

    def describe(self, mask: int) -> Any:
        """JSON form of a piece set: `{"in": [...]}` or interval(s) `{"ge": a, "lt": b}`."""
        if not self.numeric:
            return {"in": [self.values[p] for p in self.pieces(mask)]}
        intervals: list[dict[str, float]] = []
        for first, last in self.runs(mask):
            lo, lo_c, _, _ = self.bounds(first)
            _, _, hi, hi_c = self.bounds(last)
            iv: dict[str, float] = {}
            if self.kind == "score":  # the domain's own bounds go without saying
                lo, lo_c = (-math.inf, False) if lo <= 0.0 else (lo, lo_c)
                hi, hi_c = (math.inf, False) if hi >= 1.0 else (hi, hi_c)
                if first == last and first % 2 == 1:
                    lo = hi = self.cuts[first // 2]
            if lo == hi:
                iv["eq"] = _clean(lo)
            else:
                if lo != -math.inf:
                    iv["ge" if lo_c else "gt"] = _clean(lo)
                if hi != math.inf:
                    iv["le" if hi_c else "lt"] = _clean(hi)
            intervals.append(iv)
        return intervals[0] if len(intervals) == 1 else {"any_of": intervals}


def _clean(x: float) -> float:
    """Print-friendly float: 0.30000000000000004 → 0.3 when that is the same float."""
    r = round(x, 12)
    return r if r == x or abs(r - x) < 1e-15 else x


class Space:
    """The variables of one or more policies, with their cut points."""

    def __init__(self, variables: Iterable[Variable]):
        self.vars: list[Variable] = list(variables)
        self.index: dict[str, int] = {v.name: i for i, v in enumerate(self.vars)}

    def __len__(self) -> int:
        return len(self.vars)

    def var(self, name: str) -> Variable:
        return self.vars[self.index[name]]

    def n_cells(self) -> int:
        total = 1
        for v in self.vars:
            total *= bin(v.domain).count("1")
        return total
