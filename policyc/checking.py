"""`policyc check` and `policyc explain` (CLI.md): decisions from a bundle or a `.pol` file.

Exit codes: 0 decided; 1 a batch had lines that were skipped (malformed or invalid);
2 the target or a flag could not be processed (bad bundle, bad `--context`, unknown
attribute, invalid event in single mode).
"""

from __future__ import annotations

import json
import math
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.markup import escape

from policyc.runtime.bundle import BundleError
from policyc.runtime.checker import Checker, InvalidEvent, RuntimeDecision


class _Usage(Exception):
    """A bad flag value or target: exit 2 with a message and a hint."""

    def __init__(self, message: str, help: str | None = None):
        super().__init__(message)
        self.help = help


def _err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _fail(message: str, help: str | None = None) -> int:
    err = _err()
    err.print(f"[bold red]error[/]: {escape(message)}", markup=True, highlight=False)
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
    except _INPUT_ERRORS as exc:
        return _input_failure(exc)
    if audit_log is not None:
        with _open_append(audit_log) as fh:
            fh.write(json.dumps(_audit(decision, None), ensure_ascii=False) + "\n")
    if json_out:
        sys.stdout.write(json.dumps(decision.to_json(), ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(_line(decision) + "\n")
    return 0


def _open_append(p: Path) -> IO[str]:
    try:
        return p.open("a", encoding="utf-8")
    except OSError as exc:
        raise _Usage(f"cannot open {p}: {exc.strerror or exc}") from None


def _audit(d: RuntimeDecision, event_id: Any) -> dict[str, Any]:
    return {"time": datetime.now(UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"), "id": event_id, "policy": d.policy, "version": d.version,
            "hash": d.hash, "action": d.action, "argument": d.argument, "rule": d.rule,
            "scores": d.scores}


def _event(checker: Checker, line: str) -> tuple[Any, RuntimeDecision]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidEvent(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise InvalidEvent("expected a JSON object")
    unknown = sorted(set(obj) - {"id", "text", "context", "scores"})
    if unknown:
        raise InvalidEvent(f"unknown key(s) {', '.join(unknown)}")
    if not ({"text", "context", "scores"} & set(obj)):
        raise InvalidEvent("an event needs one of `text`, `context`, `scores`")
    context, scores, text = obj.get("context", {}), obj.get("scores", {}), obj.get("text")
    if not isinstance(context, dict) or not isinstance(scores, dict):
        raise InvalidEvent("`context` and `scores` must be objects")
    if text is not None and not isinstance(text, str):
        raise InvalidEvent("`text` must be a string")
    return obj.get("id"), checker.check(text=text, context=context, scores=scores)


def _run_batch(checker: Checker, input: Path, output: Path | None, audit_log: Path | None
               ) -> int:
    try:
        lines = input.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise _Usage(f"cannot read {input}: {getattr(exc, 'strerror', None) or exc}") from None
    err = _err()
    try:
        out: IO[str] = output.open("w", encoding="utf-8") if output else sys.stdout
    except OSError as exc:
        raise _Usage(f"cannot write {output}: {exc.strerror or exc}") from None
    audit = _open_append(audit_log) if audit_log else None
    decided = skipped = 0
    progress = None
    if output is not None and err.is_terminal:
        from rich.progress import Progress

        progress = Progress(console=err, transient=True)
        task = progress.add_task("deciding", total=len(lines))
        progress.start()
    try:
        for number, line in enumerate(lines, 1):
            if progress is not None:
                progress.advance(task)
            if not line.strip():
                continue
            try:
                event_id, decision = _event(checker, line)
            except InvalidEvent as exc:
                skipped += 1
                err.print(f"{input}:{number}: skipped: {exc}", markup=False)
                continue
            record = decision.to_json()
            out.write(json.dumps({"id": event_id, **record}, ensure_ascii=False) + "\n")
            if audit is not None:
                audit.write(json.dumps(_audit(decision, event_id), ensure_ascii=False) + "\n")
            decided += 1
    finally:
        if progress is not None:
            progress.stop()
        if output is not None:
            out.close()
        else:
            out.flush()
        if audit is not None:
            audit.close()
    err.print(f"{decided} decided, {skipped} skipped", markup=False)
    return 1 if skipped else 0


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
