"""The decision log: one `policyc/audit/v1` record a decision, as JSON Lines.

The record is the one `policyc check --audit-log` writes (`policyc.runtime.audit`),
plus `latency_ms` (the server-side time of the decision) and, when the event had a
text, `text_hash` (``hmac-sha256:`` of the text under a salt) and `text_length` (in
characters): audit without collecting user data. `log_text=True` adds the `text`.

Lines are gathered in memory and written whole, several at a time, with one
`os.write` on a file opened for appending: a reader never sees a torn line, and
`close` writes what is left (the server calls it on shutdown, after the last request).
When the file would grow past `max_bytes` it is rotated first: ``log`` becomes
``log.1``, ``log.1`` becomes ``log.2`` … up to `backups` files.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from pathlib import Path
from typing import Any

import orjson

from policyc.runtime.audit import audit_record
from policyc.runtime.decision import RuntimeDecision
from policyc.runtime.jsonl import dumps_line

_orjson_dumps, _NEWLINE = orjson.dumps, orjson.OPT_APPEND_NEWLINE
#: Flush when this much is waiting (the server also flushes on a timer).
FLUSH_BYTES = 256 << 10


class DecisionLog:
    """Append-only JSON Lines with size-based rotation (see the module docstring)."""

    def __init__(self, path: str | Path, *, max_bytes: int = 100 << 20, backups: int = 5,
                 log_text: bool = False, salt: bytes | None = None):
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self.log_text = log_text
        self._salt = salt if salt else secrets.token_bytes(32)
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._lock = threading.Lock()  # records may come from a worker thread
        self._fd = self._open()
        self._size = os.fstat(self._fd).st_size
        self.records = 0

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)

    def text_hash(self, text: str) -> str:
        data = text.encode("utf-8", "surrogatepass")
        return "hmac-sha256:" + hmac.new(self._salt, data, hashlib.sha256).hexdigest()

    def record(self, d: RuntimeDecision, event_id: Any, text: str | None, decision_id: str,
               latency_ms: float) -> dict[str, Any]:
        rec = audit_record(d, event_id, decision_id=decision_id)
        rec["latency_ms"] = latency_ms
        if text is not None:
            rec["text_hash"] = self.text_hash(text)
            rec["text_length"] = len(text)
            if self.log_text:
                rec["text"] = text
        return rec

    def write(self, d: RuntimeDecision, event_id: Any, text: str | None, decision_id: str,
              latency_ms: float) -> None:
        rec = self.record(d, event_id, text, decision_id, latency_ms)
        try:
            line = _orjson_dumps(rec, option=_NEWLINE)
        except TypeError:  # a lone surrogate (only with `log_text`): escaped
            line = dumps_line(rec)
        with self._lock:
            self._pending.append(line)
            self._pending_bytes += len(line)
            self.records += 1
            if self._pending_bytes >= FLUSH_BYTES:
                self._flush_locked()

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if not self._pending or self._fd < 0:
            return
        chunk = b"".join(self._pending)
        self._pending.clear()
        self._pending_bytes = 0
        if self._size and self._size + len(chunk) > self.max_bytes:
            self._rotate()
        view = memoryview(chunk)
        while view:  # a short write (a signal, a nearly full disk): the rest follows
            n = os.write(self._fd, view)
            view = view[n:]
        self._size += len(chunk)

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
        with self._lock:
            self._flush_locked()
            if self._fd >= 0:
                os.fsync(self._fd)
                os.close(self._fd)
                self._fd = -1
