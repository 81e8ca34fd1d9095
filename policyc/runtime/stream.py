"""The streaming batch engine: events in chunks, decided per distinct combination.

One engine under `policyc check --input` (JSON Lines here, Parquet in `columns.py`),
`policyc replay` and its Ray path. Whatever the input, a chunk goes through the same
three steps:

1. **Columns.** Each event's attributes and scores become one column of pieces per
   variable (the piece of a value: which side of each cut it lies on, exactly as
   `EventEncoder.piece` computes it), built with numpy where the input is columnar and
   with one tight comprehension per variable where it is JSON. A row that is not a
   plain event (text, a value of the wrong type, an unknown name, a score outside
   [0, 1], anything odd) is not guessed at: it is marked for the reference path.
2. **Decide.** The pieces of all variables fold into one key per row; `np.unique`
   gives the distinct keys of the chunk, and each distinct key is decided once by the
   checker's own resolution (`Checker._decide` on the AND of its pieces' bitsets), so
   every field a decision carries (`matched`, `winner`, `floor`, the `on_error`
   message) is there, for every strategy. A policy has few distinct combinations
   (tens to thousands), so a chunk costs a handful of decisions plus numpy.
3. **Reference path.** Every row set aside in step 1 is decided by the per-event path
   of today (`jsonl.parse_line`, `events.event_from_json`, `Checker.check`): its
   decision, or its error message, is exactly the per-event one. Text events take it
   too (binding failures per event through `on_error`, redaction spans and text).

Output is written in input order, a chunk at a time, decisions then audit records, so
a stop between chunks leaves both ending on the same event.

JSON is decoded with orjson (strict: NaN/Infinity, invalid UTF-8, lone surrogates and
numbers out of double range are refused). Three things it does differently from the
strict reader of `jsonl.py` are caught before a row is trusted: a float of 9.2e18 or
more (orjson turns integers past 64 bits into floats) sends the line to the strict
reader, and so does a line whose colons do not add up to its decoded keys plus the
colons inside its decoded strings (a duplicate key, which orjson keeps the last of,
always leaves an extra colon) or that escapes a character of U+0030-U+003F.
Any line orjson refuses is read again by the strict reader, which gives today's
message.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import IO, Any

import numpy as np
import orjson

from policyc.runtime.audit import AUDIT_SCHEMA, audit_record, new_decision_id, now
from policyc.runtime.checker import Checker
from policyc.runtime.events import InvalidEvent, doubled_cuts, event_from_json
from policyc.runtime.float_text import small_float_reprs
from policyc.runtime.jsonl import MAX_LINE_BYTES, BadLine, Line, Tally, dumps_line, parse_line

#: Bytes read at a time (a chunk is the whole lines of one read; `read1` on a pipe
#: returns what is there, so an interactive producer is answered at once).
CHUNK_BYTES = 1 << 20
#: Text events are read in smaller chunks: scoring them costs ~100x deciding them, and
#: the model thread scores one chunk while the next is decoded (`decided_chunks`).
TEXT_CHUNK_BYTES = 1 << 18
#: Distinct combinations remembered across chunks (their decided output fragments).
COMBO_CACHE = 1 << 16

_MISSING = object()
#: orjson reads an integer past 64 bits as a float: a float this large goes to the
#: strict reader (which keeps the integer, or refuses a number out of double range)
_BIG = 9.2e18
_EVENT_KEYS = frozenset(("id", "text", "context", "scores"))
_PLAIN_KEYS = frozenset(("id", "context", "scores"))  # an event the columns can take
_TEXT_KEYS = frozenset(("id", "text", "context", "scores"))
_SCALAR_ID = (str, int, float)
_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError


class Interrupted(Exception):
    """What a signal handler raises to end a wait for input (nothing is in flight)."""


# ---- reading: whole lines, a chunk at a time ---------------------------------------------

@dataclass
class Chunk:
    """Consecutive lines: `raws[k]` is line `first + k` (None: too long to read)."""

    first: int
    raws: list[bytes | None]
    end: int  # input byte offset after the chunk (for progress)


def read_chunks(stream: IO[bytes], chunk_bytes: int = CHUNK_BYTES,
                max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[Chunk]:
    """The lines of a binary stream as `jsonl.read_lines` splits them, in chunks. A line
    that spans reads is kept as its blocks and joined once it ends, so it costs time
    linear in its length (a pipe delivers 64 KiB a read: re-joining the partial line at
    every read made a 60 MiB line take 26 s)."""
    read = getattr(stream, "read1", None) or stream.read
    number = offset = 0
    pending: list[bytes] = []  # the blocks of the line not ended yet
    pending_len = 0
    too_long = False  # inside a line longer than `max_line_bytes` (dropped as it comes)
    first_line = True
    while True:
        block = read(chunk_bytes)
        offset += len(block)
        if not block:
            raws: list[bytes | None] = []
            if too_long:
                raws.append(None)
            elif pending_len:
                carry = b"".join(pending)
                raws.append(_bom(carry) if first_line else carry)
            if raws:
                yield Chunk(number + 1, raws, offset)
            return
        if b"\n" not in block:  # the line goes on: keep the block, unless too long
            if not too_long:
                pending.append(block)
                pending_len += len(block)
                if pending_len > max_line_bytes:
                    too_long, pending, pending_len = True, [], 0
            continue
        data = b"".join(pending) + block if pending else block
        parts: list[Any] = data.split(b"\n")
        carry = parts.pop()
        pending, pending_len = ([carry], len(carry)) if carry else ([], 0)
        if too_long:  # the long line ends in this block
            parts[0] = None
            too_long = False
        if pending_len > max_line_bytes:
            too_long, pending, pending_len = True, [], 0
        if b"\r" in data:
            parts = [p[:-1] if p and p[-1] == 13 else p for p in parts]
        if len(data) > max_line_bytes:  # else no line can be too long
            for k, p in enumerate(parts):
                if p is not None and len(p) > max_line_bytes:
                    parts[k] = None
        if first_line:
            if parts[0] is not None:
                parts[0] = _bom(parts[0])
            first_line = False
        yield Chunk(number + 1, parts, offset - pending_len)
        number += len(parts)


def _bom(raw: bytes) -> bytes:
    return raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw


# ---- columns to pieces, and pieces to decisions --------------------------------------------

class Columns:
    """One chunk's plain events as columns: per variable name, the values of every row
    (`_MISSING` where absent), plus per-row ids and rows already known to be bad."""

    def __init__(self, n: int):
        self.n = n
        self.values: dict[str, Any] = {}  # variable name -> list or ndarray of values
        self.pieces: dict[str, np.ndarray] = {}  # variable name -> pieces (-1: bad row)
        self.bad = np.zeros(n, dtype=np.bool_)  # rows for the reference path
        #: rows with a text (not decided from the columns) and, of them, the ones without
        #: a given score: `scores_batch` may score those (`Engine.decide`)
        self.text: np.ndarray | None = None
        self.text_only: np.ndarray | None = None


@dataclass
class Fragments:
    """A decided combination, as the text around an event's id and scores."""

    out_mid: str  # `, "schema": …, "matched": […], "scores": `
    out_tail: str  # `}` or `, "errors": […]}`
    audit_mid: str  # `, "policy": …, "errors": […], "scores": `
    action: str
    argument: str | None
    rule: str | None
    winner: str | None
    floor: str | None
    matched: tuple[str, ...]
    errors: list[str]
    # the same as bytes, around the inside of the `scores` object, for `JsonlEngine`
    b_mid: bytes = b""  # out_mid + `{`
    b_tail: bytes = b""  # `}` + out_tail + `{"id": ` (the start of the next line)
    b_audit_mid: bytes = b""  # audit_mid + `{`

    def __str__(self) -> str:
        """The decision as `policyc check` shows it: `refuse`, `redirect("crisis")`."""
        return self.action if self.argument is None else f'{self.action}("{self.argument}")'


@dataclass
class Decided:
    """A chunk's decisions: `frags[index[k]]` is row k's (index -1: the row is bad, its
    message in `errors`); rows the reference path decided with text have `redacted`."""

    frags: list[Fragments]
    index: np.ndarray
    errors: dict[int, str] = field(default_factory=dict)
    redacted: dict[int, tuple[str, list[tuple[int, int]]]] = field(default_factory=dict)
    decisions: dict[int, Any] = field(default_factory=dict)  # row -> reference decision
    ids: list[Any] | None = None  # each row's id, when the caller has them (JSON Lines)
    score_texts: dict[int, str] = field(default_factory=dict)  # text rows: their `scores`

    def id_of(self, k: int) -> Any:
        return self.ids[k] if self.ids is not None else None


def fragments_of(d: Any) -> Fragments:
    """The output fragments of a decision (`RuntimeDecision`)."""
    dd = d.to_dict()
    del dd["scores"]
    errors = dd.pop("errors", [])
    dd.pop("redacted", None)
    dd.pop("spans", None)
    rec = audit_record(d, None, time="", decision_id="")
    for k in ("schema", "decision_id", "time", "id", "scores"):
        del rec[k]
    out_mid = ", " + json.dumps(dd, ensure_ascii=False)[1:-1] + ', "scores": '
    out_tail = (', "errors": ' + json.dumps(errors, ensure_ascii=False) if errors else "") \
        + "}\n"
    audit_mid = ", " + json.dumps(rec, ensure_ascii=False)[1:-1] + ', "scores": '
    return Fragments(
        out_mid=out_mid, out_tail=out_tail, audit_mid=audit_mid,
        action=d.action, argument=d.argument, rule=d.rule, winner=d.winner, floor=d.floor,
        matched=tuple(d.matched), errors=list(errors),
        b_mid=(out_mid + "{").encode("utf-8"),
        b_tail=("}" + out_tail + '{"id": ').encode("utf-8"),
        b_audit_mid=(audit_mid + "{").encode("utf-8"))


class Engine:
    """The chunk engine for one checker (see the module doc)."""

    def __init__(self, checker: Checker):
        self.checker = checker
        enc = checker.encoder
        self.variables = enc.variables
        self.context_vars = enc.context_vars
        self.score_vars = enc.score_vars
        self.context_names = enc.context_names
        self.score_names = enc.score_names
        self.sizes = [v.n_pieces for v in enc.variables]
        self.horner = math.prod(self.sizes) < (1 << 62)
        self.dcuts = {i: np.array(doubled_cuts(list(v.cuts)), dtype=np.float64)
                      for i, v in enumerate(enc.variables) if v.kind in ("number", "score")}
        # enum value -> piece (and `_MISSING` -> the default's piece, or -1)
        self.enum_lut: dict[int, dict[Any, int]] = {}
        self.missing_piece: dict[int, int] = {}
        for i in self.context_vars:
            v = enc.variables[i]
            self.missing_piece[i] = -1 if v.default is None else enc.piece[i](v.default)
            if v.kind == "enum":
                lut: dict[Any, int] = {x: k for k, x in enumerate(v.values) if isinstance(x, str)}
                lut[_MISSING] = self.missing_piece[i]
                self.enum_lut[i] = lut
        self.zero_piece = enc.zero_piece
        self.quoted = {n: encode_basestring(n) for n in enc.score_names}
        self._combos: dict[Any, Fragments] = {}

    # ---- pieces ----------------------------------------------------------------------------

    def pieces(self, cols: Columns) -> tuple[np.ndarray, list[np.ndarray]]:
        """(ok rows, one piece column per variable); a bad value marks its row not ok."""
        n = cols.n
        ok = ~cols.bad
        if cols.text is not None:
            ok &= ~cols.text
        out: list[np.ndarray] = []
        for i, var in enumerate(self.variables):
            given = cols.pieces.get(var.name)
            if given is not None:
                ok &= given >= 0
                out.append(given)
                continue
            vals = cols.values.get(var.name)
            if vals is None:
                if var.kind == "score":
                    out.append(np.full(n, self.zero_piece[i], dtype=np.int32))
                    continue
                miss = self.missing_piece[i]
                if miss < 0:
                    ok[:] = False
                out.append(np.full(n, max(miss, 0), dtype=np.int32))
                continue
            if var.kind == "enum":
                col = self._enum(i, vals, n)
            elif var.kind == "bool":
                col = self._bool(i, vals, n)
            else:
                col = self._numeric(i, vals, n)
            ok &= col >= 0
            out.append(col)
        return ok, out

    def _enum(self, i: int, vals: Any, n: int) -> np.ndarray:
        if isinstance(vals, np.ndarray) and vals.dtype.kind in "iu":  # already pieces
            return vals.astype(np.int32)
        get = self.enum_lut[i].get
        try:
            return np.fromiter(map(get, vals, repeat(-1)), dtype=np.int32, count=n)
        except TypeError:  # an unhashable value (a list, an object)
            return np.fromiter((get(v, -1) if type(v) is str or v is _MISSING else -1
                                for v in vals), dtype=np.int32, count=n)

    def _bool(self, i: int, vals: Any, n: int) -> np.ndarray:
        if isinstance(vals, np.ndarray) and vals.dtype.kind == "b":
            return vals.astype(np.int32)
        d = self.missing_piece[i]
        return np.fromiter((1 if v is True else 0 if v is False else d if v is _MISSING
                            else -1 for v in vals), dtype=np.int32, count=n)

    def _numeric(self, i: int, vals: Any, n: int) -> np.ndarray:
        var = self.variables[i]
        score = var.kind == "score"
        if isinstance(vals, np.ndarray) and vals.dtype.kind in "iuf":
            x = vals.astype(np.float64, copy=False)
        else:
            miss = 0.0 if score else (math.nan if var.default is None else float(var.default))
            nan = math.nan
            x = np.fromiter((v if type(v) is float else float(v) if type(v) is int
                             else miss if v is _MISSING else nan for v in vals),
                            dtype=np.float64, count=n)
        p = _pieces_of(self.dcuts[i], x)
        bad = ~((x >= 0.0) & (x <= 1.0)) if score else ~(np.abs(x) < _BIG)  # NaN too
        if bad.any():
            p[bad] = -1
        return p

    # ---- decisions -------------------------------------------------------------------------

    def combos(self, pieces: list[np.ndarray], rows: np.ndarray | None = None
               ) -> tuple[np.ndarray, list[Fragments]]:
        """(index of each row's combination, the combinations decided)."""
        cols = pieces if rows is None else [p[rows] for p in pieces]
        n = cols[0].shape[0] if cols else (0 if rows is None else rows.size)
        if not cols:
            return np.zeros(n, dtype=np.intp), [self._fragments(())] if n else []
        if self.horner:
            key = cols[0].astype(np.int64)
            for p, size in zip(cols[1:], self.sizes[1:], strict=True):
                key *= size
                key += p
            space = math.prod(self.sizes)
            if space <= (1 << 22):  # a small key space: O(n) with a lookup table
                seen = np.zeros(space, dtype=np.bool_)
                seen[key] = True
                uniq = np.flatnonzero(seen)
                remap = np.zeros(space, dtype=np.intp)
                remap[uniq] = np.arange(uniq.size)
                inverse = remap[key]
            else:
                uniq, inverse = np.unique(key, return_inverse=True)
            decided = [self._fragments(self._unhorner(int(k))) for k in uniq]
        else:
            stacked = np.stack(cols, axis=1)
            uniq2, inverse = np.unique(stacked, axis=0, return_inverse=True)
            decided = [self._fragments(tuple(int(x) for x in row)) for row in uniq2]
        return inverse.reshape(-1), decided

    def _unhorner(self, key: int) -> tuple[int, ...]:
        out = []
        for size in reversed(self.sizes):
            key, p = divmod(key, size)
            out.append(p)
        return tuple(reversed(out))

    def _fragments(self, pieces: tuple[int, ...]) -> Fragments:
        got = self._combos.get(pieces)
        if got is not None:
            return got
        c = self.checker
        m = c.all_entries
        for i, p in enumerate(pieces):
            m &= c.bits[i][p]
        f = fragments_of(c._decide(m, {}, [], None))
        if len(self._combos) >= COMBO_CACHE:
            self._combos.clear()
        self._combos[pieces] = f
        return f

    # ---- text events: scored together ------------------------------------------------------

    def text_scores(self, texts: list[str], started: Any = None
                    ) -> dict[str, np.ndarray] | None:
        """`Bindings.scores_batch` of `texts` (models run once over the batch, grouped by
        length; detectors behind the ASCII screen), or None when the batch cannot be
        scored: a classifier that fails or is missing, a score outside [0, 1], a text too
        expanding to normalize. A batch has no per-event `on_error`, so then each text is
        decided by `check`, which routes its own failure through `on_error`."""
        bindings = self.checker.bindings
        if not texts or not bindings.categories:
            return None
        try:
            return bindings.scores_batch(texts, started)
        except Exception:  # noqa: BLE001 - any failure: per event, as `check` would
            return None

    def text_decisions(self, cols: Columns, texts: list[str], started: Any = None
                       ) -> tuple[np.ndarray, list[Fragments], list[tuple[str, np.ndarray]]
                                  ] | None:
        """(index of each text row's combination or -1, the combinations, the score
        columns the bindings gave, in their order) for text events without given scores.

        -1: the row goes to `check` (a bad context, or a `redact` decision, whose spans
        and redacted text `check` computes). None: the batch could not be scored."""
        got = self.text_scores(texts, started)
        if got is None:
            return None
        names = list(got)
        for name in names:
            if name in self.score_names:
                cols.values[name] = got[name].astype(np.float64)
        ok, pieces = self.pieces(cols)
        index = np.full(cols.n, -1, dtype=np.intp)
        good = np.flatnonzero(ok)
        frags: list[Fragments] = []
        if good.size:
            inverse, frags = self.combos(pieces, good if good.size < cols.n else None)
            index[good] = inverse
            redact = np.array([f.action == "redact" for f in frags], dtype=np.bool_)
            if redact.any():
                index[good[redact[inverse]]] = -1
        return index, frags, [(n, got[n]) for n in names if n in self.score_names]

    def score_texts(self, columns: list[tuple[str, np.ndarray]], n: int) -> list[str]:
        """Each row's `scores` object as `check` writes it: the nonzero scores, in the
        order of `columns` (the bindings' order), each as `repr` of its float."""
        pieces = self.score_pieces(columns, n)
        if not pieces:
            return ["{}"] * n
        w = len(pieces) + 1
        parts: list[Any] = [None] * (n * w)
        for c, piece in enumerate(pieces):
            parts[c::w] = piece
        parts[w - 1::w] = repeat(b"\x00", n)
        rows = b"".join(parts)[:-1].decode("utf-8").split("\x00")
        return ["{" + r + "}" for r in rows]

    def score_pieces(self, columns: list[tuple[str, np.ndarray]], n: int) -> list[list[bytes]]:
        """Per score column (but those all zeros), each row's piece of its `scores` object
        as `check` writes it: `, "name": repr(value)` (without the `, ` for the row's first
        nonzero score), or nothing for a zero. Formatted a column at a time: one
        `orjson.dumps` of the column (which writes a float as `repr` does from 1e-4 up),
        byte replaces that put the name before each value and take out the zeros, one
        split; the values below 1e-4 of every column by one `small_float_reprs`. Only the
        rows of a column that differ from most of its rows in whether it holds their
        first nonzero score take a per-row step. A name never holds a NUL byte once
        quoted (`\\u0000`), nor does a number."""
        q = self.quoted
        out: list[list[bytes]] = []
        seen = np.zeros(n, dtype=np.bool_)
        # (pieces, the row's head with and without ", ", rows, whether they take ", ")
        smalls: list[tuple[list[bytes], bytes, bytes, list[int], list[bool]]] = []
        values: list[np.ndarray] = []
        for name, col in columns:
            x = np.ascontiguousarray(col, dtype=np.float64)  # (orjson writes it as it is)
            if not x.any():  # all zeros (-0.0 too): no piece at all
                continue
            nz = x != 0
            first = nz & ~seen  # the rows whose first nonzero score this is
            seen |= nz
            full = (", " + q[name] + ": ").encode("utf-8")
            # the head most rows take; the others' are fixed below
            lead = 2 * (np.count_nonzero(first) * 2 > np.count_nonzero(nz))
            head = full[lead:]
            inner = _dumps(x, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1]
            blob = head + inner.replace(b",", b"\x00" + head)
            if not nz.all():
                blob = (blob + b"\x00").replace(head + b"0.0\x00", b"\x00")[:-1]
            piece = blob.split(b"\x00")
            if len(piece) != n:  # (a bad value, whose row is refused anyway)
                piece = [head + repr(v).encode("ascii") if v else b"" for v in x.tolist()]
            else:
                for k in np.flatnonzero(~np.isfinite(x) | ((x == 0) & np.signbit(x))).tolist():
                    v = float(x[k])
                    piece[k] = head + repr(v).encode("ascii") if v else b""
            if lead:  # the rows with an earlier nonzero score need their ", "
                for k in np.flatnonzero(nz & ~first).tolist():
                    piece[k] = b", " + piece[k]
            else:
                for k in np.flatnonzero(first).tolist():
                    piece[k] = piece[k][2:]
            small = np.flatnonzero((x > 0) & (x < 1e-4))
            if small.size and len(piece) == n:
                smalls.append((piece, full, full[2:], small.tolist(), (~first[small]).tolist()))
                values.append(x[small])
            out.append(piece)
        if smalls:
            reprs, at = small_float_reprs(np.concatenate(values)), 0
            for piece, full, short, rows, comma in smalls:
                for k, c, text in zip(rows, comma, reprs[at:at + len(rows)], strict=True):
                    piece[k] = (full if c else short) + text
                at += len(rows)
        return out

    # ---- any columns: combinations, then the reference path ---------------------------------

    def decide(self, cols: Columns, event: Callable[[int], tuple[Any, Any, Any, Any]],
               ids: list[Any] | None = None,
               texts: Callable[[np.ndarray], list[str]] | None = None) -> Decided:
        """Decide the rows of `cols`; a row not ok goes to `event(k)` (its `(id, text,
        context, scores)`, or `BadLine`/`InvalidEvent`) and `Checker.check`. With
        `texts` (the texts of given rows), the `cols.text_only` rows are scored together
        first (`text_decisions`)."""
        ok, pieces = self.pieces(cols)
        good = np.flatnonzero(ok)
        index = np.full(cols.n, -1, dtype=np.intp)
        frags: list[Fragments] = []
        if good.size:
            inverse, frags = self.combos(pieces, good if good.size < cols.n else None)
            index[good] = inverse
        out = Decided(frags, index, ids=ids)
        if texts is not None and cols.text_only is not None:
            self._decide_texts(cols, texts, out)
        for k in np.flatnonzero((~ok) & (index < 0)).tolist():
            try:
                event_id, text, context, scores = event(k)
                d = self.checker.check(text=text, context=context, scores=scores)
            except BadLine as exc:
                out.errors[k] = exc.message
                continue
            except InvalidEvent as exc:
                out.errors[k] = str(exc)
                continue
            index[k] = len(frags)
            frags.append(fragments_of(d))
            out.decisions[k] = d
            if out.ids is not None:
                out.ids[k] = event_id
            if d.redacted is not None:
                out.redacted[k] = (d.redacted, list(d.spans))
        return out

    def _decide_texts(self, cols: Columns, texts: Callable[[np.ndarray], list[str]],
                      out: Decided) -> None:
        """The text rows without given scores and with good columns, scored together."""
        assert cols.text_only is not None
        rows = np.flatnonzero(cols.text_only & ~cols.bad)
        if not rows.size or not self.checker.bindings.categories:
            return
        sub = Columns(rows.size)
        for name, vals in cols.values.items():
            sub.values[name] = vals[rows] if isinstance(vals, np.ndarray) else \
                [vals[k] for k in rows.tolist()]
        for name, p in cols.pieces.items():
            sub.pieces[name] = p[rows]
        for i in self.score_vars:  # the text's scores, not the (absent) given ones
            sub.values.pop(self.variables[i].name, None)
            sub.pieces.pop(self.variables[i].name, None)
        got = self.text_decisions(sub, texts(rows))
        if got is None:
            return
        index, frags, columns = got
        scores = self.score_texts(columns, rows.size)
        base = len(out.frags)
        out.frags.extend(frags)
        for j, c in enumerate(index.tolist()):
            if c >= 0:
                k = int(rows[j])
                out.index[k] = base + c
                out.score_texts[k] = scores[j]


def _pieces_of(dcuts: np.ndarray, x: np.ndarray) -> np.ndarray:
    """`searchsorted(dcuts, x, side="right")`: with a few cuts, one comparison per cut is
    several times faster (NaN compares false: piece 0, and the row is refused anyway)."""
    if dcuts.size > 6:
        return np.searchsorted(dcuts, x, side="right").astype(np.int32)
    p = np.zeros(x.shape[0], dtype=np.int32)
    for c in dcuts.tolist():
        p += x >= c
    return p


def id_json(x: Any) -> str:
    """An id as `json.dumps` writes it (a string, an int, a float, or null)."""
    t = type(x)
    if t is str:
        return encode_basestring(x)  # type: ignore[no-any-return]
    if x is None:
        return "null"
    return repr(x) if t is float else str(x)


def audit_text(d: Decided, ids: Sequence[Any]) -> bytes:
    """The audit records of a chunk's decided rows (`ids[k]`: row k's id), in order: a
    row decided by `check` as `audit_record` writes it, the others from their
    combination's fragments and their `score_texts` (which every such row must have)."""
    records: list[str] = []
    for k in np.flatnonzero(d.index >= 0).tolist():
        ref = d.decisions.get(k)
        if ref is not None:
            records.append(dumps_line(audit_record(ref, ids[k])).decode("utf-8"))
            continue
        records.append(f'{{"schema": "{AUDIT_SCHEMA}", "decision_id": "{new_decision_id()}", '
                       f'"time": "{now()}", "id": {id_json(ids[k])}'
                       + d.frags[d.index[k]].audit_mid + d.score_texts[k] + "}\n")
    return "".join(records).encode("utf-8")


# ---- JSON Lines ------------------------------------------------------------------------------

@dataclass
class ChunkResult:
    out: bytes
    audit: bytes
    bad: list[BadLine] = field(default_factory=list)
    decided: int = 0


@dataclass
class Prepared:
    """A chunk read ahead (`JsonlEngine.prepare`): its lines decoded, its text events
    found, and their classifiers already running in the model thread."""

    decoded: tuple[list[int], list[dict[str, Any]], list[Any], list[Any]]
    keep: dict[str, Any]
    texts: tuple[list[int], list[dict[str, Any]], list[str]] | None = None  # `text_events`
    started: Any = None  # `Bindings.start_models`'s future


class JsonlEngine(Engine):
    """JSON Lines chunks to decision lines and audit records.

    The good rows of a chunk are written without a per-row Python step: ids with
    `orjson.dumps` (str, int and null ids write as `json.dumps` does), the scores of
    every row with one `orjson.dumps` of the chunk's score objects, split per row and
    spaced as `json.dumps` spaces (score names are plain, values numbers), and each
    row's decision as the preformatted text of its combination. orjson writes a float
    as `repr` does from 1e-4 up; a row with a smaller score, an integer score or a
    score of 0 (left out of the output) is written the slow way.
    """

    def __init__(self, checker: Checker):
        super().__init__(checker)
        self.plain_names = all(_PLAIN_NAME.fullmatch(n) for n in self.score_names)

    def columns(self, objs: list[dict[str, Any]], ctxs: list[Any] | None = None,
                scs: list[Any] | None = None, scores: bool = True
                ) -> tuple[Columns, list[Any], list[Any]]:
        """Columns of decoded events (`trusted`), with each row's scores and id.
        Without `scores`: text events (`text_events`), which have no scores and are never
        empty."""
        n = len(objs)
        cols = Columns(n)
        if ctxs is None or scs is None:
            ctxs = list(map(dict.get, objs, repeat("context"), repeat(_EMPTY)))
            scs = list(map(dict.get, objs, repeat("scores"), repeat(_EMPTY)))
        ids = list(map(dict.get, objs, repeat("id")))
        cn, sn = self.context_names, self.score_names
        bad = cols.bad
        for dicts, names in ((ctxs, cn), (scs, sn)) if scores else ((ctxs, cn),):
            if set(map(type, dicts)) == {dict} and set().union(*dicts) <= names:
                continue
            bad |= ~np.fromiter((type(c) is dict and c.keys() <= names for c in dicts),
                                dtype=np.bool_, count=n)
        # an id is a string or a plain number (a float this large may be an integer past
        # 64 bits, which orjson reads as a float); `null` is refused like any other type
        odd_ids = bool(set(map(type, ids)) - {str, int})
        if scores or odd_ids:
            has_id = np.fromiter(map(dict.__contains__, objs, repeat("id")),
                                 dtype=np.bool_, count=n)
        # an event needs `context` or `scores` (trusted rows have no other key but `id`;
        # a text event has its text)
        if scores:
            bad |= np.fromiter(map(len, objs), dtype=np.intp, count=n) == has_id
        if odd_ids:
            bad |= np.fromiter(
                (not (t is str or t is int or t is float and abs(x) < _BIG  # type: ignore[arg-type]
                      or x is None and not h)
                 for x, t, h in zip(ids, map(type, ids), has_id.tolist(), strict=True)),
                dtype=np.bool_, count=n)
        if bad.any():  # not objects: no `.get` below
            ctxs = [c if type(c) is dict else _EMPTY for c in ctxs]
            scs = [s if type(s) is dict else _EMPTY for s in scs]
        for i in self.context_vars:
            name = self.variables[i].name
            cols.values[name] = list(map(dict.get, ctxs, repeat(name), repeat(_MISSING)))
        for i in self.score_vars if scores else ():
            name = self.variables[i].name
            vals = list(map(dict.get, scs, repeat(name), repeat(0.0)))
            if set(map(type, vals)) == {float}:  # the common case: a float array at once
                cols.values[name] = np.fromiter(vals, dtype=np.float64, count=n)
                continue
            cols.values[name] = vals
        return cols, scs, ids

    def decide_chunk_columns(self, chunk: Chunk, scores: bool = False) -> Decided:
        """A chunk as `Decided` (for `replay`): the same trust rules as `decide_chunk`.
        `scores`: fill `score_texts` for every decided row (what `audit_text` needs)."""
        rows, objs, ctxs, scs = _decode(chunk.raws)
        cols, _, fast_ids = self.columns(objs, ctxs, scs)
        full = Columns(len(chunk.raws))
        ids: list[Any] = [None] * full.n
        if len(rows) == full.n:
            full = cols
            ids = fast_ids
        else:
            for j, k in enumerate(rows):
                ids[k] = fast_ids[j]
            full.bad[:] = True
            pos = np.array(rows, dtype=np.intp)
            full.bad[pos] = cols.bad
            for name, vals in cols.values.items():
                if isinstance(vals, np.ndarray):
                    vals = vals.tolist()
                col: list[Any] = [_MISSING] * full.n
                for j, k in enumerate(rows):
                    col[k] = vals[j]
                full.values[name] = col

        def event(k: int) -> tuple[Any, Any, Any, Any]:
            raw = chunk.raws[k]
            line = Line(chunk.first + k, raw or b"", 0, raw is None)
            return event_from_json(parse_line(line))  # type: ignore[no-any-return]
        out = self.decide(full, event, ids)
        if scores:  # the rows decided by combination: their scores as `_fast` writes them
            at = np.full(full.n, -1, dtype=np.intp)
            at[np.array(rows, dtype=np.intp)] = np.arange(len(rows))
            ks = [k for k in np.flatnonzero(out.index >= 0).tolist()
                  if k not in out.decisions and k not in out.score_texts]
            if ks:
                js = at[ks]
                texts = self._score_texts(cols, [scs[j] for j in js.tolist()], js)
                for k, t in zip(ks, texts, strict=True):
                    out.score_texts[k] = "{" + t.decode("utf-8") + "}"
        return out

    def prepare(self, chunk: Chunk) -> Prepared:
        """Decode `chunk` and start its text events' classifiers, so that the models
        run while the caller finishes the chunk before (`decided_chunks`)."""
        keep: dict[str, Any] = {}
        decoded = _decode(chunk.raws, keep)
        fast, n = decoded[0], len(chunk.raws)
        bindings = self.checker.bindings
        if len(fast) == n or not bindings.categories or not bindings.classifier_specs:
            return Prepared(decoded, keep)
        found = text_events(chunk.raws, _others(n, fast), keep.get("text"))
        return Prepared(decoded, keep, found, bindings.start_models(found[2]))

    def decide_chunk(self, chunk: Chunk, audit: bool, prepared: Prepared | None = None
                     ) -> ChunkResult:
        """Decision lines, audit records and bad lines of `chunk` (`prepared`: its
        `prepare`, when read ahead)."""
        raws = chunk.raws
        n = len(raws)
        if prepared is None:
            keep: dict[str, Any] = {}
            prepared = Prepared(_decode(raws, keep), keep)
        fast, objs, ctxs, scs = prepared.decoded
        ref = _others(n, fast)
        body = rec = tbody = trec = None
        fast_rows: list[int] = []
        if objs:
            body, rec, fast_rows = self._fast(fast, objs, ctxs, scs, ref, audit)
            if not ref:  # every row decided by its combination: the text as it is
                return ChunkResult(body, rec or b"", [], n)
        ref.sort()
        text_rows: list[int] = []
        if ref and self.checker.bindings.categories:
            text_rows, tbody, trec, ref = self._texts(raws, ref, audit, prepared)
            if not ref and not body:  # every row a text event scored together
                return ChunkResult(tbody, trec or b"", [], n)
        lines: list[Any] = [None] * n
        records: list[Any] = [None] * n if audit else []
        for rows_, b_, r_ in ((fast_rows, body, rec), (text_rows, tbody, trec)):
            if not b_:
                continue
            for k, b in zip(rows_, b_.splitlines(keepends=True), strict=True):
                lines[k] = b
            if audit and r_:
                for k, b in zip(rows_, r_.splitlines(keepends=True), strict=True):
                    records[k] = b
        bad: list[BadLine] = []
        for k in ref:
            line = Line(chunk.first + k, raws[k] or b"", 0, raws[k] is None)
            try:
                event_id, text, context, scores = event_from_json(parse_line(line))
                d = self.checker.check(text=text, context=context, scores=scores)
            except BadLine as exc:
                bad.append(exc)
                continue
            except InvalidEvent as exc:
                bad.append(BadLine(line.number, str(exc)))
                continue
            lines[k] = dumps_line({"id": event_id, **d.to_dict()})
            if audit:
                records[k] = dumps_line(audit_record(d, event_id))
        out = b"".join([p for p in lines if p is not None])
        return ChunkResult(out, b"".join([p for p in records if p is not None]) if audit
                           else b"", bad, n - len(bad))

    def decide_events(self, events: Sequence[tuple[Any, Any, Any]]
                      ) -> list[tuple[Any, dict[str, float]] | InvalidEvent]:
        """Events given as Python values, `(text, context, scores)` as `json.loads` reads
        them (for `eval`): per event, in order, `(decision, nonzero scores)` (a decision
        has `action`, `argument`, `rule`, `errors`) or the `InvalidEvent` `check` raises.

        Plain events are decided by combination, text events without given scores
        through `scores_batch` (`text_decisions`), every other event by `check`."""
        out: list[Any] = [None] * len(events)
        plain = [k for k, (t, c, s) in enumerate(events)
                 if t is None and type(c) is dict and type(s) is dict and (c or s)]
        texts = [k for k, (t, c, s) in enumerate(events)
                 if type(t) is str and type(c) is dict and s == {}] \
            if self.checker.bindings.categories else []
        if plain:
            objs = [{"context": events[k][1], "scores": events[k][2]} for k in plain]
            try:
                cols, scs, _ = self.columns(objs)
                ok, pieces = self.pieces(cols)
            except (OverflowError, ValueError):  # an integer past double range: `check`
                ok, pieces = np.zeros(len(plain), dtype=np.bool_), []
            good = np.flatnonzero(ok)
            if good.size:
                inverse, frags = self.combos(pieces, good if good.size < len(plain) else None)
                for j, c in zip(good.tolist(), inverse.tolist(), strict=True):
                    out[plain[j]] = (frags[c], {a: float(x) for a, x in scs[j].items() if x})
        if texts:
            objs = [{"context": events[k][1]} for k in texts]
            cols, _, _ = self.columns(objs)
            for i in self.score_vars:
                cols.values.pop(self.variables[i].name, None)
            got = self.text_decisions(cols, [events[k][0] for k in texts])
            if got is not None:
                index, frags, columns = got
                py = [(name, col.tolist()) for name, col in columns]
                for j, c in enumerate(index.tolist()):
                    if c >= 0:
                        out[texts[j]] = (frags[c], {n: v for n, vals in py if (v := vals[j])})
        check = self.checker.check
        for k, r in enumerate(out):
            if r is None:
                text, context, scores = events[k]
                try:
                    d = check(text=text, context=context, scores=scores)
                except InvalidEvent as exc:
                    out[k] = exc
                    continue
                out[k] = (d, dict(d.scores))
        return out

    def _texts(self, raws: Sequence[bytes | None], ref: list[int], audit: bool,
               prepared: Prepared) -> tuple[list[int], bytes, bytes | None, list[int]]:
        """Decide the text events of `ref` together (`text_decisions`): (the rows
        decided, their decision lines, their audit records, the rows left for `check`).
        `prepared.texts`, when read ahead: the same text events, found before `ref` took
        the rows the columns refused (text-less rows, which are never text events)."""
        if prepared.texts is not None:
            (rows, objs, strings), started = prepared.texts, prepared.started
        else:
            (rows, objs, strings), started = \
                text_events(raws, ref, prepared.keep.get("text")), None
        if not rows:
            return [], b"", None, ref
        ctxs = list(map(dict.get, objs, repeat("context"), repeat(_EMPTY)))
        cols, _, ids = self.columns(objs, ctxs, [_EMPTY] * len(objs), scores=False)
        got = self.text_decisions(cols, strings, started)
        if got is None:
            return [], b"", None, ref
        index, frags, columns = got
        good = np.flatnonzero(index >= 0)
        if not good.size:
            return [], b"", None, ref
        pieces = self.score_pieces(columns, len(rows))
        done = rows
        if good.size < len(rows):
            picked = good.tolist()
            pieces = [[p[j] for j in picked] for p in pieces]
            ids = [ids[j] for j in picked]
            done = [rows[j] for j in picked]
        idb, quoted = _dump_ids(ids)
        body, rec = _assemble(idb, quoted, index[good], frags, pieces, audit)
        if len(done) == len(ref):
            return done, body, rec, []
        left = set(done)
        return done, body, rec, [k for k in ref if k not in left]

    def _fast(self, fast: list[int], objs: list[dict[str, Any]], ctxs: list[Any],
              scs: list[Any], ref: list[int], audit: bool
              ) -> tuple[bytes, bytes | None, list[int]]:
        """(decision lines, audit records, their rows) of the rows decided by combination;
        the rows the columns refuse are added to `ref`."""
        n = len(objs)
        cols, scs, ids = self.columns(objs, ctxs, scs)
        ok, pieces = self.pieces(cols)
        good = np.flatnonzero(ok)
        rows = fast
        if good.size < n:
            ref.extend(fast[k] for k in np.flatnonzero(~ok).tolist())
            if not good.size:
                return b"", None, []
            pick = good.tolist()
            rows = [fast[k] for k in pick]
            ids = [ids[k] for k in pick]
            scs = [scs[k] for k in pick]
        inverse, decided = self.combos(pieces, good if good.size < n else None)
        idb, quoted = _dump_ids(ids)
        sparts = self._score_texts(cols, scs, good if good.size < n else None)
        body, rec = _assemble(idb, quoted, inverse, decided, [sparts], audit)
        return body, rec, rows

    def _score_texts(self, cols: Columns, scs: list[Any], good: np.ndarray | None
                     ) -> list[bytes]:
        """The inside of each good row's `scores` object, as `json.dumps` writes it with
        zeros left out and integers as floats."""
        m = len(scs)
        slow = np.zeros(m, dtype=np.bool_)
        nonzero = np.zeros(m, dtype=np.intp)
        for i in self.score_vars:
            vals = cols.values.get(self.variables[i].name)
            if vals is None:
                continue
            if isinstance(vals, np.ndarray):
                x = vals if good is None else vals[good]
            else:  # some value is not a float: an integer (the rows refused are gone)
                sel = vals if good is None else [vals[k] for k in good.tolist()]
                x = np.fromiter((float(v) for v in sel), dtype=np.float64, count=m)
                slow |= np.fromiter((type(v) is not float for v in sel), dtype=np.bool_,
                                    count=m)
            nonzero += x != 0
            slow |= (x > 0) & (x < 1e-4)
        slow |= np.fromiter(map(len, scs), dtype=np.intp, count=m) != nonzero  # zeros
        if not self.plain_names:
            slow[:] = True
        texts: list[bytes] = []
        if not slow.all():
            blob = _dumps(scs).replace(b'":', b'": ').replace(b',"', b', "')
            texts = blob[2:-2].split(b"},{")
            if len(texts) != m:  # (cannot happen with plain names and numbers)
                slow[:] = True
        if slow.all():
            texts = [b""] * m
        q = self.quoted
        for k in np.flatnonzero(slow).tolist():
            texts[k] = ", ".join([f"{q[a]}: {float(x)!r}" for a, x in scs[k].items() if x]
                                 ).encode("utf-8")
        return texts


#: What starts a decision line; the `tail` of each combination ends with it (the last
#: one is cut off by joining rather than appending).
_ID = b'{"id": '
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
_EMPTY: dict[str, Any] = {}
_dumps = orjson.dumps
_ID_TYPES = {str, int, type(None)}
_NUMBER_IDS = {int, type(None)}


def _dump_ids(ids: list[Any]) -> tuple[list[bytes], bool]:
    """Ids as `json.dumps(ensure_ascii=False)` writes them (orjson agrees on str, int and
    null; a float goes through `repr`), and whether they are strings written without
    their quotes: one `orjson.dumps` of the chunk's ids, split on `","` (never inside a
    string, where every quote is escaped) or on `,` (integers and nulls)."""
    types = set(map(type, ids))
    if types == {str}:
        parts = _dumps(ids)[2:-2].split(b'","')
        if len(parts) == len(ids):
            return parts, True
    elif types <= _NUMBER_IDS:
        return _dumps(ids)[1:-1].split(b","), False
    if types <= _ID_TYPES:
        return list(map(_dumps, ids)), False
    return [id_json(x).encode("utf-8") for x in ids], False


def _assemble(idb: list[bytes], quoted: bool, inverse: np.ndarray, decided: list[Fragments],
              scores: Sequence[Any], audit: bool) -> tuple[bytes, bytes | None]:
    """(decision lines, audit records) of rows given as their ids (`_dump_ids`), the
    index of their combination in `decided`, and the pieces of the inside of their
    `scores` objects (one sequence or more, joined in order): one `b"".join` each."""
    m = len(idb)
    w = 3 + len(scores)
    if quoted:  # the quotes of a string id go around it in the text of the row
        mids = [b'"' + f.b_mid for f in decided]
        tails = [f.b_tail + b'"' for f in decided]
    else:
        mids = [f.b_mid for f in decided]
        tails = [f.b_tail for f in decided]
    parts: list[Any] = [None] * (w * m)
    parts[0::w] = idb
    parts[1::w] = np.array(mids, dtype=object)[inverse].tolist()
    for c, sp in enumerate(scores):
        parts[2 + c::w] = sp.tolist() if isinstance(sp, np.ndarray) else sp
    parts[w - 1::w] = np.array(tails, dtype=object)[inverse].tolist()
    # each tail starts the next line; the first line's start, the last one's end
    parts[0] = (_ID + b'"' if quoted else _ID) + parts[0]
    parts[-1] = parts[-1][: -len(_ID) - quoted]
    body = b"".join(parts)
    if not audit:
        return body, None
    w += 1
    parts = [None] * (w * m)
    parts[0::w] = [f'{{"schema": "{AUDIT_SCHEMA}", "decision_id": "{new_decision_id()}", '
                   f'"time": "{now()}", "id": '.encode() for _ in range(m)]
    parts[1::w] = [b'"' + x + b'"' for x in idb] if quoted else idb
    parts[2::w] = np.array([f.b_audit_mid for f in decided], dtype=object)[inverse].tolist()
    for c, sp in enumerate(scores):
        parts[3 + c::w] = sp.tolist() if isinstance(sp, np.ndarray) else sp
    parts[w - 1::w] = repeat(b"}}\n", m)
    return body, b"".join(parts)


def trusted(raws: Sequence[bytes | None]) -> tuple[list[int], list[dict[str, Any]]]:
    """The lines orjson reads exactly as the strict reader would, as text-less events
    (their positions, their values); every other line takes the reference path."""
    fast, objs, _, _ = _decode(raws)
    return fast, objs


def _others(n: int, rows: list[int]) -> list[int]:
    """``0..n-1`` but `rows`, in order."""
    if not rows:
        return list(range(n))
    rest = np.ones(n, dtype=np.bool_)
    rest[rows] = False
    return np.flatnonzero(rest).tolist()  # type: ignore[no-any-return]


def _decode(raws: Sequence[bytes | None], keep: dict[str, Any] | None = None
            ) -> tuple[list[int], list[dict[str, Any]], list[Any], list[Any]]:
    """`trusted`, with each event's `context` and `scores` (`_EMPTY` when absent).

    A chunk is first read at once (one `map` of `orjson.loads`) and checked as a whole:
    every line an object (those with a `text` left to `text_events`), no escape of
    U+0030-U+003F, and as many colons as decoded keys (a line never has fewer, so equal
    sums mean equal lines). A chunk that fails any of it is read again line by line.
    `keep`: gets `"text"`, the rows and values of the text events read at once (for
    `text_events`, which need not read them again)."""
    n = len(raws)
    try:
        objs: list[Any] = list(map(_loads, raws))  # type: ignore[arg-type]  # None: TypeError
        if set(map(type, objs)) == {dict}:
            seen = set().union(*objs)
            rows: list[int] | None = None
            sub = raws
            if seen <= _EVENT_KEYS and "text" in seen:  # text events mixed in: the others
                has = list(map(dict.__contains__, objs, repeat("text")))
                if all(has):  # text events only
                    if keep is not None:
                        keep["text"] = (list(range(n)), objs, seen)
                    return [], [], [], []
                rows = [k for k, h in enumerate(has) if not h]
                if keep is not None:
                    keep["text"] = ([k for k, h in enumerate(has) if h],
                                    [o for o, h in zip(objs, has, strict=True) if h], seen)
                objs = [objs[k] for k in rows]
                sub = [raws[k] for k in rows]
            elif not seen <= _PLAIN_KEYS:
                raise TypeError
            block = b"\n".join(sub)  # type: ignore[arg-type]
            ctxs = list(map(dict.get, objs, repeat("context"), repeat(_EMPTY)))
            scs = list(map(dict.get, objs, repeat("scores"), repeat(_EMPTY)))
            if b"\\u003" not in block and block.count(b":") == sum(map(len, objs)) \
                    + sum(map(len, ctxs)) + sum(map(len, scs)):
                return list(range(n)) if rows is None else rows, objs, ctxs, scs
    except (_JSONDecodeError, TypeError):  # TypeError: `len` of a number, a None line
        pass
    fast: list[int] = []
    objs = []
    loads, keys = _loads, _PLAIN_KEYS
    for k, raw in enumerate(raws):
        if raw is None or b"\\u003" in raw:
            continue
        try:
            obj = loads(raw)
            if type(obj) is dict and obj.keys() <= keys and (
                    raw.count(b":") == len(obj) + len(obj.get("context", _EMPTY))
                    + len(obj.get("scores", _EMPTY)) or _plain(obj, raw)):
                fast.append(k)
                objs.append(obj)
        except (_JSONDecodeError, TypeError):  # TypeError: `len` of a number
            pass
    ctxs = list(map(dict.get, objs, repeat("context"), repeat(_EMPTY)))
    scs = list(map(dict.get, objs, repeat("scores"), repeat(_EMPTY)))
    return fast, objs, ctxs, scs


def text_events(raws: Sequence[bytes | None], rows: list[int],
                pre: tuple[list[int], list[dict[str, Any]], set[str]] | None = None
                ) -> tuple[list[int], list[dict[str, Any]], list[str]]:
    """Of `rows`, the lines orjson reads exactly as the strict reader would that are text
    events without scores (`{"text": "…", "context": {…}, "id": …}`): the events whose
    scores all come from the text, which `scores_batch` can score together, with their
    texts. `pre`: `rows` already read (`_decode`'s `keep`: objects only, with these
    keys)."""
    raws_t = list(raws) if len(rows) == len(raws) else [raws[k] for k in rows]
    try:  # at once, as `_decode`: every line a text event, colons = keys (texts' too)
        if pre is not None and pre[0] == rows:
            objs: list[Any] = pre[1]
            seen: Any = pre[2]
        else:
            objs = list(map(_loads, raws_t))  # type: ignore[arg-type]
            seen = set().union(*objs) if set(map(type, objs)) == {dict} else None
        if seen is not None and seen <= _TEXT_KEYS:
            texts: list[Any] = list(map(dict.get, objs, repeat("text")))
            if set(map(type, texts)) == {str} and ("scores" not in seen or not any(
                    s != _EMPTY for s in map(dict.get, objs, repeat("scores"), repeat(_EMPTY)))):
                block = b"\n".join(raws_t)  # type: ignore[arg-type]
                ctxs = map(dict.get, objs, repeat("context"), repeat(_EMPTY))
                if b"\\u003" not in block and block.count(b":") == sum(map(len, objs)) \
                        + sum(map(len, ctxs)) + sum(map(str.count, texts, repeat(":"))):  # type: ignore[arg-type]
                    return list(rows), objs, texts
    except (_JSONDecodeError, TypeError):
        pass
    out_rows: list[int] = []
    objs = []
    texts = []
    loads = _loads
    for k in rows:
        raw = raws[k]
        if raw is None or b"\\u003" in raw:
            continue
        try:
            obj = loads(raw)
        except _JSONDecodeError:
            continue
        if type(obj) is not dict or not obj.keys() <= _EVENT_KEYS or obj.get("scores", _EMPTY) != _EMPTY \
                or type(obj.get("text")) is not str:
            continue
        text = obj.pop("text")
        ok = raw.count(b":") == len(obj) + 1 + text.count(":") + len(obj.get("context", _EMPTY)) \
            + len(obj.get("scores", _EMPTY)) or _plain(obj, raw, 1 + text.count(":"))
        if ok:
            obj["text"] = text
            out_rows.append(k)
            objs.append(obj)
            texts.append(text)
    return out_rows, objs, texts


def _plain(obj: dict[str, Any], raw: bytes, extra: int = 0) -> bool:
    """Whether orjson read `obj` exactly as the strict reader would, when the line has
    more colons than keys: they must all be inside strings (a duplicate key always
    leaves one more). Nested values are refused (the columns would refuse them)."""
    colons = len(obj) + extra
    x = obj.get("id")
    if type(x) is str:
        colons += x.count(":")
    for key in ("context", "scores"):
        d = obj.get(key)
        if d is None:
            continue
        if type(d) is not dict:
            return False
        colons += len(d)
        for a, v in d.items():
            colons += a.count(":")
            t = type(v)
            if t is str:
                colons += v.count(":")
            elif t is dict or t is list:
                return False
    return raw.count(b":") == colons


def stoppable_chunks(source: IO[bytes], chunk_bytes: int, stop: Any,
                     interrupted: type[BaseException]) -> Iterator[Chunk]:
    """`read_chunks`, ending early on a stop: `stop` has `signum` (stop between chunks
    when set) and `reading` (set while waiting for input; its signal handler raises
    `interrupted` then, which ends the iteration too)."""
    chunks = read_chunks(source, chunk_bytes)
    while stop is None or not stop.signum:
        if stop is None:
            chunk = next(chunks, None)
        else:
            try:
                stop.reading = True
                chunk = next(chunks, None)
            except interrupted:
                return
            finally:
                stop.reading = False
        if chunk is None:
            return
        yield chunk


def never_blocks(source: IO[bytes]) -> bool:
    """Whether reading `source` ahead never waits for input: a regular file or an
    in-memory stream, not a pipe, a socket or a terminal (where the decisions of the
    lines already read must go out before the next line is awaited)."""
    try:
        return stat.S_ISREG(os.fstat(source.fileno()).st_mode)
    except (AttributeError, OSError, io.UnsupportedOperation):
        return True  # no file descriptor: bytes in memory


def decided_chunks(engine: JsonlEngine, chunks: Iterable[Chunk], audit: bool
                   ) -> Iterator[tuple[Chunk, ChunkResult]]:
    """Each chunk with its result, in order, one chunk read ahead: chunk k+1 is decoded
    and its classifiers started before chunk k is finished, so the model thread scores
    k+1 while this one finishes k (a bundle without classifiers gains nothing and loses
    nothing: `prepare` only decodes). Only for a source that `never_blocks`."""
    ahead: tuple[Chunk, Prepared] | None = None
    for chunk in chunks:
        prepared = engine.prepare(chunk)
        if ahead is not None:
            yield ahead[0], engine.decide_chunk(ahead[0], audit, ahead[1])
        ahead = chunk, prepared
    if ahead is not None:
        yield ahead[0], engine.decide_chunk(ahead[0], audit, ahead[1])


def decide_jsonl(checker: Checker, source: IO[bytes], out: IO[bytes], audit: IO[bytes] | None,
                 report: Callable[[BadLine], None], stop: Any = None,
                 progress: Callable[[int], None] | None = None,
                 interrupted: type[BaseException] = Interrupted,
                 chunk_bytes: int = CHUNK_BYTES) -> Tally:
    """Decide every JSON Lines event of `source` (docs/cli.md, *Batch input*); `stop`
    and `interrupted` as `stoppable_chunks` takes them."""
    engine = JsonlEngine(checker)
    tally = Tally()
    ahead = bool(checker.bindings.classifier_specs) and never_blocks(source)
    if ahead:
        chunk_bytes = min(chunk_bytes, TEXT_CHUNK_BYTES)
    chunks = stoppable_chunks(source, chunk_bytes, stop, interrupted)
    results: Iterable[tuple[Chunk, ChunkResult]]
    if ahead:
        results = decided_chunks(engine, chunks, audit is not None)
    else:  # no models to start, or a pipe or a terminal: each chunk's lines go out
        results = ((c, engine.decide_chunk(c, audit is not None)) for c in chunks)
    for chunk, r in results:
        for bad in r.bad:
            report(bad)
        tally.lines += len(chunk.raws)
        tally.decided += r.decided
        tally.skipped += len(r.bad)
        out.write(r.out)
        if audit is not None:
            audit.write(r.audit)
        if progress is not None:
            progress(chunk.end)
    return tally


__all__ = ["CHUNK_BYTES", "TEXT_CHUNK_BYTES", "Chunk", "Columns", "Engine", "Fragments",
           "Interrupted", "JsonlEngine", "Prepared", "audit_text", "decide_jsonl",
           "decided_chunks", "id_json", "never_blocks", "read_chunks", "stoppable_chunks"]
