"""The event `check` and `explain` decide, given by flags: `--text`, `--context KEY=VALUE`
(typed by the attribute's declared kind), `--score CATEGORY=X` (a leaf category).

Bad flags and targets are usage errors (exit 2 with a message and a hint).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from policyc.commands.console import UsageError, did_you_mean, fail
from policyc.commands.inputs import load_target
from policyc.runtime.bundle import RECOMPILE_HELP, BundleError
from policyc.runtime.checker import Checker, InvalidEvent, RuntimeDecision

#: What `check` and `explain` report as input they cannot process (`input_failure`).
INPUT_ERRORS = (UsageError, BundleError, InvalidEvent)


#: A number as a flag gives it: ASCII decimal (`0.7`, `.5`, `1e-3`), as in JSON and the
#: language; not what else `float` reads (`1_0`, Arabic-Indic digits, `nan`, `inf`).
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


def _number(raw: str) -> float | None:
    x = float(raw) if _NUMBER.fullmatch(raw) else math.inf
    return x if math.isfinite(x) else None  # `1e400` too: no finite double


def _parse_value(checker: Checker, name: str, raw: str) -> Any:
    """Type a `--context k=v` value by the attribute's declared kind."""
    i = checker.var_index.get(name)
    if i is None or name not in checker.context_names:
        hint = "use `--score` for a category score" if name in checker.score_names else \
            f"declared attributes: {', '.join(sorted(checker.context_names)) or '(none)'}"
        raise UsageError(f"unknown attribute `{name}`", hint)
    var = checker.variables[i]
    if var.kind == "bool":
        low = raw.strip().lower()
        if low not in ("true", "false"):
            raise UsageError(f"`{name}` is a bool: expected true or false, got `{raw}`")
        return low == "true"
    if var.kind == "number":
        x = _number(raw)
        if x is None:
            raise UsageError(f"`{name}` is a number: cannot read `{raw}`")
        return x
    if raw not in var.values:
        raise UsageError(f"`{raw}` is not a value of `{name}`",
                         f"expected one of: {', '.join(map(str, var.values))}")
    return raw


def _pairs(items: list[str], flag: str) -> list[tuple[str, str]]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"`{flag} {item}` is not of the form key=value",
                             f"write e.g. `{flag} audience=teen`" if flag == "--context"
                             else f"write e.g. `{flag} self_harm.intent=0.7`")
        key = key.strip()
        if key in out:  # which one would decide? (a JSON event refuses a duplicate key too)
            raise UsageError(f"`{flag} {key}` is given twice (`{out[key]}` and "
                             f"`{value.strip()}`)", f"give `{key}` once")
        out[key] = value.strip()
    return list(out.items())


def parse_event(checker: Checker, context_list: list[str], score_list: list[str]
                ) -> tuple[dict[str, Any], dict[str, float]]:
    context = {k: _parse_value(checker, k, v) for k, v in _pairs(context_list, "--context")}
    scores: dict[str, float] = {}
    for k, v in _pairs(score_list, "--score"):
        if k not in checker.score_names:
            raise _unknown_category(k, checker.score_names)
        x = _number(v)
        if x is None:
            raise UsageError(f"score `{k}={v}` is not a number",
                             f"write a number in [0, 1], e.g. `--score {k}=0.7`")
        scores[k] = x
    return context, scores


def _unknown_category(name: str, leaves: frozenset[str]) -> UsageError:
    """`--score` names a leaf: an inner category lists its leaves, a typo gets a guess."""
    under = sorted(leaf for leaf in leaves if leaf.startswith(name + "."))
    if under:
        return UsageError(f"`{name}` is not a leaf category: give one of its leaves",
                          f"leaves of `{name}`: {', '.join(f'`{leaf}`' for leaf in under)}")
    guess = did_you_mean(name, leaves)
    listed = f"leaf categories: {', '.join(sorted(leaves)) or '(none)'}"
    return UsageError(f"unknown category `{name}`", f"{guess} {listed}" if guess else listed)


def decide_one(target: Path, text: str | None, context_list: list[str],
               score_list: list[str], path: list[Path], stdin_filename: str | None = None,
               verify_key: list[Path] | None = None) -> tuple[Checker, RuntimeDecision]:
    """Load the bundle (or compile the `.pol`) and decide the event given by flags."""
    checker = load_target(target, path, stdin_filename, verify_key)
    context, scores = parse_event(checker, context_list, score_list)
    return checker, checker.check(text=text, context=context, scores=scores)


def input_failure(exc: Exception) -> int:
    """Exit 2 with a message and hint for input `check`/`explain` cannot process."""
    if isinstance(exc, UsageError):
        return fail(str(exc), exc.help)
    if isinstance(exc, BundleError):
        return fail(str(exc), exc.help or RECOMPILE_HELP)
    return fail(f"invalid event: {exc}")
