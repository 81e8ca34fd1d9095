"""The decision log: one `policyc/audit/v1` record a decision, as JSON Lines.

The record is the one `policyc check --audit-log` writes (`policyc.runtime.audit`),
plus `latency_ms` (the server-side time of the decision) and, when the event had a
text, `text_hash` (``hmac-sha256:`` of the text under a salt) and `text_length` (in
characters): audit without collecting user data. `log_text=True` adds the `text`.

A request only queues its record's parts (the decision, its answer dict, the time as
a float) with one `deque.append`, no lock; a writer thread builds the JSON lines,
`WRITE_RECORDS` at a time (a quarter of the cost of building each one in the middle of
its request, where nothing of the record code is in the CPU's caches), and writes the
chunks of its turn with one `os.writev` (`WRITEV_RECORDS`) on a file opened for
appending: whole lines, so a reader never sees a torn one. It runs every `interval`
seconds, or sooner once `FLUSH_RECORDS` wait, and owns the file:
`os.write` to the page cache usually takes 40 µs for 256 KiB but stalls for 5–12 ms
at the 99th percentile on the shared test machine, and the event loop must not wait
for it (it releases the GIL, so the loop runs on). `close` stops the writer and writes
what is left (the server calls it on shutdown, after the last request): no line lost.
When the file would grow past `max_bytes` it is rotated first: ``log`` becomes
``log.1``, ``log.1`` becomes ``log.2`` … up to `backups` files.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import threading
import time as _time
from collections import deque
from pathlib import Path
from typing import Any

import orjson

from policyc.runtime.audit import AUDIT_SCHEMA, audit_record, now
from policyc.runtime.decision import RuntimeDecision
from policyc.runtime.jsonl import dumps_line

log = logging.getLogger("policyc.serve")
_orjson_dumps, _NEWLINE = orjson.dumps, orjson.OPT_APPEND_NEWLINE
#: Records serialized and written together. Few: thousands of lines alive at once
#: (orjson gives each its own malloc block) grow the heap, which malloc then trims
#: again; the page faults cost 5-8 µs a line on this VM, against ~1 µs to make it.
WRITE_RECORDS = 64
#: Records written with one `writev` (their chunks of `WRITE_RECORDS` lines): one
#: syscall, so one hand-over of the GIL each way, for a writer's turn (a write releases
#: the GIL, and taking it back from a busy event loop costs more than the write:
#: ~2 µs a record on the live server with a write per 64 lines, `benchmarks/README.md`).
WRITEV_RECORDS = 1024
#: Wake the writer when this many records wait (it also writes every `interval` seconds).
FLUSH_RECORDS = 512


_now = _time.time  # a request queues its time as a float; the writer formats it


def _clock(at: float, _last: list[Any] = [-1, ""]) -> str:  # noqa: B006  # a cache
    """`at` as `runtime.audit.now` writes the time: `2025-01-31T12:00:00.000Z`."""
    ms = int(at * 1000)
    if ms != _last[0]:
        sec, frac = divmod(ms, 1000)
        _last[:] = ms, _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(sec)) + f".{frac:03d}Z"
    return _last[1]  # type: ignore[no-any-return]


class DecisionLog:
    """Append-only JSON Lines with size-based rotation (see the module docstring)."""

    def __init__(self, path: str | Path, *, max_bytes: int = 100 << 20, backups: int = 5,
                 log_text: bool = False, salt: bytes | None = None, interval: float = 0.2):
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self.log_text = log_text
        self._salt = salt if salt else secrets.token_bytes(32)
        self._hmac = hmac.new(self._salt, digestmod=hashlib.sha256)
        # the loop appends, the writer pops from the left: both atomic, no lock
        self._pending: deque[tuple[Any, ...]] = deque()
        self._carry = b""  # the unwritten end of a chunk whose write failed
        self._io = threading.Lock()  # one writer of the file at a time, batches in order
        self._fd = self._open()
        self._size = os.fstat(self._fd).st_size
        self.interval = interval
        self._wake = threading.Event()
        self._stopping = False
        self._writer = threading.Thread(target=self._run, name="policyc-decision-log",
                                        daemon=True)
        self._writer.start()

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)

    def text_hash(self, text: str) -> str:
        h = self._hmac.copy()  # the keyed state is built once: a copy is ~3x cheaper
        h.update(text.encode("utf-8", "surrogatepass"))
        return "hmac-sha256:" + h.hexdigest()

    def record(self, d: RuntimeDecision, event_id: Any, text: str | None, decision_id: str,
               latency_ms: float, decided: dict[str, Any] | None = None,
               time: str | None = None) -> dict[str, Any]:
        """The record: `audit_record`'s keys and values, built from `decided` (the
        answer's `d.to_dict()`, whose `matched` and `scores` it reuses) when given."""
        if decided is None:
            rec = audit_record(d, event_id, decision_id=decision_id, time=time)
        else:
            errors = decided.get("errors")
            rec = {"schema": AUDIT_SCHEMA, "decision_id": decision_id,
                   "time": time if time is not None else now(),
                   "id": event_id, "policy": decided["policy"],
                   "version": decided["version"], "hash": decided["hash"],
                   "action": d.action, "argument": d.argument, "rule": d.rule,
                   "winner": d.winner, "floor": d.floor, "matched": decided["matched"],
                   "errors": list(errors) if errors else [], "scores": decided["scores"]}
        rec["latency_ms"] = latency_ms
        if text is not None:
            rec["text_hash"] = self.text_hash(text)
            rec["text_length"] = len(text)
            if self.log_text:
                rec["text"] = text
        return rec

    def write(self, d: RuntimeDecision, event_id: Any, text: str | None, decision_id: str,
              latency_ms: float, decided: dict[str, Any] | None = None) -> None:
        """Queue the record of `d` (`decided`: its `to_dict()`, not to be changed after)."""
        pending = self._pending
        pending.append((d, event_id, text, decision_id, latency_ms, decided, _now()))
        if len(pending) == FLUSH_RECORDS:
            self._wake.set()

    def _line(self, item: tuple[Any, ...]) -> bytes:
        d, event_id, text, decision_id, latency_ms, decided, at = item
        rec = self.record(d, event_id, text, decision_id, latency_ms, decided, _clock(at))
        try:
            return _orjson_dumps(rec, option=_NEWLINE)  # type: ignore[no-any-return]
        except TypeError:  # a lone surrogate (only with `log_text`): escaped
            return dumps_line(rec)

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self.flush()
            except OSError as err:  # a full disk: said; the lines wait for the next turn
                log.error("cannot write the decision log %s: %s", self.path, err)
            except Exception:  # a defect: said; the writer carries on
                log.exception("decision log %s", self.path)

    def flush(self) -> None:
        """Write what is waiting, now (in order with the writer thread's writes).

        A write that fails (a full disk) loses nothing: the unwritten end of its chunk is
        written first next time, so no line is torn, and the records not yet serialized go
        back to the head of the queue; the `OSError` is raised for the caller to report."""
        with self._io:
            pending = self._pending
            if (not pending and not self._carry) or self._fd < 0:
                return
            pop = pending.popleft
            items = [pop() for _ in range(len(pending))]  # what is there now, in order
            line = self._line
            handed = 0  # records whose lines are written or kept in `_carry`
            try:
                self._drain()
                for g in range(0, len(items), WRITEV_RECORDS):
                    group = items[g:g + WRITEV_RECORDS]
                    chunks = [b"".join([line(item) for item in group[k:k + WRITE_RECORDS]])
                              for k in range(0, len(group), WRITE_RECORDS)]
                    handed = g + len(group)
                    self._write(chunks)
            except OSError:
                pending.extendleft(reversed(items[handed:]))
                raise

    def _write(self, chunks: list[bytes]) -> None:
        """Write whole chunks with one `writev`; what it leaves goes through `_carry`."""
        size = sum(map(len, chunks))
        if self._size and self._size + size > self.max_bytes:
            self._carry = b"".join(chunks)
            self._rotate()
            self._drain()
            return
        try:
            n = os.writev(self._fd, chunks)
        except OSError:
            self._carry = b"".join(chunks)
            raise
        self._size += n
        if n < size:  # a short write: the rest follows
            self._carry = b"".join(chunks)[n:]
            self._drain()

    def _drain(self) -> None:
        """Write `_carry` to its end; on an error keep what is left of it."""
        view = memoryview(self._carry)
        try:
            while view:  # a short write (a signal, a nearly full disk): the rest follows
                n = os.write(self._fd, view)
                view = view[n:]
                self._size += n
        finally:
            self._carry = bytes(view)

    def _rotate(self) -> None:
        os.close(self._fd)
        if self.backups > 0:
            for k in range(self.backups - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{k}")
                if older.exists():
                    os.replace(older, self.path.with_name(f"{self.path.name}.{k + 1}"))
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        else:
            os.truncate(self.path, 0)
        self._fd = self._open()
        self._size = 0

    def close(self) -> None:
        """Stop the writer, write every line still waiting, sync and close the file."""
        self._stopping = True
        self._wake.set()
        if self._writer.is_alive() and self._writer is not threading.current_thread():
            self._writer.join()
        self.flush()
        with self._io:
            if self._fd >= 0:
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = -1
