"""Parquet in and out for the streaming engine (docs/cli.md, *Columnar input*).

Columns map to event fields: `id`, `text`, `context.<attribute>`, `scores.<category>`;
the labels `eval` reads (`label`, `categories`, `expect`, `group`) are ignored here.
A null cell is an absent field (an attribute takes its default, a score is 0), since
a column cannot leave a cell out. Any other column is refused before anything is
decided (`ColumnError`).

Decisions come back as columns: `row` (1-based row of the input), `id` (as the input
has it; from JSON Lines, a string: string ids as they are, numbers as their JSON text),
`action`, `argument`, `rule`, `winner`, `floor`, `matched` and `errors` (lists of
strings), `redacted` (the redacted text of a `redact` decision on text, else null).
Bad rows are reported as `FILE:ROW: skipped: why` with the message the same event in
JSON Lines would get, and left out of the output, as in JSON Lines.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

if "pyarrow" not in sys.modules and sys.platform == "linux":  # see `lean_memory_pool`
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc
import pyarrow.parquet as pq

from policyc.runtime.checker import Checker
from policyc.runtime.events import InvalidEvent, check_id, describe
from policyc.runtime.jsonl import BadLine, Tally, dumps_line, utf8
from policyc.runtime.stream import (
    CHUNK_BYTES,
    Columns,
    Decided,
    Engine,
    Interrupted,
    JsonlEngine,
    audit_text,
    id_json,
    stoppable_chunks,
)

#: Rows decided at a time.
BATCH_ROWS = 1 << 16
LABEL_COLUMNS = frozenset(("label", "categories", "expect", "group"))
_MAGIC = b"PAR1"

_DICT = pa.dictionary(pa.int32(), pa.string())
OUTPUT_SCHEMA_FIELDS = [("row", pa.int64()), ("action", _DICT), ("argument", _DICT),
                        ("rule", _DICT), ("winner", _DICT), ("floor", _DICT),
                        ("matched", pa.list_(pa.string())), ("errors", pa.list_(pa.string())),
                        ("redacted", pa.string())]


class ColumnError(ValueError):
    """A column the mapping does not know, or a file that is not Parquet."""

    def __init__(self, message: str, help: str | None = None):
        super().__init__(message)
        self.help = help


def is_parquet(path: Path) -> bool:
    """A Parquet file: by its suffix (`.parquet`, `.pq`), or the magic bytes of a regular
    file. A pipe (`/dev/stdin`, a FIFO, `<(zcat events.gz)`) is never sniffed: what the
    sniff read would be gone for the reader (and Parquet needs to seek anyway)."""
    if path.suffix.lower() in (".parquet", ".pq"):
        return True
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            return False
        with path.open("rb") as fh:
            return fh.read(4) == _MAGIC
    except OSError:
        return False


def check_columns(names: list[str]) -> None:
    """Every column maps to one event field (a name twice would map two cells to it)."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ColumnError(f"column `{name}` appears more than once",
                              "give each event field one column")
        seen.add(name)
        if name in ("id", "text") or name in LABEL_COLUMNS:
            continue
        head, dot, rest = name.partition(".")
        if dot and rest and head in ("context", "scores"):
            continue
        raise ColumnError(f"unknown column `{name}`",
                          "columns are `id`, `text`, `context.<attribute>`, "
                          "`scores.<category>` (and the labels `label`, `categories`, "
                          "`expect`, `group`)")


def lean_memory_pool() -> None:
    """Make jemalloc (else the system allocator) pyarrow's default memory pool, unless
    `ARROW_DEFAULT_MEMORY_POOL` chooses one. Measured on `check --input` Parquet to
    Parquet (benchmarks/batch.py): with mimalloc, pyarrow's default, the peak grew
    from 148 MB at 1 M rows to 177 MB at 10 M (memory freed in the writer thread held
    back); with jemalloc 123 / 130 MB, the system allocator 122 / 128 MB. Best chosen
    before pyarrow allocates anything: importing this module first sets the variable
    (on Linux, whose wheels have jemalloc); this is for when pyarrow came first."""
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL") or \
            pa.default_memory_pool().backend_name != "mimalloc":
        return
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:  # a build without jemalloc
        pool = pa.system_memory_pool()
    pa.set_memory_pool(pool)


def batches(path: Path, rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    lean_memory_pool()
    try:
        f = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ColumnError(f"cannot read {path} as Parquet: {str(exc).strip()}") from None
    check_columns(f.schema_arrow.names)
    yield from f.iter_batches(batch_size=rows, use_threads=False)


# ---- arrays to numpy and back, through their buffers -----------------------------------------
# (`Array.to_numpy`, `pa.array` and `pa.scalar` import pandas, some 50 MB of memory for
# nothing here: the engine reads and writes the buffers itself)

_NUMPY = {"int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64,
          "uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32, "uint64": np.uint64,
          "halffloat": np.float16, "float": np.float32, "double": np.float64}


def _bits(buf: pa.Buffer, n: int, offset: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(buf, dtype=np.uint8), count=n + offset,
                         bitorder="little")[offset:].astype(np.bool_)


def null_mask(arr: pa.Array) -> np.ndarray:
    """True where `arr` is null."""
    n = len(arr)
    if arr.null_count == 0:
        return np.zeros(n, dtype=np.bool_)
    if arr.null_count == n:
        return np.ones(n, dtype=np.bool_)
    return ~_bits(arr.buffers()[0], n, arr.offset)


def numpy_of(arr: pa.Array) -> np.ndarray:
    """The values of a fixed-width numeric array (a null's slot holds anything)."""
    dtype = np.dtype(_NUMPY[str(arr.type)])
    n, off = len(arr), arr.offset
    buf = arr.buffers()[1]
    if buf is None:
        return np.zeros(n, dtype=dtype)
    return np.frombuffer(buf, dtype=dtype, count=n + off)[off:]


def bits_of(arr: pa.Array) -> np.ndarray:
    """The values of a boolean array (a null's slot holds anything)."""
    buf = arr.buffers()[1]
    return np.zeros(len(arr), np.bool_) if buf is None else _bits(buf, len(arr), arr.offset)


def from_numpy(x: np.ndarray) -> pa.Array:
    x = np.ascontiguousarray(x)
    return pa.Array.from_buffers(pa.from_numpy_dtype(x.dtype), len(x), [None, pa.py_buffer(x)])


def strings(values: list[str | None]) -> pa.Array:
    """A string array (None: null); a lone surrogate is written as its `\\uXXXX` escape."""
    try:
        data = [b"" if v is None else v.encode("utf-8") for v in values]
    except UnicodeEncodeError:  # an id or a text from JSON with a lone surrogate
        data = [b"" if v is None else utf8(v) for v in values]
    offsets = np.zeros(len(data) + 1, dtype=np.int32)
    np.cumsum(np.fromiter(map(len, data), dtype=np.int64, count=len(data)), out=offsets[1:])
    valid = np.fromiter((v is not None for v in values), dtype=np.bool_, count=len(values))
    validity = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(pa.string(), len(data), [validity, pa.py_buffer(offsets),
                                                          pa.py_buffer(b"".join(data))])


def string_lists(values: list[list[str]]) -> pa.Array:
    """A `list<string>` array (no null lists)."""
    offsets = np.zeros(len(values) + 1, dtype=np.int32)
    np.cumsum([len(v) for v in values], out=offsets[1:])
    flat = strings([x for v in values for x in v])
    return pa.Array.from_buffers(pa.list_(pa.string()), len(values),
                                 [None, pa.py_buffer(offsets)], children=[flat])


class ArrowEngine(Engine):
    """Record batches to decisions (vectorized: no per-row Python for good rows)."""

    def columns(self, batch: pa.RecordBatch) -> Columns:
        n = batch.num_rows
        cols = Columns(n)
        names = batch.schema.names
        for name in names:  # a name the policy does not declare: every row says so
            head, _, rest = name.partition(".")
            if head == "context" and rest not in self.context_names \
                    or head == "scores" and rest not in self.score_names:
                cols.bad |= ~null_mask(batch.column(name))
        if "id" in names:  # an id JSON cannot carry (bool, bytes, a date, NaN): the row's message
            cols.bad |= _bad_ids(batch.column("id"))
        if "text" in names:
            cols.text = ~null_mask(batch.column("text"))
            given = np.zeros(n, dtype=np.bool_)
            for name in names:
                if name.startswith("scores."):
                    given |= ~null_mask(batch.column(name))
            cols.text_only = cols.text & ~given
        for i, var in enumerate(self.variables):
            col = f"{'scores' if var.kind == 'score' else 'context'}.{var.name}"
            if col not in names:
                continue
            arr = batch.column(col)
            null = null_mask(arr)
            t = arr.type
            if var.kind == "enum" and (pa.types.is_string(t) or pa.types.is_large_string(t)
                                       or pa.types.is_dictionary(t)):
                enc = arr if pa.types.is_dictionary(t) else pc.dictionary_encode(arr)
                lut = self.enum_lut[i]
                values = enc.dictionary.to_pylist()
                table = np.array([lut.get(v, -1) if isinstance(v, str) else -1 for v in values]
                                 + [self.missing_piece[i]], dtype=np.int32)
                idx = numpy_of(enc.indices).astype(np.intp)
                idx[null] = len(values)
                cols.pieces[var.name] = table[idx]
            elif var.kind == "bool" and pa.types.is_boolean(t):
                p = bits_of(arr).astype(np.int32)
                p[null] = self.missing_piece[i]
                cols.pieces[var.name] = p
            elif var.kind in ("number", "score") and str(t) in _NUMPY:
                x = numpy_of(arr).astype(np.float64)
                if null.any():
                    x[null] = 0.0 if var.kind == "score" else (
                        np.nan if var.default is None else float(var.default))
                cols.values[var.name] = x
            else:  # a column of another type: row by row (refused with the row's message)
                cols.bad |= ~null
        return cols

    def decide_batch(self, batch: pa.RecordBatch) -> Decided:
        text = batch.column("text") if "text" in batch.schema.names else None
        return self.decide(self.columns(batch), lambda k: event_of(batch, k),
                           texts=None if text is None or not pa.types.is_string(text.type)
                           else lambda rows: text.take(from_numpy(rows)).to_pylist())


def _bad_ids(ids: pa.Array) -> np.ndarray:
    """True where an `id` cell is not a string or a finite number (`event_of` says why)."""
    t = ids.type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t) \
            or pa.types.is_null(t):
        return np.zeros(len(ids), dtype=np.bool_)
    if pa.types.is_floating(t):
        return ~np.isfinite(numpy_of(ids.cast(pa.float64())).astype(np.float64)) \
            & ~null_mask(ids)
    return ~null_mask(ids)


def event_of(batch: pa.RecordBatch, k: int) -> tuple[Any, Any, Any, Any]:
    """Row k as a JSON event would give it: (id, text, context, scores), nulls left out;
    an id or a text of another type is refused with the message JSON Lines gives."""
    row = batch.slice(k, 1).to_pylist()[0]
    context = {n[8:]: v for n, v in row.items() if n.startswith("context.") and v is not None}
    scores = {n[7:]: v for n, v in row.items() if n.startswith("scores.") and v is not None}
    event_id, text = row.get("id"), row.get("text")
    if event_id is not None:
        check_id(event_id)
    if text is not None and not isinstance(text, str):
        raise InvalidEvent(f"`text` must be a string, not {describe(text)}")
    return event_id, text, context, scores


def output_table(d: Decided, rows: np.ndarray, ids: pa.Array | None) -> pa.Table:
    """The decided rows (`rows`: their 0-based positions in the batch) as columns."""
    keep = d.index >= 0
    every = bool(keep.all())
    pos = np.arange(len(keep)) if every else np.flatnonzero(keep)
    which = d.index if every else d.index[pos]
    f = d.frags

    def col(values: list[str | None]) -> pa.Array:  # dictionary-encoded: few distinct values
        uniq = sorted({v for v in values if v is not None})
        at = {v: k for k, v in enumerate(uniq)}
        lut = np.array([at.get(v, -1) if v is not None else -1 for v in values] or [-1],
                       dtype=np.int32)
        ind = lut[which]
        null = ind < 0
        indices = from_numpy(ind)
        if null.any():
            valid = pa.py_buffer(np.packbits(~null, bitorder="little"))
            indices = pa.Array.from_buffers(pa.int32(), len(ind),
                                            [valid, pa.py_buffer(np.ascontiguousarray(ind))])
        return pa.DictionaryArray.from_arrays(indices, strings(list(uniq)))

    red = None
    if d.redacted:
        red = strings([d.redacted.get(k, (None,))[0] for k in pos.tolist()])
    arrays = [from_numpy((rows[pos] + 1).astype(np.int64))]
    names = ["row"]
    if ids is not None:
        arrays.append(ids if every else ids.take(from_numpy(pos)))
        names.append("id")
    arrays += [col([x.action for x in f]), col([x.argument for x in f]),
               col([x.rule for x in f]), col([x.winner for x in f]), col([x.floor for x in f]),
               _lists([list(x.matched) for x in f], which),
               _lists([x.errors for x in f], which),
               red if red is not None else pa.nulls(len(pos), pa.string())]
    names += ["action", "argument", "rule", "winner", "floor", "matched", "errors", "redacted"]
    return pa.Table.from_arrays(arrays, names=names)


def _lists(per_combo: list[list[str]], which: np.ndarray) -> pa.Array:
    """Row k's list is `per_combo[which[k]]`: offsets and child indices with numpy, one
    `take` of the strings (a `take` of a list array costs several times more)."""
    lens = np.array([len(v) for v in per_combo], dtype=np.int64)
    starts = np.zeros(len(per_combo) + 1, dtype=np.int64)
    np.cumsum(lens, out=starts[1:])
    row_lens = lens.astype(np.int32)[which]
    offsets = np.zeros(which.size + 1, dtype=np.int32)
    np.cumsum(row_lens, out=offsets[1:])
    total = int(offsets[-1])
    flat = strings([x for v in per_combo for x in v])
    if not total:
        flat = flat.slice(0, 0)
    elif lens.max() == 1:  # at most one item a row: the rows that have one, their item
        flat = flat.take(from_numpy(starts[:-1].astype(np.int32)[which][row_lens > 0]))
    else:
        child_idx = np.repeat(starts[:-1][which] - offsets[:-1], row_lens) + np.arange(total)
        flat = flat.take(from_numpy(child_idx.astype(np.int32)))
    return pa.Array.from_buffers(pa.list_(pa.string()), which.size,
                                 [None, pa.py_buffer(offsets)], children=[flat])


#: Writer settings: dictionaries for the few-valued columns only (a row number or an id
#: has as many values as rows: trying a dictionary first costs a third of the write),
#: integers delta-encoded, statistics for `row` only.
_DICTIONARY = ["action", "argument", "rule", "winner", "floor", "matched", "errors",
               "redacted"]


def writer_options(schema: pa.Schema) -> dict[str, Any]:
    delta = {f.name: "DELTA_BINARY_PACKED" for f in schema
             if f.name in ("row", "id") and pa.types.is_integer(f.type)}
    return {"use_dictionary": _DICTIONARY, "write_statistics": ["row"],
            "column_encoding": delta or None}


class ParquetOut:
    """A Parquet writer opened at the first table (its `id` type comes from the input).

    Tables are written in a worker thread (pyarrow releases the GIL while it encodes), one
    at a time and in order, while the next batch is decided."""

    def __init__(self, sink: Any):
        self.sink = sink
        self.writer: pq.ParquetWriter | None = None
        self._pool: Any = None
        self._pending: Any = None

    def write(self, table: pa.Table) -> None:
        if self.writer is None:
            from concurrent.futures import ThreadPoolExecutor

            lean_memory_pool()

            self.writer = pq.ParquetWriter(self.sink, table.schema,
                                             **writer_options(table.schema))
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="policyc-parquet")
        self._wait()
        self._pending = self._pool.submit(self.writer.write_table, table)

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()  # a write error surfaces here

    def close(self, empty_id: pa.DataType | None = None) -> None:
        self._wait()
        if self._pool is not None:
            self._pool.shutdown()
        if self.writer is None:  # no row decided: an empty file with the columns
            fields = list(OUTPUT_SCHEMA_FIELDS)
            if empty_id is not None:
                fields.insert(1, ("id", empty_id))
            schema = pa.schema(fields)
            self.writer = pq.ParquetWriter(self.sink, schema, **writer_options(schema))
        self.writer.close()


def decide_parquet(checker: Checker, path: Path, out: IO[bytes] | ParquetOut,
                   audit: IO[bytes] | None, report: Callable[[BadLine], None],
                   stop: Any = None, progress: Callable[[int], None] | None = None,
                   rows: int = BATCH_ROWS) -> Tally:
    """`check --input FILE.parquet`: decisions to Parquet (`ParquetOut`) or JSON Lines."""
    from policyc.runtime.audit import AUDIT_SCHEMA, audit_record, new_decision_id, now

    engine = ArrowEngine(checker)
    tally = Tally()
    first = 0
    id_type = None
    for batch in batches(path, rows):
        if stop is not None and stop.signum:
            break
        d = engine.decide_batch(batch)
        n = batch.num_rows
        for k in sorted(d.errors):
            report(BadLine(first + k + 1, d.errors[k]))
        has_id = "id" in batch.schema.names
        ids = batch.column("id") if has_id else None
        id_type = ids.type if ids is not None else None
        if isinstance(out, ParquetOut):
            out.write(output_table(d, np.arange(first, first + n), ids))
        if audit is not None or not isinstance(out, ParquetOut):
            lines, records = [], []
            py_ids = ids.to_pylist() if ids is not None else [None] * n
            score_cols = [(c[7:], batch.column(c).to_pylist()) for c in batch.schema.names
                          if c.startswith("scores.")]
            q = engine.quoted
            for k in np.flatnonzero(d.index >= 0).tolist():
                ref = d.decisions.get(k)
                if ref is not None:  # decided by `check`: its own scores, redaction
                    lines.append(dumps_line({"id": py_ids[k], **ref.to_dict()}).decode())
                    if audit is not None:
                        records.append(dumps_line(audit_record(ref, py_ids[k])).decode())
                    continue
                f = d.frags[d.index[k]]
                sj = d.score_texts.get(k) or "{" + ", ".join(
                    [f"{q[name]}: {float(col[k])!r}" for name, col in score_cols if col[k]]) + "}"
                ij = id_json(py_ids[k])
                lines.append('{"id": ' + ij + f.out_mid + sj + f.out_tail)
                if audit is not None:
                    records.append(f'{{"schema": "{AUDIT_SCHEMA}", "decision_id": "'
                                   f'{new_decision_id()}", "time": "{now()}", "id": {ij}'
                                   + f.audit_mid + sj + "}\n")
            if not isinstance(out, ParquetOut):
                out.write("".join(lines).encode("utf-8"))
            if audit is not None:
                audit.write("".join(records).encode("utf-8"))
        tally.lines += n
        tally.skipped += len(d.errors)
        tally.decided += n - len(d.errors)
        first += n
        if progress is not None:
            progress(first)
    if isinstance(out, ParquetOut):
        out.close(id_type)
    return tally


def decide_jsonl_parquet(checker: Checker, source: IO[bytes], out: ParquetOut,
                         audit: IO[bytes] | None, report: Callable[[BadLine], None],
                         stop: Any = None, progress: Callable[[int], None] | None = None,
                         interrupted: type[BaseException] = Interrupted,
                         chunk_bytes: int = CHUNK_BYTES) -> Tally:
    """`check --input FILE.jsonl --output OUT.parquet`: decisions as columns (`id` as a
    string: string ids as they are, numbers as their JSON text), a chunk at a time;
    the audit log, when asked for, as `decide_jsonl` writes it. `stop` as there."""
    engine = JsonlEngine(checker)
    tally = Tally()
    for chunk in stoppable_chunks(source, chunk_bytes, stop, interrupted):
        d = engine.decide_chunk_columns(chunk, scores=audit is not None)
        n = len(chunk.raws)
        for k in sorted(d.errors):
            report(BadLine(chunk.first + k, d.errors[k]))
        rows = np.arange(chunk.first - 1, chunk.first - 1 + n)
        ids = [d.id_of(k) for k in np.flatnonzero(d.index >= 0).tolist()]
        text = strings([x if type(x) is str or x is None else id_json(x) for x in ids])
        table = output_table(d, rows, None)
        out.write(table.add_column(1, "id", text))
        if audit is not None:  # from the same decisions (the chunk is decided once)
            audit.write(audit_text(d, d.ids if d.ids is not None else [None] * n))
        tally.lines += n
        tally.skipped += len(d.errors)
        tally.decided += n - len(d.errors)
        if progress is not None:
            progress(chunk.end)
    out.close(pa.string())
    return tally


__all__ = ["ArrowEngine", "decide_jsonl_parquet", "ColumnError", "Interrupted", "ParquetOut", "batches",
           "decide_parquet", "is_parquet"]
