"""Many events at once (numpy, no per-event Python loop) for the key-ordered strategies.

The bundle's groups are dense tables, each over a few variables; the decision is
the best rank over groups, then the locked floors. What costs is turning columns
into piece indices, so:

- score columns are taken sparsely: most scores are exactly 0, and a group whose
  table is empty at score 0 (`skip_zero`) only needs the rows where one of its
  scores is not. Pieces come from one `searchsorted` over doubled cuts on those
  rows; a mostly nonzero column is converted whole;
- the attributes the tables read are folded once into one "context key" per event,
  and at load every group table is re-laid over (its scores, context key): a group
  costs one gather, one add and one table lookup on its rows, whatever its shape.
  When the context key space is too large, groups keep their own layout and index
  with per-variable strides.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from policyc.runtime.actions import RESTRICTIVENESS
from policyc.runtime.bundle import GroupSpec, TableSetSpec
from policyc.runtime.decision import BatchResult
from policyc.runtime.events import EventEncoder, InvalidEvent, describe, doubled_cuts, some

#: Largest context key space (product of the pieces of the attributes tables read).
CONTEXT_KEY_LIMIT = 1 << 16
#: Largest re-laid table of one group, and of all groups together (cells).
RELAID_GROUP_LIMIT = 1 << 20
RELAID_TOTAL_LIMIT = 1 << 23
#: A score column with more nonzero rows than this fraction is converted whole.
DENSE_FRACTION = 0.25

Column = Any  # np.ndarray of length n, or an int for a constant


class _Score:
    """A validated score column: pieces at its nonzero rows (`rows`), or dense (`rows` None)."""

    __slots__ = ("rows", "values", "zero", "_dense")

    def __init__(self, rows: np.ndarray | None, values: np.ndarray, zero: int):
        self.rows, self.values, self.zero = rows, values, zero
        self._dense: np.ndarray | None = values if rows is None else None

    def dense(self, n: int) -> np.ndarray:
        if self._dense is None:
            d = np.full(n, self.zero, dtype=self.values.dtype)
            d[self.rows] = self.values
            self._dense = d
        return self._dense

    def at(self, rows: np.ndarray | None, n: int) -> np.ndarray:
        if rows is not None and rows is self.rows:
            return self.values
        d = self.dense(n)
        return d if rows is None else d[rows]


class _Group:
    """One group table ready for lookups: re-laid over the context key, or as compiled."""

    __slots__ = ("table", "score_vars", "strides", "skip_zero", "ckey")

    def __init__(self, table: np.ndarray, score_vars: list[int], strides: list[tuple[int, int]],
                 skip_zero: bool, ckey: bool):
        self.table = table
        self.score_vars = score_vars  # the group's score variables (for skip_zero rows)
        self.strides = strides  # (variable, stride) pairs; with `ckey`, scores only
        self.skip_zero = skip_zero
        self.ckey = ckey  # add the context key (stride 1)


class BatchDecider:
    """The vectorized path of a `Checker` (key-ordered strategies; see the module doc)."""

    def __init__(self, enc: EventEncoder, manifest: Any, tables: Mapping[str, np.ndarray],
                 rule_decision: list[int], default_index: int, on_error_index: int):
        self.enc = enc
        m = manifest
        self.manifest = m
        variables = enc.variables
        self.dcuts = {i: np.array(doubled_cuts(list(variables[i].cuts)), dtype=np.float64)
                      for i in enc.score_vars}
        sets = [ts for ts in (m.main, m.floors) if ts is not None]
        used = sorted({v for ts in sets for g in ts.groups for v in g.vars
                       if variables[v].kind != "score"})
        size = math.prod(variables[v].n_pieces for v in used)
        #: (variable, size) in Horner order; None: no context key
        self.ckey_vars: list[tuple[int, int]] | None = \
            [(v, variables[v].n_pieces) for v in used] if size <= CONTEXT_KEY_LIMIT else None
        self.ckey_size = size
        budget = [RELAID_TOTAL_LIMIT]
        self.main = [self._prepare(g, tables[g.table], budget) for g in m.main.groups] \
            if m.main else []
        self.floors = [self._prepare(g, tables[g.table], budget) for g in m.floors.groups] \
            if m.floors else []
        restr = [RESTRICTIVENESS[r.decision.action] for r in m.rules]
        fallback = default_index if default_index >= 0 else on_error_index
        # lookup tables indexed by a rank; the sentinel (last index) means "no rule"
        self.rank_rule = np.array([*m.rank, -1], dtype=np.int32)
        self.rank_decision = np.array([*(rule_decision[r] for r in m.rank), fallback],
                                      dtype=np.int32)
        self.floor_rule = np.array([*m.floor_rank, -1], dtype=np.int32)
        self.restr = np.array([*restr, -1], dtype=np.int8)  # index -1: "no rule"
        self.rule_decision = np.array([*rule_decision, fallback], dtype=np.int32)
        self.has_default = default_index >= 0
        self.decisions = list(m.decisions)

    def _prepare(self, g: GroupSpec, table: np.ndarray, budget: list[int]) -> _Group:
        variables = self.enc.variables
        scores = [v for v in g.vars if variables[v].kind == "score"]
        if self.ckey_vars is not None:
            cells = math.prod(variables[v].n_pieces for v in scores) * self.ckey_size
            if cells <= RELAID_GROUP_LIMIT and cells <= budget[0]:
                budget[0] -= cells
                return self._relaid(g, table, scores)
        strides, stride = [], 1
        for v, size in zip(reversed(g.vars), reversed(g.shape), strict=True):
            strides.append((v, stride))
            stride *= size
        return _Group(table, scores, strides, g.skip_zero, ckey=False)

    def _relaid(self, g: GroupSpec, table: np.ndarray, scores: list[int]) -> _Group:
        """The table over (scores of the group..., context key), context key fastest."""
        variables = self.enc.variables
        assert self.ckey_vars is not None
        old = dict.fromkeys(g.vars, 0)
        stride = 1
        for v, size in zip(reversed(g.vars), reversed(g.shape), strict=True):
            old[v] = stride
            stride *= size
        # old flat index of every context key: decode the key's pieces (Horner order)
        key = np.arange(self.ckey_size, dtype=np.intp)
        old_ctx = np.zeros(self.ckey_size, dtype=np.intp)
        for v, size in reversed(self.ckey_vars):
            if v in old:
                old_ctx += (key % size) * old[v]
            key //= size
        index = old_ctx
        new_strides: list[tuple[int, int]] = []
        new_stride = self.ckey_size
        for v in reversed(scores):
            n = variables[v].n_pieces
            index = ((np.arange(n, dtype=np.intp) * old[v])[:, None] + index[None, :]).reshape(-1)
            new_strides.append((v, new_stride))
            new_stride *= n
        relaid = np.ascontiguousarray(table[index])
        return _Group(relaid, scores, new_strides, g.skip_zero, ckey=True)

    # ---- columns to pieces ---------------------------------------------------------------

    def _columns(self, contexts: Mapping[str, Any], scores: Mapping[str, Any]
                 ) -> tuple[int, list[Any]]:
        """Validated pieces per variable: an int array, a `_Score`, or an int constant."""
        enc = self.enc
        unknown = sorted(set(contexts) - enc.context_names)
        if unknown:
            raise InvalidEvent(f"unknown attribute(s) {some(unknown)}")
        unknown = sorted(set(scores) - enc.score_names)
        if unknown:
            raise InvalidEvent(f"unknown category score(s) {some(unknown)}")
        arrays = {k: np.asarray(v) for k, v in {**contexts, **scores}.items()}
        lengths = {a.shape[0] if a.ndim == 1 else -1 for a in arrays.values()}
        if len(lengths) > 1 or -1 in lengths:
            raise InvalidEvent("every context/score column must be a 1-d array of one length")
        n = lengths.pop() if lengths else 0
        pieces: list[Any] = []
        for i, var in enumerate(enc.variables):
            a = arrays.get(var.name)
            if a is None:
                if var.kind == "score":
                    pieces.append(enc.zero_piece[i])
                elif var.default is not None:
                    pieces.append(enc.piece[i](var.default))
                else:
                    raise InvalidEvent(f"attribute `{var.name}` is missing and has no default")
            elif var.kind == "score":
                pieces.append(self._score_column(i, a, n))
            else:
                pieces.append(self._context_column(i, a))
        return n, pieces

    def _bad(self, i: int, a: np.ndarray, rows: np.ndarray, what: str) -> InvalidEvent:
        r = int(np.flatnonzero(rows)[0])
        return InvalidEvent(f"row {r}: `{self.enc.variables[i].name}` = {describe(a[r])} {what}")

    def _context_column(self, i: int, a: np.ndarray) -> np.ndarray:
        var = self.enc.variables[i]
        if var.kind == "enum":
            if a.dtype.kind in "iu":  # already value indices
                if a.size and (a.min() < 0 or a.max() >= var.n_pieces):
                    raise self._bad(i, a, (a < 0) | (a >= var.n_pieces), "is not a value index")
                return a if a.dtype.kind == "i" else a.astype(np.int32)
            values = np.array(var.values, dtype=object if a.dtype.kind == "O" else None)
            order = np.argsort(values)
            sorted_values = values[order]
            k = np.searchsorted(sorted_values, a)
            k = np.minimum(k, len(values) - 1)
            found = sorted_values[k] == a
            if not np.all(found):
                raise self._bad(i, a, ~found, "is not a declared value")
            return order[k].astype(np.int32)
        if var.kind == "bool":
            if a.dtype.kind != "b":
                raise InvalidEvent(f"`{var.name}` must be a bool column")
            return a.view(np.int8)
        x = self._numeric(i, a)
        return np.searchsorted(np.array(doubled_cuts(list(var.cuts))), x, side="right")

    def _numeric(self, i: int, a: np.ndarray) -> np.ndarray:
        var = self.enc.variables[i]
        if a.dtype.kind not in "iuf":
            raise InvalidEvent(f"`{var.name}` must be a numeric column")
        x = a.astype(np.float64, copy=False)
        if x.size:
            lo, hi = x.min(), x.max()  # NaN fails both checks below
            valid = (lo >= 0.0 and hi <= 1.0) if var.kind == "score" else not np.isnan(lo + hi)
            if not valid:
                ok = (x >= 0.0) & (x <= 1.0) if var.kind == "score" else ~np.isnan(x)
                raise self._bad(i, a, ~ok, "is outside [0, 1]" if var.kind == "score"
                                else "is NaN")
        return x

    def _score_column(self, i: int, a: np.ndarray, n: int) -> _Score:
        zero = self.enc.zero_piece[i]
        if a.dtype.kind not in "iuf":
            self._numeric(i, a)  # raises
        rows = np.flatnonzero(a != 0)  # NaN and negatives included: validated below
        if rows.size > DENSE_FRACTION * n:
            x = self._numeric(i, a)
            return _Score(None, np.searchsorted(self.dcuts[i], x, side="right"), zero)
        x = a[rows].astype(np.float64, copy=False)
        if x.size and not (x.min() >= 0.0 and x.max() <= 1.0):
            self._numeric(i, a)  # raises with the first bad row
        return _Score(rows, np.searchsorted(self.dcuts[i], x, side="right"), zero)

    def _context_key(self, pieces: list[Any]) -> Column:
        """Horner over the attributes the tables read: one int32 per event (or a constant)."""
        assert self.ckey_vars is not None
        const = 0
        key: np.ndarray | None = None
        for v, size in self.ckey_vars:
            p = pieces[v]
            if key is not None:
                key *= size
                key += p
            elif isinstance(p, np.ndarray):
                key = p.astype(np.int32)
                if const:
                    key += const * size
            else:
                const = const * size + p
        return const if key is None else key

    # ---- deciding ------------------------------------------------------------------------

    def _best(self, ts: TableSetSpec, groups: list[_Group], n: int, pieces: list[Any],
              ckey: Column) -> np.ndarray:
        """Best rank per event over a table set (`sentinel` where nothing matches)."""
        dtype = np.result_type(*(g.table.dtype for g in groups)) if groups else np.int32
        best = np.full(n, ts.sentinel if ts.always is None else ts.always, dtype=dtype)
        for g in groups:
            rows = self._rows(g, n, pieces)
            if rows is False:
                continue
            idx = self._index(g, rows, n, pieces, ckey)
            got = g.table[idx]
            if rows is None:
                np.minimum(best, got, out=best)
            else:
                best[rows] = np.minimum(best[rows], got)
        for b in ts.boxes:
            match: Any = True
            for v, allowed in b.masks:
                lut = np.zeros(self.enc.variables[v].n_pieces, dtype=np.bool_)
                lut[allowed] = True
                match = match & lut[self._dense(pieces[v], n)]
            best = np.where(match, np.minimum(best, b.rank), best)
        return best

    def _rows(self, g: _Group, n: int, pieces: list[Any]) -> Any:
        """Rows the group can match: None (all), an index array, or False (none)."""
        if not g.skip_zero:
            return None
        cols = [pieces[v] for v in g.score_vars if isinstance(pieces[v], _Score)]
        if not cols:
            return False  # every score of the group is 0 in every event
        if any(c.rows is None for c in cols):
            return None
        rows = cols[0].rows
        for c in cols[1:]:
            rows = np.union1d(rows, c.rows)
        if rows.size == 0:
            return False
        return None if rows.size > DENSE_FRACTION * n else rows

    def _index(self, g: _Group, rows: np.ndarray | None, n: int, pieces: list[Any],
               ckey: Column) -> np.ndarray:
        idx: Column = 0
        if g.ckey:
            idx = ckey if rows is None or not isinstance(ckey, np.ndarray) else ckey[rows]
        for v, stride in g.strides:
            p = pieces[v]
            if isinstance(p, _Score):
                p = p.at(rows, n)
            elif isinstance(p, np.ndarray):  # small int dtypes: widen before multiplying
                p = (p if rows is None else p[rows]).astype(np.intp, copy=False)
            idx = idx + (p * stride if stride != 1 else p)
        if not isinstance(idx, np.ndarray):
            idx = np.full(n if rows is None else rows.size, idx, dtype=np.intp)
        return idx

    @staticmethod
    def _dense(p: Any, n: int) -> Column:
        return p.dense(n) if isinstance(p, _Score) else p

    def dense_pieces(self, n: int, pieces: list[Any]) -> list[np.ndarray]:
        """Every variable as a full int column (for the most-specific path)."""
        out = []
        for p in pieces:
            p = self._dense(p, n)
            out.append(p if isinstance(p, np.ndarray) else np.full(n, p, dtype=np.int32))
        return out

    def decide(self, contexts: Mapping[str, Any], scores: Mapping[str, Any]) -> BatchResult:
        n, pieces = self._columns(contexts, scores)
        ckey = self._context_key(pieces) if self.ckey_vars is not None else 0
        m = self.manifest
        if m.main is None:  # (compiled key-ordered bundles always have tables)
            best = np.zeros(n, dtype=np.int32)
        else:
            best = self._best(m.main, self.main, n, pieces, ckey)
        if not m.floor_rank:
            rule = self.rank_rule[best]
            decision = self.rank_decision[best]
        else:
            winner = self.rank_rule[best]
            floor = self.floor_rule[self._best(m.floors, self.floors, n, pieces, ckey)]
            rule = np.where(self.restr[floor] > self.restr[winner], floor, winner)
            decision = self.rule_decision[rule]
        error = rule < 0 if not self.has_default else np.zeros(n, dtype=np.bool_)
        return BatchResult(rule, decision, error, self.decisions)

    def pieces(self, contexts: Mapping[str, Any], scores: Mapping[str, Any]
               ) -> tuple[int, list[np.ndarray]]:
        """Validated full piece columns (for strategies decided event by event)."""
        n, pieces = self._columns(contexts, scores)
        return n, self.dense_pieces(n, pieces)
