"""The metrics a `gate` may name (LANGUAGE.md §6, docs/eval.md), and the check that each
gate names one.

Why here, below `evaluate`: the names are part of the language, so lint and compile can
report a misspelt gate at its line (POL101, with "did you mean"), instead of `policyc eval`
refusing it later with no location.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from policyc.semantics.model import FlatPolicy
from policyc.semantics.resolve import Report, error

#: Per-category metric families that a gate may name as `<family>.<category>` (or
#: `<family>_<category>` with `.` in the category written `__`).
CATEGORY_METRICS = ("precision", "recall", "fpr", "fnr", "f1")
#: Every other metric a gate may name.
GLOBAL_METRICS = (
    "benign_refusal_rate", "benign_redirect_rate", "harmful_pass_rate", "harmful_block_rate",
    "accuracy", "p50_latency_ms", "p95_latency_ms", "p99_latency_ms", "mean_latency_ms",
    "max_latency_ms",
)


def resolve_metric(name: str, categories: Sequence[str]) -> str | None:
    """The canonical metric a gate names, or None if it names none.

    `recall.violence`, `recall_violence` and, for a dotted category,
    `recall_self_harm__instructions` (dots written `__`) all name `recall.<category>`.
    """
    if name in GLOBAL_METRICS:
        return name
    for family in CATEGORY_METRICS:
        for sep in (".", "_"):
            if name.startswith(family + sep):
                rest = name[len(family) + 1:]
                for cand in (rest, rest.replace("__", ".")):
                    if cand in categories:
                        return f"{family}.{cand}"
    return None


def metric_help(name: str, categories: Sequence[str]) -> str:
    """'did you mean' from the metrics this policy can gate on, else the list."""
    names = [*GLOBAL_METRICS, *(f"{family}_{c.replace('.', '__')}"
                                for family in CATEGORY_METRICS for c in categories)]
    guess = difflib.get_close_matches(name, names, n=1)
    if guess:
        return f"did you mean `{guess[0]}`?"
    return ("metrics: " + ", ".join(GLOBAL_METRICS) + ", and per category "
            + ", ".join(f"{f}_<category>" for f in CATEGORY_METRICS) + " (see docs/eval.md)")


def check_gates(report: Report, flat: FlatPolicy) -> None:
    """POL101 for each gate that names no metric of this policy."""
    categories = sorted(flat.categories)
    for gate in flat.gates:
        if resolve_metric(gate.metric, categories) is None:
            report(error("POL101", f"gate names an unknown metric `{gate.metric}`", gate.span,
                         metric_help(gate.metric, categories)))
