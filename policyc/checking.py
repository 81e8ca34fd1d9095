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

from policyc.console import UsageError, print_error, quiet
from policyc.console import console as _console
from policyc.inputs import is_stdin
from policyc.runtime.audit import audit_record
from policyc.runtime.bundle import BundleError
from policyc.runtime.checker import Checker, InvalidEvent, RuntimeDecision
from policyc.runtime.jsonl import BadLine, Tally, dumps_line

#: A bad flag value or target: exit 2 with a message and a hint (the CLI's one kind).
_Usage = UsageError


def _err() -> Console:
    return _console(stderr=True)


def _fail(message: str, help: str | None = None) -> int:
    print_error(message, help)
    return 2


def load_target(target: Path, path: list[Path], stdin_filename: str | None = None) -> Checker:
    """A bundle (recognised by its content, whatever its name), or policy source compiled
    in memory (diagnostics rendered, then exit 2); `-` reads either from standard input;
    a policy name (`std.baseline`, or one in a `--path` folder) stands for its file."""
    from policyc.inputs import is_bundle, is_stdin, read_stdin_bytes, stdin_display
    from policyc.semantics.loader import named_policy

    if not is_stdin(target):
        target = named_policy(target, path) or target
    from policyc.runtime.bundle import Bundle

    if is_bundle(target):
        if is_stdin(target):
            return Bundle.from_bytes(read_stdin_bytes(),  # type: ignore[no-any-return]
                                     stdin_display(stdin_filename))
        return Bundle.load(target)  # type: ignore[no-any-return]
    from policyc.compile.pipeline import compile_program
    from policyc.inputs import load_inputs
    from policyc.render.human import render_human

    shown = stdin_display(stdin_filename) if is_stdin(target) else str(target)
    state = compile_program(load_inputs([target], list(path), stdin_filename))
    if state.bundle is None:
        sources = state.program.sources if state.program is not None else {}
        render_human(state.diagnostics, sources, _err())
        raise _Usage(f"{shown} could not be compiled")
    return Bundle.from_bytes(state.bundle, shown)  # type: ignore[no-any-return]


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
            raise _unknown_category(k, checker.score_names)
        try:
            scores[k] = float(v)
        except ValueError:
            raise _Usage(f"score `{k}={v}` is not a number") from None
    return context, scores


def _unknown_category(name: str, leaves: frozenset[str]) -> _Usage:
    """`--score` names a leaf: an inner category lists its leaves, a typo gets a guess."""
    from policyc.console import did_you_mean

    under = sorted(leaf for leaf in leaves if leaf.startswith(name + "."))
    if under:
        return _Usage(f"`{name}` is not a leaf category: give one of its leaves",
                      f"leaves of `{name}`: {', '.join(f'`{leaf}`' for leaf in under)}")
    guess = did_you_mean(name, leaves)
    listed = f"leaf categories: {', '.join(sorted(leaves)) or '(none)'}"
    return _Usage(f"unknown category `{name}`", f"{guess} {listed}" if guess else listed)


def _line(d: RuntimeDecision) -> str:
    action = d.action if d.argument is None else f'{d.action}("{d.argument}")'
    by = f"rule `{d.rule}`" if d.rule else "default"
    matched = ", ".join(d.matched) or "none"
    extra = f"; errors: {'; '.join(d.errors)}" if d.errors else ""
    red = f"\nredacted: {d.redacted}" if d.redacted is not None else ""
    return f"{action}  (by {by}; matched: {matched}){extra}{red}"


_INPUT_ERRORS = (_Usage, BundleError, InvalidEvent)


def _decide_one(target: Path, text: str | None, context_list: list[str],
                score_list: list[str], path: list[Path], stdin_filename: str | None = None
                ) -> tuple[Any, Any]:
    """Load the bundle (or compile the `.pol`) and decide the event given by flags."""
    checker = load_target(target, path, stdin_filename)
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
              path: list[Path], stdin_filename: str | None = None) -> int:

    try:
        if input is not None:
            if context_list or score_list or text is not None:
                raise _Usage("`--input` cannot be combined with --text/--context/--score")
            if is_stdin(target) and is_stdin(input):
                raise _Usage("the policy and `--input` cannot both be standard input",
                             "give the policy or bundle as a file")
            return _run_batch(load_target(target, path, stdin_filename), input, output,
                              audit_log)
        _, decision = _decide_one(target, text, context_list, score_list, path,
                                  stdin_filename)
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

    Stops between two chunks of lines (`runtime.stream`) when `stop.signum` is set; the
    tally always has
    `lines == decided + skipped`.
    """
    from policyc.runtime.stream import decide_jsonl

    return decide_jsonl(checker, source, out, audit, report, stop, progress, _Interrupted)


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
    name = "<stdin>" if is_stdin(input) else str(input)
    if not is_stdin(input) and input.is_dir():
        raise _Usage(f"cannot read {input}: is a directory")
    for other in (output, audit_log):
        if other is not None and not is_stdin(other) and not is_stdin(input) \
                and other.exists() and input.exists() and os.path.samefile(input, other):
            raise _Usage(f"`{other}` is also the input", "write decisions and audit records "
                         "to other files")
    err = _err()
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
        from policyc.runtime import columns

        if not is_stdin(input) and columns.is_parquet(input):  # docs/cli.md, Columnar input
            sink = columns.ParquetOut(out) if output is not None and not to_stdout \
                and output.suffix.lower() in (".parquet", ".pq") else out
            try:
                tally = columns.decide_parquet(checker, input, sink, audit, report, stop)
            except columns.ColumnError as exc:
                raise _Usage(str(exc), exc.help) from None
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


def run_explain(target: Path, text: str | None, context_list: list[str], score_list: list[str],
                path: list[Path], json_out: bool = False, stdin_filename: str | None = None
                ) -> int:
    try:
        checker, d = _decide_one(target, text, context_list, score_list, path, stdin_filename)
        context, _ = parse_event(checker, context_list, score_list)
    except _INPUT_ERRORS as exc:
        return _input_failure(exc)
    if json_out:
        from policyc.explaining import explain_json

        sys.stdout.write(json.dumps(explain_json(checker, d, context), ensure_ascii=False,
                                    indent=2) + "\n")
    else:
        sys.stdout.write(explain_text(checker, d, context) + "\n")
    return 0


def _show(action: str, argument: str | None) -> str:
    return action if argument is None else f'{action}("{argument}")'


def explain_text(checker: Checker, d: RuntimeDecision, context: dict[str, Any] | None = None
                 ) -> str:
    """The event as the policy saw it, which rules matched and on which conditions, the
    strategy, which rule decided and why."""
    from policyc.explaining import _show_value, context_used, rule_conditions

    by_id = {r.id: r for r in checker.rules}
    context = context or {}
    lines = [f"policy {d.policy} {d.version} ({d.hash})", f"strategy: {checker.strategy}"]
    used = context_used(checker, context)
    if used:
        lines.append("context: " + ", ".join(
            f"{k}={_show_value(v)}" + (" (default)" if src == "default" else "")
            for k, v, src in used))
    lines.append("scores: " + (", ".join(f"{k}={v:g}" for k, v in sorted(d.scores.items()))
                               or "none (every category 0)"))
    if d.matched:
        conditions = rule_conditions(checker, d, context)
        lines.append("matched:")
        for rid in d.matched:
            r = by_id[rid]
            tags = (" locked" if r.locked else "") + (f" priority {r.priority}"
                                                      if r.priority else "")
            lines.append(f"  {rid}: {_show(r.decision.action, r.decision.argument)}{tags}")
            when = [t for _, t in conditions.get(rid, [])]
            lines.append("    when " + (" and ".join(when) if when else "always"))
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
