"""The event `check` and `explain` decide, given by flags: `--text`, `--context KEY=VALUE`
(typed by the attribute's declared kind), `--score CATEGORY=X` (a leaf category).

Bad flags and targets are usage errors (exit 2 with a message and a hint).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from policyc.commands.console import UsageError, did_you_mean, fail
from policyc.commands.inputs import load_target
from policyc.runtime.bundle import RECOMPILE_HELP, BundleError
from policyc.runtime.checker import Checker, InvalidEvent, RuntimeDecision

#: What `check` and `explain` report as input they cannot process (`input_failure`).
INPUT_ERRORS = (UsageError, BundleError, InvalidEvent)


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
        try:
            x = float(raw)
        except ValueError:
            raise UsageError(f"`{name}` is a number: cannot read `{raw}`") from None
        if math.isnan(x):
            raise UsageError(f"`{name}` is a number: NaN is not allowed")
        return x
    if raw not in var.values:
        raise UsageError(f"`{raw}` is not a value of `{name}`",
                         f"expected one of: {', '.join(map(str, var.values))}")
    return raw


def _pairs(items: list[str], flag: str) -> list[tuple[str, str]]:
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"`{flag} {item}` is not of the form key=value",
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
            raise UsageError(f"score `{k}={v}` is not a number") from None
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
