"""The runtime checker: decides events from a verified bundle (LANGUAGE.md §4, §5, §7).

Two evaluation paths over the same compiled data, cross-checked by the tests:

- `check` (one event, pure Python): per variable and piece an int bitset of the
  entries allowing it; the matching entries are their AND. Entries are numbered
  best rank first, so for the key-ordered strategies the winner is the lowest set
  bit, and the bitset also gives `matched` for free.
- `check_batch` (numpy, no per-event Python loop): the dense group tables, the
  minimum rank over groups, then the locked floors.

Events are validated first; an invalid event raises `InvalidEvent` and is never
decided by a guess.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from policyc.runtime.bindings import Bindings, Failure
from policyc.runtime.bundle import BundleData, BundleError, DecisionSpec, TableSetSpec

RESTRICTIVENESS = {a: i for i, a in enumerate(
    ("allow", "warn", "redact", "redirect", "refuse", "escalate"))}
DECISION_SCHEMA = "policyc/decision/v1"


class InvalidEvent(ValueError):
    """An event the policy cannot decide: missing, unknown or ill-typed inputs."""


@dataclass
class RuntimeDecision:
    """One decision, with the identity of the policy that made it."""

    action: str
    argument: str | None
    rule: str | None  # None when `default` (or `on_error`) decided
    matched: tuple[str, ...]
    policy: str
    version: str
    hash: str
    scores: dict[str, float]
    errors: list[str] = field(default_factory=list)
    redacted: str | None = None
    spans: list[tuple[int, int]] = field(default_factory=list)
    floor: str | None = None  # the locked rule whose floor decided
    winner: str | None = None  # the rule the strategy picked (before any floor)

    def to_json(self) -> dict[str, Any]:
        """The CLI.md `policyc/decision/v1` object (errors/redaction only when present)."""
        out: dict[str, Any] = {
            "schema": DECISION_SCHEMA, "action": self.action, "argument": self.argument,
            "rule": self.rule, "policy": self.policy, "version": self.version,
            "hash": self.hash, "matched": list(self.matched), "scores": dict(self.scores)}
        if self.errors:
            out["errors"] = list(self.errors)
        if self.redacted is not None:
            out["redacted"] = self.redacted
            out["spans"] = [list(s) for s in self.spans]
        return out


@dataclass
class BatchResult:
    """Vectorized decisions: indices into `Checker.rules` (-1: default) and `decisions`."""

    rule: np.ndarray  # int32
    decision: np.ndarray  # int32 index into `decisions`
    error: np.ndarray  # bool: no rule matched and no default, `on_error` decided
    decisions: list[DecisionSpec]


def _bits(row: np.ndarray) -> int:
    return int.from_bytes(np.packbits(row, bitorder="little").tobytes(), "little")


def _bit_indices(mask: int) -> list[int]:
    out = []
    while mask:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
    return out


class Checker:
    """A loaded bundle, ready to decide (use `policyc.runtime.Bundle.load`)."""

    def __init__(self, data: BundleData):
        m = data.manifest
        self.data = data
        self.manifest = m
        self.policy, self.version, self.hash = m.policy, m.version, m.hash
        self.strategy = m.strategy
        self.key_ordered = m.strategy != "most-specific"
        self.rules = m.rules
        self.rule_ids = [r.id for r in m.rules]
        self.restr = [RESTRICTIVENESS[r.decision.action] for r in m.rules]
        self.decisions = list(m.decisions)
        self.variables = m.variables
        self.var_index = {v.name: i for i, v in enumerate(m.variables)}
        self.context_vars = [i for i, v in enumerate(m.variables) if v.kind != "score"]
        self.score_vars = [i for i, v in enumerate(m.variables) if v.kind == "score"]
        self.context_names = frozenset(m.variables[i].name for i in self.context_vars)
        self.score_names = frozenset(m.variables[i].name for i in self.score_vars)
        self.bindings = Bindings(data)
        n = m.n_entries
        entries = data.array(m.entries)
        entry_rule = data.array(m.entry_rule)
        total = sum(v.n_pieces for v in m.variables)
        if entries.shape != (total, n) or entries.dtype != np.bool_ or entry_rule.shape != (n,):
            raise BundleError(f"{data.source}: entry tables have the wrong shape")
        self.entry_rule: list[int] = [int(x) for x in entry_rule]
        if any(not 0 <= r < len(m.rules) for r in self.entry_rule):
            raise BundleError(f"{data.source}: entry table names an unknown rule")
        self.bits: list[list[int]] = []
        row = 0
        for v in m.variables:
            self.bits.append([_bits(entries[row + p]) for p in range(v.n_pieces)])
            row += v.n_pieces
        self.all_entries = (1 << n) - 1
        self.locked_entries = 0
        for e, r in enumerate(self.entry_rule):
            if m.rules[r].locked:
                self.locked_entries |= 1 << e
        self.floor_pos = {r: k for k, r in enumerate(m.floor_rank)}
        self._piece: list[Callable[[Any], int]] = [self._piece_fn(i) for i in
                                                   range(len(m.variables))]
        self.zero_piece = {i: self._piece[i](0.0) for i in self.score_vars}
        self._zero_masks: dict[tuple[int, ...], int] = {}
        self.contains: np.ndarray | None = None
        if not self.key_ordered:
            if m.contains is None:
                raise BundleError(f"{data.source}: most-specific bundle without containment")
            self.contains = data.array(m.contains)
        self._tables: dict[str, np.ndarray] = {}
        for ts in (m.main, m.floors):
            for g in ts.groups if ts else ():
                arr = data.array(g.table)
                if arr.size != math.prod(g.shape) or arr.ndim != 1:
                    raise BundleError(f"{data.source}: table {g.table} has the wrong shape")
                self._tables[g.table] = arr
        decision_index = {(d.action, d.argument): i for i, d in enumerate(self.decisions)}
        self.rule_decision = np.array(
            [decision_index[(r.decision.action, r.decision.argument)] for r in m.rules],
            dtype=np.int32)
        self.default_index = (decision_index[(m.default.action, m.default.argument)]
                              if m.default else -1)
        self.on_error_index = decision_index[(m.on_error.action, m.on_error.argument)]

    # ---- validation: values to pieces ---------------------------------------------------------

    def _piece_fn(self, i: int) -> Callable[[Any], int]:
        var = self.manifest.variables[i]
        name = var.name
        if var.kind == "enum":
            index = {v: k for k, v in enumerate(var.values)}
            allowed = ", ".join(str(v) for v in var.values)

            def enum_piece(x: Any) -> int:
                k = index.get(x) if isinstance(x, str) else None
                if k is None:
                    raise InvalidEvent(f"`{name}` = {x!r} is not a declared value "
                                       f"(expected one of: {allowed})")
                return k
            return enum_piece
        if var.kind == "bool":
            def bool_piece(x: Any) -> int:
                if isinstance(x, (bool, np.bool_)):
                    return int(bool(x))
                raise InvalidEvent(f"`{name}` must be true or false, not {x!r}")
            return bool_piece
        cuts = list(var.cuts)
        ncuts = len(cuts)
        score = var.kind == "score"

        def numeric_piece(x: Any) -> int:
            if isinstance(x, bool) or not isinstance(x, (int, float, np.number)):
                raise InvalidEvent(f"`{name}` must be a number, not {x!r}")
            x = float(x)
            if score:
                if not 0.0 <= x <= 1.0:
                    raise InvalidEvent(f"score of `{name}` is {x}, outside [0, 1]")
            elif x != x:
                raise InvalidEvent(f"`{name}` is NaN")
            k = bisect.bisect_left(cuts, x)
            return 2 * k + 1 if k < ncuts and cuts[k] == x else 2 * k
        return numeric_piece

    def _context_mask(self, context: Mapping[str, Any]) -> int:
        if not context.keys() <= self.context_names:
            unknown = sorted(set(context) - self.context_names)
            hint = " (a category score goes in `scores`)" if set(unknown) & self.score_names \
                else ""
            raise InvalidEvent(f"unknown attribute(s) {', '.join(f'`{u}`' for u in unknown)}"
                               f"{hint}; declared: {', '.join(sorted(self.context_names))}")
        m = self.all_entries
        variables = self.variables
        for i in self.context_vars:
            var = variables[i]
            x = context.get(var.name, None)
            if x is None:
                if var.default is None:
                    raise InvalidEvent(f"attribute `{var.name}` is missing and has no default")
                x = var.default
            m &= self.bits[i][self._piece[i](x)]
        return m

    def validate_scores(self, scores: Mapping[str, Any]) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, x in scores.items():
            i = self.var_index.get(name)
            if i is None or name not in self.score_names:
                if name in self.context_names:
                    raise InvalidEvent(f"`{name}` is an attribute, not a category score")
                raise InvalidEvent(f"unknown category `{name}` (scores are given for leaf "
                                   f"categories: {', '.join(sorted(self.score_names))})")
            self._piece[i](x)  # validates
            out[name] = float(x)
        return out

    def _score_mask(self, nonzero: dict[str, float]) -> int:
        idx = tuple(sorted(self.var_index[n] for n in nonzero))
        m = self._zero_masks.get(idx)
        if m is None:
            m = self.all_entries
            for i in self.score_vars:
                if i not in idx:
                    m &= self.bits[i][self.zero_piece[i]]
            if len(self._zero_masks) > 4096:
                self._zero_masks.clear()
            self._zero_masks[idx] = m
        for name, x in nonzero.items():
            i = self.var_index[name]
            m &= self.bits[i][self._piece[i](x)]
        return m

    # ---- resolution (LANGUAGE.md §4-§5) ----------------------------------------------------------

    def _resolve(self, m: int) -> tuple[int | None, int | None, list[int]]:
        """(winner rule, floor rule or None, matched rules in flattened order)."""
        if not m:
            return None, None, []
        er = self.entry_rule
        matched = sorted({er[e] for e in _bit_indices(m)})
        if self.key_ordered:
            winner = er[(m & -m).bit_length() - 1]  # entries are numbered best rank first
        else:
            winner = self._most_specific(matched)
        floor = None
        lm = m & self.locked_entries
        if lm:
            fp = self.floor_pos
            best = min({er[e] for e in _bit_indices(lm)}, key=fp.__getitem__)
            if self.restr[best] > self.restr[winner]:
                floor = best
        return winner, floor, matched

    def _most_specific(self, matched: list[int]) -> int:
        c = self.contains
        assert c is not None
        inside_all = [r for r in matched if all(c[s, r] for s in matched)]
        if inside_all:
            candidates = inside_all
        else:
            candidates = [r for r in matched if not any(
                s != r and c[r, s] and not c[s, r] for s in matched)]
        return max(candidates, key=lambda i: (self.restr[i], -self.rules[i].order))

    # ---- one event ----------------------------------------------------------------------

    def check(self, text: str | None = None, context: Mapping[str, Any] | None = None,
              scores: Mapping[str, Any] | None = None) -> RuntimeDecision:
        """Decide one event. Raises `InvalidEvent` for an event that cannot be decided."""
        m = self._context_mask(context or {})
        given = self.validate_scores(scores) if scores else {}
        failures: list[Failure] = []
        used = given
        if text is not None:
            if not isinstance(text, str):
                raise InvalidEvent(f"text must be a string, not {type(text).__name__}")
            if self.bindings.categories:
                computed, failures = self.bindings.scores(text, given.keys())  # type: ignore[arg-type]
                used = {**computed, **given}
        nonzero = {k: v for k, v in used.items() if v != 0.0}
        m &= self._score_mask(nonzero)
        winner, floor, matched = self._resolve(m)
        errors = [f.message for f in failures]
        rule = floor if floor is not None else winner
        if rule is not None:
            decision = self.rules[rule].decision
        elif self.manifest.default is not None:
            decision = self.manifest.default
        else:
            decision = self.manifest.on_error
            errors.append("no rule matched and the policy has no default: `on_error` decided")
        rule_id = None if rule is None else self.rule_ids[rule]
        if failures:
            fallback = self.manifest.on_error
            for f in failures:
                d = f.on_error or self.manifest.on_error
                if RESTRICTIVENESS[d.action] > RESTRICTIVENESS[fallback.action] or f is failures[0]:
                    fallback = d
            if RESTRICTIVENESS[decision.action] <= RESTRICTIVENESS[fallback.action]:
                decision, rule_id = fallback, None
                errors.append(f"`on_error` decided {fallback.action}")
        out = RuntimeDecision(
            decision.action, decision.argument, rule_id,
            tuple(self.rule_ids[r] for r in matched), self.policy, self.version, self.hash,
            nonzero, errors,
            floor=None if floor is None else self.rule_ids[floor],
            winner=None if winner is None else self.rule_ids[winner])
        if decision.action == "redact" and text is not None and self.bindings.detector_specs:
            # every matched redact rule's categories: a tie between two redact rules must
            # not let the loser's spans (say, an email next to a secret) leak
            cats: set[str] = set()
            for r in [*matched, *([] if rule is None else [rule])]:
                if self.rules[r].decision.action == "redact":
                    cats |= set(self.rules[r].categories)
            spans = self.bindings.spans(text, cats or None)
            from policyc.runtime.detectors import redact

            out.spans = spans
            out.redacted = redact(text, spans)
        return out

    # ---- many events (vectorized) ------------------------------------------------------------

    def _pieces_batch(self, contexts: Mapping[str, Any], scores: Mapping[str, Any]
                      ) -> tuple[int, list[Any]]:
        """Validated piece indices per variable: an int32 array, or an int for a constant."""
        unknown = sorted(set(contexts) - self.context_names)
        if unknown:
            raise InvalidEvent(f"unknown attribute(s) {', '.join(unknown)}")
        unknown = sorted(set(scores) - self.score_names)
        if unknown:
            raise InvalidEvent(f"unknown category score(s) {', '.join(unknown)}")
        arrays = {k: np.asarray(v) for k, v in {**contexts, **scores}.items()}
        lengths = {a.shape[0] if a.ndim == 1 else -1 for a in arrays.values()}
        if len(lengths) > 1 or -1 in lengths:
            raise InvalidEvent("every context/score column must be a 1-d array of one length")
        n = lengths.pop() if lengths else 0
        pieces: list[Any] = []
        for i, var in enumerate(self.variables):
            a = arrays.get(var.name)
            if a is None:
                if var.kind == "score":
                    pieces.append(self.zero_piece[i])
                elif var.default is not None:
                    pieces.append(self._piece[i](var.default))
                else:
                    raise InvalidEvent(f"attribute `{var.name}` is missing and has no default")
                continue
            pieces.append(self._pieces_of(i, a))
        return n, pieces

    def _pieces_of(self, i: int, a: np.ndarray) -> np.ndarray:
        var = self.variables[i]

        def bad(rows: np.ndarray, what: str) -> InvalidEvent:
            r = int(np.flatnonzero(rows)[0])
            return InvalidEvent(f"row {r}: `{var.name}` = {a[r]!r} {what}")

        if var.kind == "enum":
            if a.dtype.kind in "iu":  # already value indices
                out = a.astype(np.int32)
                if out.size and (out.min() < 0 or out.max() >= var.n_pieces):
                    raise bad((out < 0) | (out >= var.n_pieces), "is not a value index")
                return out
            values = np.array(var.values, dtype=object if a.dtype.kind == "O" else None)
            order = np.argsort(values)
            sorted_values = values[order]
            k = np.searchsorted(sorted_values, a)
            k = np.minimum(k, len(values) - 1)
            found = sorted_values[k] == a
            if not np.all(found):
                raise bad(~found, "is not a declared value")
            return order[k].astype(np.int32)
        if var.kind == "bool":
            if a.dtype.kind != "b":
                raise InvalidEvent(f"`{var.name}` must be a bool column")
            return a.astype(np.int32)
        if a.dtype.kind not in "iuf":
            raise InvalidEvent(f"`{var.name}` must be a numeric column")
        x = a.astype(np.float64, copy=False)
        if x.size:
            lo, hi = x.min(), x.max()  # NaN fails both checks below
            valid = (lo >= 0.0 and hi <= 1.0) if var.kind == "score" else not np.isnan(lo + hi)
            if not valid:
                ok = (x >= 0.0) & (x <= 1.0) if var.kind == "score" else ~np.isnan(x)
                raise bad(~ok, "is outside [0, 1]" if var.kind == "score" else "is NaN")
        cuts = np.array(var.cuts, dtype=np.float64)
        # left + right insertion points = 2k (+1 when x equals cut k): the piece index
        left = np.searchsorted(cuts, x, side="left").astype(np.int32)
        left += np.searchsorted(cuts, x, side="right").astype(np.int32)
        return left

    def _best(self, ts: TableSetSpec | None, n: int, pieces: list[Any]) -> np.ndarray:
        """Best rank per event over a table set (`sentinel` where nothing matches)."""
        if ts is None:
            return np.zeros(n, dtype=np.int32)
        best = np.full(n, ts.sentinel if ts.always is None else ts.always, dtype=np.int32)
        for g in ts.groups:
            table = self._tables[g.table]
            rows: np.ndarray | None = None
            if g.skip_zero:
                live = [pieces[v] != self.zero_piece[v] for v in g.score_vars
                        if isinstance(pieces[v], np.ndarray)]
                if not live:
                    continue  # every score of the group is 0 in every event
                any_live = live[0] if len(live) == 1 else np.logical_or.reduce(live)
                rows = np.flatnonzero(any_live)
                if rows.size == 0:
                    continue
                if rows.size > n // 4:
                    rows = None
            idx: Any = 0
            stride = 1
            for v, size in zip(reversed(g.vars), reversed(g.shape), strict=False):
                p = pieces[v]
                if rows is not None and isinstance(p, np.ndarray):
                    p = p[rows]
                idx = idx + p * stride if stride != 1 else p + idx
                stride *= size
            got = table[idx]
            if rows is None:
                np.minimum(best, got, out=best)
            else:
                best[rows] = np.minimum(best[rows], got)
        for b in ts.boxes:
            match: Any = True
            for v, allowed in b.masks:
                lut = np.zeros(self.variables[v].n_pieces, dtype=np.bool_)
                lut[allowed] = True
                match = match & lut[pieces[v]]
            best = np.where(match, np.minimum(best, b.rank), best)
        return best

    def check_batch(self, contexts: Mapping[str, Any] | None = None,
                    scores: Mapping[str, Any] | None = None) -> BatchResult:
        """Decide many events given as columns (attribute/category -> array).

        Enum columns hold the values (strings) or their indices in declaration order;
        a missing score column is all zeros. Text is not taken here: compute the
        scores first (`bindings.scores`) or use `check`. Raises `InvalidEvent` on
        the first invalid row.
        """
        n, pieces = self._pieces_batch(contexts or {}, scores or {})
        if not self.key_ordered:
            return self._batch_general(n, pieces)
        m = self.manifest
        rank = np.array([*m.rank, -1], dtype=np.int32)  # sentinel (= n_rules) -> -1
        winner = rank[self._best(m.main, n, pieces)]
        if m.floor_rank:
            frank = np.array([*m.floor_rank, -1], dtype=np.int32)
            floor = frank[self._best(m.floors, n, pieces)]
            restr = np.array([*self.restr, -1], dtype=np.int8)
            rule = np.where(restr[floor] > restr[winner], floor, winner)
        else:
            rule = winner
        return self._finish(rule)

    def _finish(self, rule: np.ndarray) -> BatchResult:
        none = rule < 0
        fallback = self.default_index if self.default_index >= 0 else self.on_error_index
        decision = np.where(none, fallback, self.rule_decision[np.maximum(rule, 0)]) \
            if len(self.rule_decision) else np.full(rule.shape, fallback, dtype=np.int32)
        error = none if self.default_index < 0 else np.zeros(rule.shape, dtype=np.bool_)
        return BatchResult(rule.astype(np.int32), decision.astype(np.int32), error,
                           self.decisions)

    def _batch_general(self, n: int, pieces: list[Any]) -> BatchResult:
        """most-specific: the containment test is per matching set, so one event at a time."""
        cols = [p if isinstance(p, np.ndarray) else np.full(n, p, dtype=np.int32)
                for p in pieces]
        rule = np.full(n, -1, dtype=np.int32)
        for k in range(n):
            m = self.all_entries
            for i, col in enumerate(cols):
                m &= self.bits[i][int(col[k])]
            winner, floor, _ = self._resolve(m)
            r = floor if floor is not None else winner
            rule[k] = -1 if r is None else r
        return self._finish(rule)

    def decide_texts(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Scores of many texts from the bindings (convenience for callers of `check_batch`)."""
        return [self.bindings.scores(t)[0] for t in texts]
