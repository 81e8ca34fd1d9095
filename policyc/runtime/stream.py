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

import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import IO, Any

import numpy as np
import orjson

from policyc.runtime.audit import AUDIT_SCHEMA, audit_record, new_decision_id, now
from policyc.runtime.checker import Checker
from policyc.runtime.events import InvalidEvent, doubled_cuts, event_from_json
from policyc.runtime.jsonl import MAX_LINE_BYTES, BadLine, Line, Tally, dumps_line, parse_line

#: Bytes read at a time (a chunk is the whole lines of one read; `read1` on a pipe
#: returns what is there, so an interactive producer is answered at once).
CHUNK_BYTES = 1 << 20
#: Distinct combinations remembered across chunks (their decided output fragments).
COMBO_CACHE = 1 << 16

_MISSING = object()
#: orjson reads an integer past 64 bits as a float: a float this large goes to the
#: strict reader (which keeps the integer, or refuses a number out of double range)
_BIG = 9.2e18
_EVENT_KEYS = frozenset(("id", "text", "context", "scores"))
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
    """The lines of a binary stream as `jsonl.read_lines` splits them, in chunks."""
    read = getattr(stream, "read1", None) or stream.read
    number = offset = 0
    carry = b""
    too_long = False  # inside a line longer than `max_line_bytes` (dropped as it comes)
    first_line = True
    while True:
        block = read(chunk_bytes)
        offset += len(block)
        if not block:
            raws: list[bytes | None] = []
            if too_long:
                raws.append(None)
            elif carry:
                raws.append(_bom(carry) if first_line else carry)
            if raws:
                yield Chunk(number + 1, raws, offset)
            return
        data = carry + block if carry else block
        parts: list[Any] = data.split(b"\n")
        carry = parts.pop()
        if too_long and parts:  # the long line ends in this block
            parts[0] = None
            too_long = False
        if len(carry) > max_line_bytes and not too_long:
            too_long, carry = True, b""
        elif too_long:
            carry = b""
        if not parts:
            continue
        if b"\r" in data:
            parts = [p[:-1] if p and p[-1] == 13 else p for p in parts]
        for k, p in enumerate(parts):
            if p is not None and len(p) > max_line_bytes:
                parts[k] = None
        if first_line:
            if parts[0] is not None:
                parts[0] = _bom(parts[0])
            first_line = False
        yield Chunk(number + 1, parts, offset - len(carry))
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
    return Fragments(
        out_mid=", " + json.dumps(dd, ensure_ascii=False)[1:-1] + ', "scores": ',
        out_tail=(', "errors": ' + json.dumps(errors, ensure_ascii=False) if errors else "")
        + "}\n",
        audit_mid=", " + json.dumps(rec, ensure_ascii=False)[1:-1] + ', "scores": ',
        action=d.action, argument=d.argument, rule=d.rule, winner=d.winner, floor=d.floor,
        matched=tuple(d.matched), errors=list(errors))


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
        p = np.searchsorted(self.dcuts[i], x, side="right").astype(np.int32)
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

    # ---- any columns: combinations, then the reference path ---------------------------------

    def decide(self, cols: Columns, event: Callable[[int], tuple[Any, Any, Any, Any]]
               ) -> Decided:
        """Decide the rows of `cols`; a row not ok goes to `event(k)` (its `(id, text,
        context, scores)`, or `BadLine`/`InvalidEvent`) and `Checker.check`."""
        ok, pieces = self.pieces(cols)
        good = np.flatnonzero(ok)
        index = np.full(cols.n, -1, dtype=np.intp)
        frags: list[Fragments] = []
        if good.size:
            inverse, frags = self.combos(pieces, good if good.size < cols.n else None)
            index[good] = inverse
        out = Decided(frags, index)
        for k in np.flatnonzero(~ok).tolist():
            try:
                _, text, context, scores = event(k)
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
            if d.redacted is not None:
                out.redacted[k] = (d.redacted, list(d.spans))
        return out


def id_json(x: Any) -> str:
    """An id as `json.dumps` writes it (a string, an int, a float, or null)."""
    t = type(x)
    if t is str:
        return encode_basestring(x)  # type: ignore[no-any-return]
    if x is None:
        return "null"
    return repr(x) if t is float else str(x)


# ---- JSON Lines ------------------------------------------------------------------------------

@dataclass
class ChunkResult:
    out: bytes
    audit: bytes
    bad: list[BadLine] = field(default_factory=list)
    decided: int = 0


class JsonlEngine(Engine):
    """JSON Lines chunks to decision lines and audit records."""

    def columns(self, objs: list[dict[str, Any]]) -> tuple[Columns, list[Any], list[Any]]:
        """Columns of decoded events (`trusted`), with each row's scores and id."""
        n = len(objs)
        cols = Columns(n)
        ctxs = [o.get("context", _EMPTY) for o in objs]
        scs = [o.get("scores", _EMPTY) for o in objs]
        ids = [o.get("id") for o in objs]
        cn, sn = self.context_names, self.score_names
        cols.bad |= ~np.fromiter((type(c) is dict and c.keys() <= cn for c in ctxs),
                                 dtype=np.bool_, count=n)
        cols.bad |= ~np.fromiter((type(s) is dict and s.keys() <= sn for s in scs),
                                 dtype=np.bool_, count=n)
        # an event needs `context` or `scores`; an id is a string or a plain number (a
        # float this large may be an integer past 64 bits, which orjson reads as a float)
        cols.bad |= np.fromiter(
            ((c is _EMPTY and s is _EMPTY) or not (type(x) is str or x is None or type(x) is int
                                                  or type(x) is float and abs(x) < _BIG)
             for c, s, x in zip(ctxs, scs, ids, strict=True)), dtype=np.bool_, count=n)
        if cols.bad.any():  # not objects: no `.get` below
            ctxs = [c if type(c) is dict else _EMPTY for c in ctxs]
            scs = [s if type(s) is dict else _EMPTY for s in scs]
        for i in self.context_vars:
            name = self.variables[i].name
            cols.values[name] = [c.get(name, _MISSING) for c in ctxs]
        for i in self.score_vars:
            name = self.variables[i].name
            cols.values[name] = [s.get(name, _MISSING) for s in scs]
        return cols, scs, ids

    def decide_chunk_columns(self, chunk: Chunk) -> Decided:
        """A chunk as `Decided` (for `replay`): the same trust rules as `decide_chunk`."""
        rows, objs = trusted(chunk.raws)
        cols, _, _ = self.columns(objs)
        full = Columns(len(chunk.raws))
        full.bad[:] = True
        pos = np.array(rows, dtype=np.intp)
        full.bad[pos] = cols.bad
        for name, vals in cols.values.items():
            col: list[Any] = [_MISSING] * full.n
            for j, k in enumerate(rows):
                col[k] = vals[j]
            full.values[name] = col

        def event(k: int) -> tuple[Any, Any, Any, Any]:
            raw = chunk.raws[k]
            line = Line(chunk.first + k, raw or b"", 0, raw is None)
            return event_from_json(parse_line(line))  # type: ignore[no-any-return]
        return self.decide(full, event)

    def decide_chunk(self, chunk: Chunk, audit: bool) -> ChunkResult:
        raws = chunk.raws
        n = len(raws)
        fast, objs = trusted(raws)
        ref = sorted(set(range(n)) - set(fast)) if len(fast) < n else []
        lines: list[Any] = [None] * n
        records: list[Any] = [None] * n if audit else []
        if objs:
            self._fast(fast, objs, lines, records, ref, audit)
        bad: list[BadLine] = []
        if ref:
            ref.sort()
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
        out = _join(lines)
        return ChunkResult(out, _join(records) if audit else b"", bad, n - len(bad))

    def _fast(self, fast: list[int], objs: list[dict[str, Any]], lines: list[Any],
              records: list[Any], ref: list[int], audit: bool) -> None:
        n = len(objs)
        cols, scs, ids = self.columns(objs)
        ok, pieces = self.pieces(cols)
        good = np.flatnonzero(ok)
        if good.size < n:
            ref.extend(fast[k] for k in np.flatnonzero(~ok).tolist())
        if not good.size:
            return
        inverse, decided = self.combos(pieces, good if good.size < n else None)
        q = self.quoted
        for j, k in enumerate(good.tolist()):
            f = decided[inverse[j]]
            s = scs[k]
            sj = "{" + ", ".join([f"{q[a]}: {float(x)!r}" for a, x in s.items() if x]) + "}" \
                if s else "{}"
            ij = id_json(ids[k])
            row = fast[k]
            lines[row] = '{"id": ' + ij + f.out_mid + sj + f.out_tail
            if audit:
                records[row] = (f'{{"schema": "{AUDIT_SCHEMA}", "decision_id": "'
                                f'{new_decision_id()}", "time": "{now()}", "id": {ij}'
                                + f.audit_mid + sj + "}\n")


_EMPTY: dict[str, Any] = {}


def trusted(raws: Sequence[bytes | None]) -> tuple[list[int], list[dict[str, Any]]]:
    """The lines orjson reads exactly as the strict reader would, as text-less events
    (their positions, their values); every other line takes the reference path."""
    fast: list[int] = []
    objs: list[dict[str, Any]] = []
    loads, keys = _loads, _EVENT_KEYS
    for k, raw in enumerate(raws):
        if raw is None or b"\\u003" in raw:
            continue
        try:
            obj = loads(raw)
            if type(obj) is dict and "text" not in obj and obj.keys() <= keys and (
                    raw.count(b":") == len(obj) + len(obj.get("context", _EMPTY))
                    + len(obj.get("scores", _EMPTY)) or _plain(obj, raw)):
                fast.append(k)
                objs.append(obj)
        except (_JSONDecodeError, TypeError):  # TypeError: `len` of a number
            pass
    return fast, objs


def _plain(obj: dict[str, Any], raw: bytes) -> bool:
    """Whether orjson read `obj` exactly as the strict reader would, when the line has
    more colons than keys: they must all be inside strings (a duplicate key always
    leaves one more). Nested values are refused (the columns would refuse them)."""
    colons = len(obj)
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


def _join(parts: Sequence[Any]) -> bytes:
    """Lines (str for the fast rows, bytes from the reference path; None: skipped)."""
    if not any(type(p) is bytes for p in parts):
        return "".join([p for p in parts if p is not None]).encode("utf-8")
    return b"".join(p if type(p) is bytes else p.encode("utf-8") for p in parts if p is not None)


def decide_jsonl(checker: Checker, source: IO[bytes], out: IO[bytes], audit: IO[bytes] | None,
                 report: Callable[[BadLine], None], stop: Any = None,
                 progress: Callable[[int], None] | None = None,
                 interrupted: type[BaseException] = Interrupted,
                 chunk_bytes: int = CHUNK_BYTES) -> Tally:
    """Decide every JSON Lines event of `source` (docs/cli.md, *Batch input*).

    `stop`: an object with `signum` (stop between chunks when set) and `reading` (set
    while waiting for input; its signal handler raises `interrupted` then).
    """
    engine = JsonlEngine(checker)
    tally = Tally()
    chunks = read_chunks(source, chunk_bytes)
    while stop is None or not stop.signum:
        if stop is not None:
            try:
                stop.reading = True
                chunk = next(chunks, None)
            except interrupted:
                break
            finally:
                stop.reading = False
        else:
            chunk = next(chunks, None)
        if chunk is None:
            break
        r = engine.decide_chunk(chunk, audit is not None)
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


__all__ = ["CHUNK_BYTES", "Chunk", "Columns", "Engine", "Fragments", "Interrupted",
           "JsonlEngine", "decide_jsonl", "id_json", "read_chunks"]
