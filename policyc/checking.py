"""`policyc check` and `policyc explain` (CLI.md): decisions from a bundle or a `.pol` file.

Exit codes: 0 decided; 1 a batch had lines that were skipped (malformed or invalid);
2 the target or a flag could not be processed (bad bundle, bad `--context`, unknown
attribute, invalid event in single mode); 130/143 a batch stopped by SIGINT/SIGTERM
(output and audit log end on the same event).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from rich.console import Console

from policyc.runtime.audit import audit_record
from policyc.runtime.bundle import BundleError
from policyc.runtime.checker import Checker, InvalidEvent, RuntimeDecision
from policyc.runtime.events import event_from_json
from policyc.runtime.jsonl import BadLine, Tally, dumps_line, parse_line, read_lines


class _Usage(Exception):
    """A bad flag value or target: exit 2 with a message and a hint."""

    def __init__(self, message: str, help: str | None = None):
        super().__init__(message)
        self.help = help


def _err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _fail(message: str, help: str | None = None) -> int:
    err = _err()
    err.print(f"[bold red]error[/]: {message}", markup=True, highlight=False)
    if help:
        err.print(f"  = help: {help}", markup=False)
    return 2


def load_target(target: Path, path: list[Path]) -> Checker:
    """A bundle, or a `.pol` file compiled in memory (diagnostics rendered, then exit 2)."""
    if target.suffix == ".pol" or target.is_dir():
        from policyc.compile.pipeline import compile_file
        from policyc.render.human import render_human
        from policyc.runtime.bundle import Bundle

        state = compile_file(target, list(path))
        if state.bundle is None:
            sources = state.program.sources if state.program is not None else {}
            render_human(state.diagnostics, sources, _err())
            raise _Usage(f"{target} could not be compiled")
        return Bundle.from_bytes(state.bundle, str(target))  # type: ignore[no-any-return]
    from policyc.runtime.bundle import Bundle

    return Bundle.load(target)  # type: ignore[no-any-return]


def _parse_value(checker: Checker, name: str, raw: str) -> Any:
    """Type a `--context k=v` value by the attribute's declared kind."""
    i = checker.var_index.get(name)
    if i is None or name not in checker.context_names:
        hint = "use `--score` for a category score" if name in checker.score_names else \
            f"declared attributes: {', '.join(sorted(checker.context_names)) or '(none)'}"
        raise _Usage(f"unknown attribute `{name}`", hint)
    var = checker.variables[i]
    if var.kind == "bool":
        low = raw.strip().lower()
        if low not in ("true", "false"):
            raise _Usage(f"`{name}` is a bool: expected true or false, got `{raw}`")
        return low == "true"
    if var.kind == "number":
        try:
            x = float(raw)
        except ValueError:
            raise _Usage(f"`{name}` is a number: cannot read `{raw}`") from None
        if math.isnan(x):
            raise _Usage(f"`{name}` is a number: NaN is not allowed")
        return x
    if raw not in var.values:
        raise _Usage(f"`{raw}` is not a value of `{name}`",
                     f"expected one of: {', '.join(map(str, var.values))}")
    return raw


def _pairs(items: list[str], flag: str) -> list[tuple[str, str]]:
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise _Usage(f"`{flag} {item}` is not of the form key=value",
                         f"write e.g. `{flag} audience=teen`" if flag == "--context"
                         else f"write e.g. `{flag} self_harm.intent=0.7`")
        out.append((key.strip(), value.strip()))
    return out


def parse_event(checker: Checker, context_list: list[str], score_list: list[str]
                ) -> tuple[dict[str, Any], dict[str, float]]:
    context = {k: _parse_value(checker, k, v) for k, v in _pairs(context_list, "--context")}
    scores: dict[str, float] = {}
    for k, v in _pairs(score_list, "--score"):
        if k not in checker.score_names:
            raise _Usage(f"unknown category `{k}`",
                         f"leaf categories: {', '.join(sorted(checker.score_names))}")
        try:
            scores[k] = float(v)
        except ValueError:
            raise _Usage(f"score `{k}={v}` is not a number") from None
    return context, scores


def _line(d: RuntimeDecision) -> str:
    action = d.action if d.argument is None else f'{d.action}("{d.argument}")'
    by = f"rule `{d.rule}`" if d.rule else "default"
    matched = ", ".join(d.matched) or "none"
    extra = f"; errors: {'; '.join(d.errors)}" if d.errors else ""
    red = f"\nredacted: {d.redacted}" if d.redacted is not None else ""
    return f"{action}  (by {by}; matched: {matched}){extra}{red}"


_INPUT_ERRORS = (_Usage, BundleError, InvalidEvent)


def _decide_one(target: Path, text: str | None, context_list: list[str],
                score_list: list[str], path: list[Path]) -> tuple[Any, Any]:
    """Load the bundle (or compile the `.pol`) and decide the event given by flags."""
    checker = load_target(target, path)
    context, scores = parse_event(checker, context_list, score_list)
    return checker, checker.check(text=text, context=context, scores=scores)


def _input_failure(exc: Exception) -> int:
    """Exit 2 with a message and hint for input `check`/`explain` cannot process."""
    if isinstance(exc, _Usage):
        return _fail(str(exc), exc.help)
    if isinstance(exc, BundleError):
        return _fail(str(exc), "recompile the policy with `policyc compile`")
    return _fail(f"invalid event: {exc}")


def run_check(target: Path, text: str | None, context_list: list[str], score_list: list[str],
              json_out: bool, input: Path | None, output: Path | None, audit_log: Path | None,
              path: list[Path]) -> int:
    try:
        if input is not None:
            if context_list or score_list or text is not None:
                raise _Usage("`--input` cannot be combined with --text/--context/--score")
            return _run_batch(load_target(target, path), input, output, audit_log)
        _, decision = _decide_one(target, text, context_list, score_list, path)
        if audit_log is not None:
            with _open(audit_log, "ab") as fh:
                fh.write(dumps_line(audit_record(decision, None)))
    except _INPUT_ERRORS as exc:
        return _input_failure(exc)
    if json_out:
        sys.stdout.write(decision.to_json() + "\n")
    else:
        sys.stdout.write(_line(decision) + "\n")
    return 0


def _is_std(p: Path | None) -> bool:
    return p is not None and str(p) == "-"


def _open(p: Path, mode: str) -> IO[bytes]:
    try:
        return p.open(mode)  # type: ignore[return-value]
    except OSError as exc:
        verb = "read" if "r" in mode else "write"
        raise _Usage(f"cannot {verb} {p}: {exc.strerror or exc}") from None


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

    Stops between two events when `stop.signum` is set. The tally always has
    `lines == decided + skipped`.
    """
    tally = Tally()
    lines = read_lines(source)
    while stop is None or not stop.signum:
        if stop is not None:
            try:
                stop.reading = True
                line = next(lines, None)
            except _Interrupted:
                break
            finally:
                stop.reading = False
        else:
            line = next(lines, None)
        if line is None:
            break
        tally.lines += 1
        if progress is not None:
            progress(line.end)
        try:
            event_id, text, context, scores = event_from_json(parse_line(line))
            d = checker.check(text=text, context=context, scores=scores)
        except BadLine as exc:
            tally.skipped += 1
            report(exc)
            continue
        except InvalidEvent as exc:
            tally.skipped += 1
            report(BadLine(line.number, str(exc)))
            continue
        out.write(dumps_line({"id": event_id, **d.to_dict()}))
        if audit is not None:
            audit.write(dumps_line(audit_record(d, event_id)))
        tally.decided += 1
    return tally


def _run_batch(checker: Checker, input: Path, output: Path | None, audit_log: Path | None
               ) -> int:
    """`check --input`: `-` is standard input/output (docs/cli.md, *Batch input*)."""
    try:
        return _batch(checker, input, output, audit_log)
    except BrokenPipeError:  # `… | head`: the reader is gone; exit as SIGPIPE would
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except OSError as exc:  # a full disk, a device error
        raise _Usage(f"the batch stopped: {exc.strerror or exc}",
                     "the decisions and audit records written so far may be incomplete"
                     ) from None


def _batch(checker: Checker, input: Path, output: Path | None, audit_log: Path | None) -> int:
    name = "<stdin>" if _is_std(input) else str(input)
    if not _is_std(input) and input.is_dir():
        raise _Usage(f"cannot read {input}: is a directory")
    for other in (output, audit_log):
        if other is not None and not _is_std(other) and not _is_std(input) \
                and other.exists() and input.exists() and os.path.samefile(input, other):
            raise _Usage(f"`{other}` is also the input", "write decisions and audit records "
                         "to other files")
    err = _err()
    to_stdout = output is None or _is_std(output)
    with contextlib.ExitStack() as stack:
        source = sys.stdin.buffer if _is_std(input) else \
            stack.enter_context(_open(input, "rb"))
        if to_stdout:
            sys.stdout.flush()
            out: IO[bytes] = sys.stdout.buffer
        else:
            assert output is not None
            out = stack.enter_context(_open(output, "wb"))
        audit = stack.enter_context(_open(audit_log, "ab")) if audit_log else None
        progress, advance = None, None
        if not to_stdout and not _is_std(input) and err.is_terminal:
            from rich.progress import Progress

            progress = stack.enter_context(Progress(console=err, transient=True))
            task = progress.add_task("deciding", total=os.fstat(source.fileno()).st_size)

            def advance(offset: int) -> None:
                if offset - progress.tasks[0].completed > 1 << 16:
                    progress.update(task, completed=offset)

        def report(bad: BadLine) -> None:
            err.print(f"{name}:{bad.number}: skipped: {bad.message}", markup=False)

        stop = stack.enter_context(StopOnSignal())
        tally = decide_lines(checker, source, out, audit, report, stop, advance)
        out.flush()
        if audit is not None:
            audit.flush()
    if stop.signum:
        what = "SIGINT" if stop.signum == signal.SIGINT else "SIGTERM"
        err.print(f"interrupted by {what}: {tally.summary()} (output and audit log end on "
                  "the same event)", markup=False)
        return 128 + stop.signum
    err.print(tally.summary(), markup=False)
    return 1 if tally.skipped else 0


def run_explain(target: Path, text: str | None, context_list: list[str], score_list: list[str],
                path: list[Path]) -> int:
    try:
        checker, d = _decide_one(target, text, context_list, score_list, path)
    except _INPUT_ERRORS as exc:
        return _input_failure(exc)
    sys.stdout.write(explain_text(checker, d) + "\n")
    return 0


def _show(action: str, argument: str | None) -> str:
    return action if argument is None else f'{action}("{argument}")'


def explain_text(checker: Checker, d: RuntimeDecision) -> str:
    """Which rules matched, the strategy, which rule decided and why."""
    by_id = {r.id: r for r in checker.rules}
    lines = [f"policy {d.policy} {d.version} ({d.hash})", f"strategy: {checker.strategy}"]
    if d.scores:
        lines.append("scores: " + ", ".join(f"{k}={v:g}" for k, v in sorted(d.scores.items())))
    if d.matched:
        lines.append("matched:")
        for rid in d.matched:
            r = by_id[rid]
            tags = (" locked" if r.locked else "") + (f" priority {r.priority}"
                                                      if r.priority else "")
            lines.append(f"  {rid}: {_show(r.decision.action, r.decision.argument)}{tags}")
    else:
        lines.append("matched: none")
    decided = _show(d.action, d.argument)
    if d.rule is None:
        if d.errors:
            lines.append(f"decided: {decided} by on_error ({'; '.join(d.errors)})")
        else:
            lines.append(f"decided: {decided} by `default` (no rule matched)")
        return "\n".join(lines)
    winner = by_id[d.winner] if d.winner else None
    others = [by_id[r] for r in d.matched if r != d.winner]
    why = ""
    if winner is not None:
        w = _show(winner.decision.action, winner.decision.argument)
        losers = sorted({_show(r.decision.action, r.decision.argument) for r in others
                         if r.decision != winner.decision})
        s = checker.strategy
        if not others:
            why = "the only matching rule"
        elif s == "most-restrictive" or s == "unique":
            why = f"{s}: {w} beats {', '.join(losers)}" if losers else \
                f"{s}: all matching rules agree; the first in order decides"
            if s == "unique" and losers:
                why += " (ambiguous under `unique`: fail closed)"
        elif s == "least-restrictive":
            why = f"least-restrictive: {w} beats {', '.join(losers)}" if losers else \
                "least-restrictive: all matching rules agree"
        elif s == "first-match":
            why = f"first-match: `{winner.id}` comes first in flattened order"
        elif s == "priority":
            why = f"priority: `{winner.id}` has the highest priority ({winner.priority})"
        else:
            why = f"most-specific: `{winner.id}`'s region lies inside the others'"
    lines.append(f"strategy picked: `{d.winner}` ({why})")
    if d.floor is not None and winner is not None:
        lines.append(f"locked floor `{d.floor}` raised "
                     f"{_show(winner.decision.action, winner.decision.argument)} to {decided}")
    if d.errors:
        lines.append("errors: " + "; ".join(d.errors))
    lines.append(f"decided: {decided} by rule `{d.rule}`")
    return "\n".join(lines)
