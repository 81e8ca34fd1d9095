"""Request bodies to decisions: one event, or a batch, as `policyc check` decides them.

- One event (`parse_event`): the body is one JSON value read as `policyc check --input`
  reads a line (strict JSON, UTF-8, `runtime.events.event_from_json`), so a bad body
  gets the CLI's message; a text longer than the limit is refused (413). orjson reads
  it when it gives the same value (`fast_json`), the CLI's reader otherwise.
- A batch (`parse_batch`): a JSON array, or JSON Lines (NDJSON) read with the CLI's
  reader. A bad item is answered in its place (its `line` or `index` and the message)
  and the others are decided: a batch never fails whole for one event.
- `Decider.many` scores every text of a batch at once (`Bindings.scores_batch`, one
  classifier run over the batch), then decides each event from its scores with
  `Checker.check` (the `policyc/decision/v1` object carries `matched`, which the
  columnar `check_batch` does not give; a decision costs ~2 µs, the JSON around it more).
  A `redact` decision is decided again with its text for the spans; when the batch
  scorer cannot run (a model fails) each text is decided alone, so `on_error` applies.
  A classifier run over a batch computes in float32 with another summation order than
  over one text: its scores may differ from `policyc check`'s in the last bits (about
  1e-7). So a text with a score within `NEAR_CUT` of one of the policy's thresholds is
  decided alone, and every batch decision (action, argument, rule, matched, floor) is
  the one `check` makes; only the scores it echoes may differ in those last bits.
- Model bindings run in worker threads under a timeout; a text whose classifiers did
  not answer in time is decided with them as failed bindings: `on_error` decides, as
  for any binding failure (the detectors still run), and `errors` says so.
- Except when they are quick: a policy whose last `INLINE_STREAK` text decisions each
  took under `INLINE_SECONDS` of CPU (and under a tenth of the timeout) decides the next
  text on the event loop. The hop to a worker thread and back (futures, a timer, two
  GIL hand-overs) costs more than the shipped classifier's ~30 µs; the first inline
  decision over the limit sends the following ones back to the pool, where the timeout
  applies again (a call is never interrupted, in a thread or not: the timeout only
  stops waiting for it). CPU time, not wall time: a thread waiting for the GIL is not
  slow, and the runtime's ONNX sessions run in the calling thread (one intra-op thread).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from policyc.runtime.bindings import Failure
from policyc.runtime.checker import Checker, InvalidEvent, RuntimeDecision
from policyc.runtime.errors import BindingError
from policyc.runtime.events import event_from_json
from policyc.runtime.jsonl import BadLine, Line, parse_line, read_lines
from policyc.serve.fast_json import MISS
from policyc.serve.fast_json import loads as fast_loads

log = logging.getLogger("policyc.serve")

Event = tuple[Any, "str | None", dict[str, Any], dict[str, Any]]  # id, text, context, scores
_BOM = b"\xef\xbb\xbf"
#: A batch-computed score this close to a threshold is recomputed for its text alone.
NEAR_CUT = 1e-5
#: A text decision under this many seconds of CPU counts as quick ...
INLINE_SECONDS = 0.001
#: ... and after this many quick ones in a row, the next runs on the event loop.
INLINE_STREAK = 8


class RequestError(Exception):
    """An answer other than 200: status, message, and where in the body."""

    def __init__(self, status: int, message: str, *, line: int | None = None,
                 help: str | None = None):
        super().__init__(message)
        self.status, self.message, self.line, self.help = status, message, line, help

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"status": self.status, "message": self.message}
        if self.line is not None:
            err["line"] = self.line
        if self.help:
            err["help"] = self.help
        return {"error": err}


def _json_value(body: bytes) -> Any:
    """The body's one JSON value (strict, as `check --input` reads a line)."""
    value = fast_loads(body)
    if value is not MISS:
        return value
    if body.startswith(_BOM):  # RFC 8259 8.1: ignored, as `check --input` ignores it
        body = body[len(_BOM):]
    try:
        return parse_line(Line(1, body, len(body)))
    except BadLine as err:
        if not body.strip(b" \t\r\n"):
            raise RequestError(400, "the body is empty: an event is a JSON object") from None
        line = 1
        if b"\n" in body and "at column" in err.message:  # a pretty-printed body
            try:
                json.loads(body)
            except ValueError as exc:
                line = getattr(exc, "lineno", 1)
        raise RequestError(400, err.message, line=line) from None


def _check_text(text: str | None, max_text: int) -> None:
    if text is not None and len(text) > max_text:
        raise RequestError(413, f"`text` has {len(text)} characters, over the limit of "
                           f"{max_text}", help="raise it with `policyc serve --max-text`")


def parse_event(body: bytes, max_text: int) -> Event:
    value = _json_value(body)
    try:
        event = event_from_json(value)
    except InvalidEvent as err:
        raise RequestError(400, f"invalid event: {err}") from None
    _check_text(event[1], max_text)
    return event


def parse_batch(body: bytes, max_text: int, max_events: int
                ) -> list[tuple[Event | None, dict[str, Any]]]:
    """Per item: (the event, its place) or (None, {"id", "line"|"index", "error"}); the
    place is ``{"line": n}`` (JSON Lines, from 1) or ``{"index": k}`` (an array, from 0)."""
    head = body.lstrip(b" \t\r\n\xef\xbb\xbf")[:1]
    out: list[tuple[Event | None, dict[str, Any]]] = []
    if head == b"[":
        items = _json_value(body)
        if not isinstance(items, list):  # pragma: no cover - `[` starts an array
            raise RequestError(400, "a batch is a JSON array or JSON Lines")
        located: list[tuple[str, int, Any, str | None]] = [
            ("index", k, item, None) for k, item in enumerate(items)]
    elif not head:
        raise RequestError(400, "the body is empty: a batch is a JSON array or JSON Lines")
    else:
        located = []
        for line in read_lines(io.BytesIO(body)):
            try:
                value = MISS if line.too_long else fast_loads(line.raw)
                if value is MISS:
                    value = parse_line(line)
                located.append(("line", line.number, value, None))
            except BadLine as err:
                located.append(("line", line.number, None, err.message))
            if len(located) > max_events:
                break
    if len(located) > max_events:
        raise RequestError(413, f"more than {max_events} events in one batch",
                           help="split the batch, or raise `policyc serve --max-batch`")
    for where, number, value, bad in located:
        if bad is None:
            try:
                event = event_from_json(value)
                _check_text(event[1], max_text)
                out.append((event, {where: number}))
                continue
            except InvalidEvent as err:
                bad = str(err)
            except RequestError as err:
                bad = err.message
        event_id = value.get("id") if isinstance(value, dict) else None
        if not isinstance(event_id, (str, int, float)) or isinstance(event_id, bool):
            event_id = None
        out.append((None, {"id": event_id, where: number, "error": bad}))
    return out


class Decider:
    """Decides events for the server; model work in `pool` under `timeout` seconds."""

    def __init__(self, pool: ThreadPoolExecutor, timeout: float):
        self.pool = pool
        self.timeout = timeout
        self._quick = min(INLINE_SECONDS, timeout / 10)
        self._streak: weakref.WeakKeyDictionary[Checker, int] = weakref.WeakKeyDictionary()

    def _timed(self, checker: Checker, text: str | None, context: dict[str, Any],
               scores: dict[str, Any]) -> RuntimeDecision:
        """`checker.check`, counting a quick decision into the policy's streak."""
        t0 = time.thread_time()
        try:
            return checker.check(text=text, context=context, scores=scores)
        finally:
            quick = time.thread_time() - t0 < self._quick
            self._streak[checker] = self._streak.get(checker, 0) + 1 if quick else 0

    @staticmethod
    def needs_models(checker: Checker, text: str | None) -> bool:
        return text is not None and bool(checker.bindings.classifier_specs)

    async def one(self, checker: Checker, event: Event) -> RuntimeDecision:
        """Raises `InvalidEvent` for an event the policy cannot decide."""
        _, text, context, scores = event
        if not self.needs_models(checker, text):
            return checker.check(text=text, context=context, scores=scores)
        if self._streak.get(checker, 0) >= INLINE_STREAK:  # quick lately: no thread hop
            return self._timed(checker, text, context, scores)
        fut = asyncio.get_running_loop().run_in_executor(
            self.pool, self._timed, checker, text, context, scores)
        try:
            return await asyncio.wait_for(asyncio.shield(fut), self.timeout)
        except TimeoutError:
            return self.timed_out(checker, text, context, scores)

    def timed_out(self, checker: Checker, text: str | None, context: dict[str, Any],
                  scores: dict[str, Any]) -> RuntimeDecision:
        """The decision when the classifiers did not answer in time: failed bindings."""
        assert text is not None
        b = checker.bindings
        missing = [spec for spec in b.classifier_specs
                   if not all(cat in scores for cat, _ in spec.labels)]
        supplied = set(scores) | {cat for spec in b.classifier_specs for cat, _ in spec.labels}
        from_detectors, failures = b.scores(text, supplied)
        failures = failures + [Failure(spec.name, tuple(c for c, _ in spec.labels),
                                       spec.on_error, f"classifier `{spec.name}` failed: no "
                                       f"answer within {self.timeout:g} s")
                               for spec in missing]
        log.warning("classifier(s) %s timed out after %g s: `on_error` applies",
                    ", ".join(s.name for s in missing), self.timeout)
        # the checker's reference path with these scores and failures (`on_error`)
        return checker._check(text, context, scores, (from_detectors, failures))

    async def many(self, checker: Checker, events: Sequence[Event]
                   ) -> list[RuntimeDecision | str]:
        """A decision, or the `InvalidEvent` message, per event (in order)."""
        texts = [e[1] for e in events if e[1] is not None]
        columns: dict[str, Any] | None = None
        timed_out = False
        if texts and checker.bindings.categories:
            try:
                if checker.bindings.classifier_specs:
                    fut = asyncio.get_running_loop().run_in_executor(
                        self.pool, checker.bindings.scores_batch, texts)
                    columns = await asyncio.wait_for(asyncio.shield(fut), self.timeout)
                else:
                    columns = checker.bindings.scores_batch(texts)
            except TimeoutError:
                timed_out = True
            except (BindingError, ValueError):  # decided one by one below: `on_error`
                columns = None
        near = _near_cuts(checker, columns, len(texts)) if columns is not None else None
        out: list[RuntimeDecision | str] = []
        j = 0  # index of the event's text in `texts`
        check = checker.check
        for _, text, context, scores in events:
            try:
                if text is None or not checker.bindings.categories:
                    out.append(check(text=text, context=context, scores=scores))
                    continue
                k, j = j, j + 1
                if columns is not None and not near[k]:  # type: ignore[index]
                    computed = {cat: float(col[k]) for cat, col in columns.items()}
                    d = check(context=context, scores={**computed, **scores})
                    if d.action == "redact":  # the spans and the redacted text
                        d = check(text=text, context=context, scores=scores)
                elif timed_out:
                    d = self.timed_out(checker, text, context, scores)
                else:
                    d = check(text=text, context=context, scores=scores)
                out.append(d)
            except InvalidEvent as err:
                out.append(str(err))
        return out


def _near_cuts(checker: Checker, columns: dict[str, Any], n: int) -> Any:
    """Per text: does a batch-computed score lie within `NEAR_CUT` of a threshold?"""
    import numpy as np

    near = np.zeros(n, dtype=np.bool_)
    for var in checker.variables:
        col = columns.get(var.name)
        if col is None or var.kind != "score" or not var.cuts:
            continue
        cuts = np.asarray(var.cuts, dtype=np.float64)
        x = col.astype(np.float64)
        at = np.searchsorted(cuts, x)
        below = np.abs(x - cuts[np.maximum(at - 1, 0)])
        above = np.abs(cuts[np.minimum(at, len(cuts) - 1)] - x)
        near |= np.minimum(below, above) < NEAR_CUT
    return near
