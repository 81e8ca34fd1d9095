"""One event to the bitset of the entries it can match (validated, never guessed).

Per variable and piece, an int bitset of the entries allowing that piece; an event's
matching entries are the AND over its variables. Two implementations:

- `fast_mask`: the hot path. Everything is precomputed at load into plain Python
  dicts, lists and ints (numpy scalar operations cost ~100 ns each): value ->
  bitset tables for enums and bools, per score a doubled cut list so that one
  `bisect` gives the piece, and the bitsets of "every other score is 0". It
  returns -1 on anything unusual (a missing attribute without default, an
  ill-typed or unknown value, ...), and the caller falls back to:
- `context_mask` + `validate_scores` + `score_mask`: the reference path, which
  raises `InvalidEvent` with the precise message.

So the fast path never decides an event the reference path would refuse.
"""

from __future__ import annotations

import bisect
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from policyc.runtime.bundle import BundleData, VariableSpec
from policyc.runtime.jsonl import dumps_value

#: Distinct contexts remembered by the hot path (cleared when full).
CONTEXT_CACHE_SIZE = 4096
_bisect_right = bisect.bisect_right  # one lookup less per score on the hot path


class InvalidEvent(ValueError):
    """An event the policy cannot decide: missing, unknown or ill-typed inputs."""


def describe(x: Any) -> str:
    """A value as an error message shows it: JSON-like and short (`0.5`, `"kid"`, `null`,
    `an array`), never a numpy repr; lone surrogates escaped so it always prints."""
    if x is None:
        return "null"
    if isinstance(x, (bool, np.bool_)):
        return "true" if x else "false"
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, str):
        s = x if len(x) <= 40 else x[:40] + "…"
        return dumps_value(s)
    if isinstance(x, int):
        if x.bit_length() < 128:
            return str(x)
        return f"an integer of about {int(x.bit_length() * 0.30103) + 1} digits"
    if isinstance(x, float):
        return repr(x)
    if isinstance(x, (list, tuple, np.ndarray)):
        return "an array"
    if isinstance(x, Mapping):
        return "an object"
    return f"a {type(x).__name__}"


def check_id(event_id: Any) -> None:
    """An event's `id` is a string or a finite number (what a JSON line can echo)."""
    if not isinstance(event_id, (str, int, float)) or event_id is True or event_id is False \
            or (isinstance(event_id, float) and not math.isfinite(event_id)):
        raise InvalidEvent(f"`id` must be a string or a number, not {describe(event_id)}")


def some(items: list[Any], show: Callable[[Any], str] = str, limit: int = 5) -> str:
    """The first `limit` of a message's items, then how many in all: a line with 300,000
    unknown keys got a 3 MB message (and a server a 3 MB answer)."""
    more = f", … ({len(items)} in all)" if len(items) > limit else ""
    return ", ".join(map(show, items[:limit])) + more


def _name(n: str) -> str:
    return f"`{n if len(n) <= 40 else n[:40] + '…'}`"


#: The keys of an event given as a JSON object (`policyc check --input`).
EVENT_KEYS = ("id", "text", "context", "scores")


_EVENT_KEYS = frozenset(EVENT_KEYS)
_ABSENT: Any = object()


def event_from_json(obj: Any) -> tuple[Any, str | None, dict[str, Any], dict[str, Any]]:
    """(id, text, context, scores) of a JSON event (docs/cli.md, *Batch input*).

    Every key is optional but one of `text`/`context`/`scores`; `id` is a string or a
    number, `text` a string, `context` and `scores` objects. `null` is never a value:
    not for these keys, not for an attribute or a score (the checker says so).
    (One `get` a key and a set test for unknown keys: a server reads one per request.)
    """
    if not isinstance(obj, dict):
        raise InvalidEvent(f"expected a JSON object, not {describe(obj)}")
    if not _EVENT_KEYS.issuperset(obj):
        unknown = [k for k in obj if k not in _EVENT_KEYS]
        raise InvalidEvent(f"unknown key(s) {some(unknown, describe)} "
                           "(an event has `id`, `text`, `context`, `scores`)")
    get = obj.get
    text, context, scores = get("text", _ABSENT), get("context", _ABSENT), \
        get("scores", _ABSENT)
    if text is _ABSENT and context is _ABSENT and scores is _ABSENT:
        raise InvalidEvent("an event needs one of `text`, `context`, `scores`")
    event_id = get("id", _ABSENT)
    if event_id is _ABSENT:
        event_id = None
    elif type(event_id) is not str:
        check_id(event_id)
    if text is _ABSENT:
        text = None
    elif not isinstance(text, str):
        raise InvalidEvent(f"`text` must be a string, not {describe(text)}")
    if context is _ABSENT:
        context = {}
    elif not isinstance(context, dict):
        raise InvalidEvent(f"`context` must be an object, not {describe(context)}")
    if scores is _ABSENT:
        scores = {}
    elif not isinstance(scores, dict):
        raise InvalidEvent(f"`scores` must be an object, not {describe(scores)}")
    return event_id, text, context, scores


def _bits(row: np.ndarray) -> int:
    return int.from_bytes(np.packbits(row, bitorder="little").tobytes(), "little")


def piece_fn(var: VariableSpec) -> Callable[[Any], int]:
    """Value -> piece index of `var`, raising `InvalidEvent` for an invalid value."""
    name = var.name
    if var.kind == "enum":
        index = {v: k for k, v in enumerate(var.values)}
        allowed = ", ".join(str(v) for v in var.values)

        def enum_piece(x: Any) -> int:
            k = index.get(x) if isinstance(x, str) else None
            if k is None:
                raise InvalidEvent(f"`{name}` = {describe(x)} is not a declared value "
                                   f"(expected one of: {allowed})")
            return k
        return enum_piece
    if var.kind == "bool":
        def bool_piece(x: Any) -> int:
            if isinstance(x, (bool, np.bool_)):
                return int(bool(x))
            raise InvalidEvent(f"`{name}` must be true or false, not {describe(x)}")
        return bool_piece
    cuts = list(var.cuts)
    ncuts = len(cuts)
    score = var.kind == "score"

    def numeric_piece(x: Any) -> int:
        if isinstance(x, bool) or not isinstance(x, (int, float, np.number)):
            raise InvalidEvent(f"`{name}` must be a number, not {describe(x)}")
        try:
            x = float(x)
        except OverflowError:  # an int of 2**1024 or more
            raise InvalidEvent(f"`{name}` = {describe(x)} is out of range") from None
        if score:
            if not 0.0 <= x <= 1.0:
                raise InvalidEvent(f"score of `{name}` is {describe(x)}, outside [0, 1]")
        elif x != x:
            raise InvalidEvent(f"`{name}` is NaN")
        k = bisect.bisect_left(cuts, x)
        return 2 * k + 1 if k < ncuts and cuts[k] == x else 2 * k
    return numeric_piece


def doubled_cuts(cuts: list[float]) -> list[float]:
    """[c0, c0⁺, c1, c1⁺, ...] (c⁺ = next float up): `bisect_right` of x is its piece.

    Pieces alternate "between cuts" and "at a cut": x < c0 is 0, x == c0 is 1,
    c0 < x < c1 is 2, ...; and c < x exactly when c⁺ <= x.
    """
    out: list[float] = []
    for c in cuts:
        out += [c, math.nextafter(c, math.inf)]
    return out


class EventEncoder:
    """Validates events and turns them into entry bitsets (see the module docstring)."""

    def __init__(self, data: BundleData):
        m = data.manifest
        self.variables = m.variables
        self.var_index = {v.name: i for i, v in enumerate(m.variables)}
        self.context_vars = [i for i, v in enumerate(m.variables) if v.kind != "score"]
        self.score_vars = [i for i, v in enumerate(m.variables) if v.kind == "score"]
        self.context_names = frozenset(m.variables[i].name for i in self.context_vars)
        self.score_names = frozenset(m.variables[i].name for i in self.score_vars)
        n = m.n_entries
        entries = data.array(m.entries)  # bool [pieces, entries], checked at load
        self.bits: list[list[int]] = []
        row = 0
        for v in m.variables:
            self.bits.append([_bits(entries[row + p]) for p in range(v.n_pieces)])
            row += v.n_pieces
        self.all_entries = (1 << n) - 1
        self.piece: list[Callable[[Any], int]] = [piece_fn(v) for v in m.variables]
        self.zero_piece = {i: self.piece[i](0.0) for i in self.score_vars}
        self._zero_masks: dict[frozenset[str], int] = {}
        self._build_fast_tables()

    def _build_fast_tables(self) -> None:
        bits, variables = self.bits, self.variables
        #: (attribute, value) -> bitset, for every enum and bool value
        self._ctx_pairs: dict[tuple[str, Any], int] = {}
        #: bool attributes: a pair lookup also hits for 1, 0.0, ... (== True/False)
        self._bool_names: tuple[str, ...] = tuple(
            variables[i].name for i in self.context_vars if variables[i].kind == "bool")
        #: attributes with a default -> the default's bitset (a missing one without: None)
        self._ctx_default: list[tuple[str, int | None]] = []
        self.all_defaults: int | None = self.all_entries
        for i in self.context_vars:
            var = variables[i]
            if var.kind in ("enum", "bool"):
                values = [x for x in var.values if isinstance(x, str)] if var.kind == "enum" \
                    else [False, True]
                for x in values:
                    self._ctx_pairs[(var.name, x)] = bits[i][self.piece[i](x)]
            b = None if var.default is None else bits[i][self.piece[i](var.default)]
            self._ctx_default.append((var.name, b))
            self.all_defaults = None if b is None or self.all_defaults is None \
                else self.all_defaults & b
        self._n_context = len(self.context_vars)
        # Contexts repeat, so a context giving every attribute is cached by its values
        # (in declaration order: `ctx_key`, a C-level itemgetter that always returns a
        # tuple). `==` cannot tell True from 1 or 1.0, so a hit still checks the types of
        # bools and numbers (`ctx_typed`: position, allowed types).
        names = [variables[i].name for i in self.context_vars]
        self.ctx_key: Callable[[Mapping[str, Any]], tuple[Any, ...]] | None = \
            None if not names else operator.itemgetter(*(names * 2 if len(names) == 1 else names))
        self.ctx_cache: dict[tuple[Any, ...], int] = {}
        self.ctx_typed: tuple[tuple[int, frozenset[type]], ...] = tuple(
            (k, frozenset((bool,) if variables[i].kind == "bool" else (int, float)))
            for k, i in enumerate(self.context_vars) if variables[i].kind != "enum")
        # per score: (doubled cuts, bitsets per piece, the same AND "every other score is 0")
        zero = [bits[i][self.zero_piece[i]] for i in self.score_vars]
        self.all_zero = self.all_entries
        for z in zero:
            self.all_zero &= z
        self.score_table: dict[str, tuple[list[float], list[int], list[int]]] = {}
        for k, i in enumerate(self.score_vars):
            others = self.all_entries
            for j, z in enumerate(zero):
                if j != k:
                    others &= z
            self.score_table[variables[i].name] = (
                doubled_cuts(list(variables[i].cuts)), bits[i], [b & others for b in bits[i]])

    # ---- one event's mask (`Checker.check`; `_specialized_check` inlines the cache hit) ---

    def context_hit(self, context: Mapping[str, Any]) -> int:
        """The attributes' mask from the cache, or -1 (inlined in `_specialized_check`)."""
        if len(context) != self._n_context or self.ctx_key is None:
            return -1
        try:
            key = self.ctx_key(context)
            m = self.ctx_cache.get(key, -1)
        except (KeyError, TypeError):  # another attribute; an unhashable value
            return -1
        for k, types in self.ctx_typed:
            if type(key[k]) not in types:
                return -1
        return m

    def fast_mask(self, context: Mapping[str, Any] | None, scores: Mapping[str, Any] | None,
                  nonzero: dict[str, float]) -> int:
        """The event's entry mask, or -1: use the reference path. Fills `nonzero` (floats)."""
        if context:
            m = self.context_hit(context)
            if m < 0:
                m = self.context_loop(context)
        else:
            m = self.all_defaults if self.all_defaults is not None else -1
        if m < 0:
            return -1
        return self.scores_mask(m, scores, nonzero) if scores else m & self.all_zero

    def scores_mask(self, m: int, scores: Mapping[str, Any], nonzero: dict[str, float]) -> int:
        """Any number of scores (ints, zeros): -1 for anything the reference path must see."""
        table = self.score_table
        for name, x in scores.items():
            if name not in table or type(x) is not float and type(x) is not int \
                    or not 0.0 <= x <= 1.0:
                return -1
            if x != 0.0:
                nonzero[name] = float(x)
        if len(nonzero) == 1:
            for name, x in nonzero.items():
                s = table[name]
                return m & s[2][_bisect_right(s[0], x)]
        for name, x in nonzero.items():
            s = table[name]
            m &= s[1][_bisect_right(s[0], x)]
        return m & self._zero_mask(nonzero)

    def context_loop(self, context: Mapping[str, Any]) -> int:
        """Per attribute: pair lookups, numbers by `bisect`, defaults; -1 if invalid.

        Only plain values pass (str, bool, int, float; numpy scalars go to the reference
        path), so the contexts it caches (those giving every attribute) hold only those.
        """
        m = self.all_entries
        pairs = self._ctx_pairs
        try:
            for item in context.items():
                b = pairs.get(item)
                if b is None:
                    b = self._context_bits(item)
                    if b is None:
                        return -1
                m &= b
        except TypeError:  # an unhashable value
            return -1
        for name in self._bool_names:
            x = context.get(name, False)
            if x is not True and x is not False:
                return -1
        if len(context) != self._n_context:
            for name, b in self._ctx_default:
                if name not in context:
                    if b is None:
                        return -1
                    m &= b
        elif self.ctx_key is not None:
            if len(self.ctx_cache) >= CONTEXT_CACHE_SIZE:
                self.ctx_cache.clear()
            self.ctx_cache[self.ctx_key(context)] = m
        return m

    def _context_bits(self, item: tuple[str, Any]) -> int | None:
        """A number attribute's bitset (None: unknown, invalid or not a number attribute)."""
        name, x = item
        i = self.var_index.get(name)
        if i is None or self.variables[i].kind != "number" or name not in self.context_names:
            return None
        if type(x) is not float and type(x) is not int or x != x:
            return None
        return self.bits[i][self.piece[i](x)]

    def _zero_mask(self, nonzero: Mapping[str, float]) -> int:
        """AND of the zero-piece bitsets of every score not in `nonzero` (cached by name set)."""
        names = frozenset(nonzero)
        m = self._zero_masks.get(names)
        if m is None:
            m = self.all_entries
            for i in self.score_vars:
                if self.variables[i].name not in names:
                    m &= self.bits[i][self.zero_piece[i]]
            if len(self._zero_masks) > 4096:
                self._zero_masks.clear()
            self._zero_masks[names] = m
        return m

    # ---- the reference path (precise errors) ---------------------------------------------

    def context_mask(self, context: Mapping[str, Any]) -> int:
        if not context.keys() <= self.context_names:
            unknown = sorted(set(context) - self.context_names)
            hint = " (a category score goes in `scores`)" if set(unknown) & self.score_names \
                else ""
            raise InvalidEvent(f"unknown attribute(s) {some(unknown, _name)}"
                               f"{hint}; declared: {', '.join(sorted(self.context_names))}")
        m = self.all_entries
        variables = self.variables
        for i in self.context_vars:
            var = variables[i]
            if var.name in context:
                x = context[var.name]  # `None` included: `null` is no value (not the default)
            elif var.default is None:
                raise InvalidEvent(f"attribute `{var.name}` is missing and has no default")
            else:
                x = var.default
            m &= self.bits[i][self.piece[i](x)]
        return m

    def validate_scores(self, scores: Mapping[str, Any]) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, x in scores.items():
            i = self.var_index.get(name)
            if i is None or name not in self.score_names:
                if name in self.context_names:
                    raise InvalidEvent(f"`{name}` is an attribute, not a category score")
                raise InvalidEvent(f"unknown category {_name(name)} (scores are given for leaf "
                                   f"categories: {', '.join(sorted(self.score_names))})")
            self.piece[i](x)  # validates
            out[name] = float(x)
        return out

    def score_mask(self, nonzero: dict[str, float]) -> int:
        m = self._zero_mask(nonzero)
        for name, x in nonzero.items():
            i = self.var_index[name]
            m &= self.bits[i][self.piece[i](x)]
        return m
