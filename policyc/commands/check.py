"""`policyc check`: decide one event given by flags, or a batch of events (`--input`).

Exit codes: 0 decided; 1 a batch had lines that were skipped (malformed or invalid);
2 the target or a flag could not be processed (bad bundle, bad `--context`, unknown
attribute, invalid event in single mode); 130/143 a batch stopped by SIGINT/SIGTERM
(output and audit log end on the same event).
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from policyc.commands.console import UsageError, console, quiet
from policyc.commands.event_flags import INPUT_ERRORS, decide_one, input_failure
from policyc.commands.inputs import is_stdin, load_target
from policyc.runtime import columns
from policyc.runtime.audit import audit_record
from policyc.runtime.checker import Checker, RuntimeDecision
from policyc.runtime.jsonl import BadLine, Tally, dumps_line
from policyc.runtime.stream import decide_jsonl


def _line(d: RuntimeDecision) -> str:
    action = d.action if d.argument is None else f'{d.action}("{d.argument}")'
    by = f"rule `{d.rule}`" if d.rule else "default"
    matched = ", ".join(d.matched) or "none"
    extra = f"; errors: {'; '.join(d.errors)}" if d.errors else ""
    red = f"\nredacted: {d.redacted}" if d.redacted is not None else ""
    return f"{action}  (by {by}; matched: {matched}){extra}{red}"


def run(target: Path, text: str | None, context_list: list[str], score_list: list[str],
        json_out: bool, input: Path | None, output: Path | None, audit_log: Path | None,
        path: list[Path], stdin_filename: str | None = None,
        verify_key: list[Path] | None = None) -> int:
    try:
        if input is not None:
            if context_list or score_list or text is not None:
                raise UsageError("`--input` cannot be combined with --text/--context/--score")
            if is_stdin(target) and is_stdin(input):
                raise UsageError("the policy and `--input` cannot both be standard input",
                                 "give the policy or bundle as a file")
            return _run_batch(load_target(target, path, stdin_filename, verify_key), input,
                              output, audit_log)
        _, decision = decide_one(target, text, context_list, score_list, path,
                                 stdin_filename, verify_key)
        if audit_log is not None:
            _append(audit_log, dumps_line(audit_record(decision, None)))
    except INPUT_ERRORS as exc:
        return input_failure(exc)
    if json_out:
        sys.stdout.write(decision.to_json() + "\n")
    else:
        sys.stdout.write(_line(decision) + "\n")
    return 0


def _open(p: Path, mode: str) -> IO[bytes]:
    try:
        return p.open(mode)  # type: ignore[return-value]
    except OSError as exc:
        verb = "read" if "r" in mode else "write"
        raise UsageError(f"cannot {verb} {p}: {exc.strerror or exc}") from None


def _append(p: Path, record: bytes) -> None:
    """One audit record: a write that fails (a full disk) is an error, like the open."""
    try:
        with p.open("ab", buffering=0) as fh:  # unbuffered: a failed write fails here
            fh.write(record)
    except OSError as exc:
        raise UsageError(f"cannot write {p}: {exc.strerror or exc}",
                         "the decision is not in the audit log") from None


class _Interrupted(Exception):
    """Raised by the signal handler while the batch waits for input (nothing in flight)."""


class StopOnSignal:
    """SIGINT/SIGTERM during a batch: stop after the current event, not inside it.

    The first signal sets `signum`; the batch loop checks it between events, so the
    decision output and the audit log end on the same event. While the loop waits for
    input (`reading`) no event is in flight, so the handler raises `_Interrupted` to
    end the wait at once. A second signal has its default effect (force quit). Only
    installed in the main thread, and not over a signal the process ignores.
    """

    def __init__(self) -> None:
        self.signum = 0
        self.reading = False
        self._saved: dict[int, Any] = {}

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                old = signal.getsignal(sig)
                if old is not signal.SIG_IGN:
                    self._saved[sig] = old
                    signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.signum = signum
        for sig in self._saved:  # a second signal: default effect
            signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT
                          else signal.SIG_DFL)
        if self.reading:
            raise _Interrupted

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._saved.items():
            signal.signal(sig, old)


def decide_lines(checker: Checker, source: IO[bytes], out: IO[bytes], audit: IO[bytes] | None,
                 report: Callable[[BadLine], None], stop: StopOnSignal | None = None,
                 progress: Callable[[int], None] | None = None) -> Tally:
    """Decide every JSON Lines event of `source`: a decision line to `out` (and an audit
    record to `audit`) for each good line, `report` for each bad one, nothing else.

    Stops between two chunks of lines (`runtime.stream`) when `stop.signum` is set; the
    tally always has `lines == decided + skipped`.
    """
    return decide_jsonl(checker, source, out, audit, report, stop, progress, _Interrupted)


def _run_batch(checker: Checker, input: Path, output: Path | None, audit_log: Path | None
               ) -> int:
    """`check --input`: `-` is standard input/output (docs/cli.md, *Batch input*).

    The loaded bundle, its sessions and the imported modules live as long as the process:
    `gc.freeze` takes them out of the collector's full passes, which a batch's many
    short-lived events trigger (15 ms of a 50 k-text run's first 200 ms went to them)."""
    gc.freeze()
    try:
        return _batch(checker, input, output, audit_log)
    except BrokenPipeError:  # `… | head`: the reader is gone; exit as SIGPIPE would
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except OSError as exc:  # a full disk, a device error
        raise UsageError(f"the batch stopped: {exc.strerror or exc}",
                         "the decisions and audit records written so far may be incomplete"
                         ) from None


def _same_file(a: Path, b: Path) -> bool:
    """One file under two names (or one name twice): its two writers would tear lines."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _batch(checker: Checker, input: Path, output: Path | None, audit_log: Path | None) -> int:
    name = "<stdin>" if is_stdin(input) else str(input)
    if not is_stdin(input) and input.is_dir():
        raise UsageError(f"cannot read {input}: is a directory")
    for other in (output, audit_log):
        if other is not None and not is_stdin(other) and not is_stdin(input) \
                and other.exists() and input.exists() and os.path.samefile(input, other):
            raise UsageError(f"`{other}` is also the input",
                             "write decisions and audit records to other files")
    if output is not None and audit_log is not None and not is_stdin(output) \
            and _same_file(output, audit_log):
        raise UsageError(f"`{audit_log}` is both the output and the audit log",
                         "write decisions and audit records to other files")
    err = console(stderr=True)
    to_stdout = output is None or is_stdin(output)
    with contextlib.ExitStack() as stack:
        source = sys.stdin.buffer if is_stdin(input) else \
            stack.enter_context(_open(input, "rb"))
        if to_stdout:
            sys.stdout.flush()
            out: IO[bytes] = sys.stdout.buffer
        else:
            assert output is not None
            out = stack.enter_context(_open(output, "wb"))
        audit = stack.enter_context(_open(audit_log, "ab")) if audit_log else None
        progress, advance = None, None
        if not to_stdout and not is_stdin(input) and err.is_terminal and not quiet():
            from rich.progress import Progress

            progress = stack.enter_context(Progress(console=err, transient=True))
            task = progress.add_task("deciding", total=os.fstat(source.fileno()).st_size)

            def advance(offset: int) -> None:
                if offset - progress.tasks[0].completed > 1 << 16:
                    progress.update(task, completed=offset)

        def report(bad: BadLine) -> None:
            err.print(f"{name}:{bad.number}: skipped: {bad.message}", markup=False)

        stop = stack.enter_context(StopOnSignal())
        to_parquet = output is not None and not to_stdout \
            and output.suffix.lower() in (".parquet", ".pq")
        if not is_stdin(input) and columns.is_parquet(input):  # docs/cli.md, Columnar input
            sink = columns.ParquetOut(out) if to_parquet else out
            try:
                tally = columns.decide_parquet(checker, input, sink, audit, report, stop)
            except columns.ColumnError as exc:
                raise UsageError(str(exc), exc.help) from None
        elif to_parquet:  # JSON Lines in, columns out
            tally = columns.decide_jsonl_parquet(checker, source, columns.ParquetOut(out),
                                                 audit, report, stop, advance, _Interrupted)
        else:
            tally = decide_lines(checker, source, out, audit, report, stop, advance)
        out.flush()
        if audit is not None:
            audit.flush()
    if stop.signum:
        what = "SIGINT" if stop.signum == signal.SIGINT else "SIGTERM"
        err.print(f"interrupted by {what}: {tally.summary()} (output and audit log end on "
                  "the same event)", markup=False)
        return 128 + stop.signum
    if not quiet():
        err.print(tally.summary(), markup=False)
    return 1 if tally.skipped else 0
