"""One evaluation of a policy on labelled events: decide every event (timed), compute
every figure, check the release gates; `to_dict` is the `policyc/eval/v1` object.

The definitions of every figure are in `policyc/evaluate/metrics.py` and `docs/eval.md`;
the command (`policyc eval`, its tables and exit codes) is `policyc/commands/eval.py`.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from typing import Any

from policyc.evaluate import metrics as M
from policyc.evaluate.data import Dataset
from policyc.runtime.checker import InvalidEvent

SCHEMA = "policyc/eval/v1"


class EvalError(Exception):
    """The evaluation cannot run as asked (a gate naming an unknown metric)."""

    def __init__(self, message: str, help: str | None = None):
        super().__init__(message)
        self.help = help


@dataclass
class Gate:
    metric: str
    op: str
    value: float


@dataclass
class PolicyInfo:
    """What eval needs besides the runtime: thresholds per leaf and the gates."""

    thresholds: dict[str, float]
    gates: list[Gate]
    notes: list[str] = field(default_factory=list)


@dataclass
class EvalResult:
    policy: dict[str, str]
    data: str
    outcomes: list[M.DecidedEvent]
    skipped: list[tuple[int, str]]
    taxonomy: M.Taxonomy
    categories: list[str]  # evaluated (named by the data and known to the policy)
    unknown_categories: list[str]
    per_category: dict[str, dict[str, Any]]
    rates: dict[str, Any]
    metrics: dict[str, float | None]
    latency: dict[str, float | None]
    confusion: dict[str, Any]
    label_actions: dict[str, dict[str, int]]
    groups: list[dict[str, Any]]
    gates: list[M.GateResult]
    sweep: dict[str, dict[str, Any]] | None
    target_fpr: float
    notes: list[str]

    @property
    def failed_gates(self) -> list[M.GateResult]:
        return [g for g in self.gates if not g.passed]

    def category_scores(self, category: str) -> tuple[list[float], list[bool]]:
        scores = [self.taxonomy.score(category, o.scores) for o in self.outcomes]
        positive = [self.taxonomy.positive(category, o.categories) for o in self.outcomes]
        return scores, positive


def _known_categories(taxonomy: M.Taxonomy) -> list[str]:
    out = set(taxonomy.leaves)
    for leaf in taxonomy.leaves:
        parts = leaf.split(".")
        out.update(".".join(parts[:k]) for k in range(1, len(parts)))
    return sorted(out)


# ---- evaluation -----------------------------------------------------------------------------


def evaluate(checker: Any, info: PolicyInfo, data: Dataset, sweep: bool = False,
             target_fpr: float = 0.05) -> EvalResult:
    """Decide every event (timed), then compute every metric and check the gates."""
    taxonomy = M.Taxonomy(info.thresholds)
    known = _known_categories(taxonomy)
    for g in info.gates:
        if M.resolve_metric(g.metric, known) is None:
            raise EvalError(f"gate `{g.metric}` names an unknown metric",
                            "metrics: " + ", ".join(M.GLOBAL_METRICS) + ", and per category "
                            + ", ".join(f"{f}.<category>" for f in M.CATEGORY_METRICS)
                            + " (see docs/eval.md)")
    skipped = list(data.skipped)
    outcomes: list[M.DecidedEvent] = []
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()  # the harness allocates per event: keep collector pauses out of p99
    try:
        _decide_all(checker, data, outcomes, skipped, invalid=InvalidEvent)
    finally:
        if gc_was_enabled:
            gc.enable()
    skipped.sort()
    categories, unknown = M.evaluated_categories(taxonomy, outcomes)
    gated = {M.resolve_metric(g.metric, known) for g in info.gates}
    extra = sorted({m.split(".", 1)[1] for m in gated if m and "." in m} - set(categories))
    counts = M.category_counts(taxonomy, outcomes, [*categories, *extra])
    per_category: dict[str, dict[str, Any]] = {}
    for cat, c in counts.items():
        leaves = taxonomy.leaves_of(cat)
        shared = {taxonomy.thresholds[leaf] for leaf in leaves}
        per_category[cat] = {"threshold": shared.pop() if len(shared) == 1 else None,
                             "leaves": {leaf: taxonomy.thresholds[leaf] for leaf in leaves},
                             **c.to_dict()}
    lat = [o.latency_ms for o in outcomes]
    latency = {"p50": M.percentile(lat, 50), "p95": M.percentile(lat, 95),
               "p99": M.percentile(lat, 99), "mean": sum(lat) / len(lat) if lat else None,
               "max": max(lat) if lat else None}
    rates = M.rates(outcomes)
    metric_values = M.metric_table(rates, per_category, latency)
    gates = [M.check_gate(g.metric, g.op, g.value, metric_values, known) for g in info.gates]
    sweep_out = None
    if sweep:
        sweep_out = {}
        for cat in categories:
            scores = [taxonomy.score(cat, o.scores) for o in outcomes]
            positive = [taxonomy.positive(cat, o.categories) for o in outcomes]
            rec = M.recommend_threshold(scores, positive, target_fpr)
            now = per_category[cat]
            rec["current"] = {"threshold": now["threshold"], "fpr": now["fpr"],
                              "fnr": now["fnr"]}
            sweep_out[cat] = rec
    return EvalResult(
        policy={"name": checker.policy, "version": checker.version, "hash": checker.hash},
        data=data.path, outcomes=outcomes, skipped=skipped, taxonomy=taxonomy,
        categories=categories, unknown_categories=unknown, per_category=per_category,
        rates=rates, metrics=metric_values, latency=latency,
        confusion=M.confusion(outcomes), label_actions=M.label_actions(outcomes),
        groups=M.groups(outcomes), gates=[g for g in gates if g is not None],
        sweep=sweep_out, target_fpr=target_fpr, notes=list(info.notes))


def _decide_all(checker: Any, data: Dataset, outcomes: list[M.DecidedEvent],
                skipped: list[tuple[int, str]], invalid: type[Exception]) -> None:
    """Decide every event, timing each `check` call (text classification included)."""
    warmed = False
    for ev in data.events:
        try:
            if not warmed:  # the first call loads models lazily: keep it out of the latency
                checker.check(text=ev.text, context=ev.context, scores=ev.scores)
                warmed = True
            start = time.perf_counter()
            d = checker.check(text=ev.text, context=ev.context, scores=ev.scores)
            elapsed = (time.perf_counter() - start) * 1000.0
        except invalid as exc:
            skipped.append((ev.line, str(exc)))
            continue
        outcomes.append(M.DecidedEvent(ev.line, ev.id, ev.label, ev.categories, ev.expect,
                                  d.action, d.argument, d.rule, dict(d.scores), elapsed,
                                  ev.group, list(d.errors)))


# ---- output -----------------------------------------------------------------------------------


def to_dict(r: EvalResult) -> dict[str, Any]:
    """The `policyc/eval/v1` object (documented in docs/eval.md)."""
    return {
        "schema": SCHEMA,
        "policy": r.policy,
        "data": {"file": r.data, "events": len(r.outcomes), "skipped": len(r.skipped),
                 "benign": r.rates["benign"], "harmful": r.rates["harmful"],
                 "with_expect": r.rates["with_expect"]},
        "metrics": r.metrics,
        "counts": dict(r.rates),
        "categories": r.per_category,
        "unknown_categories": r.unknown_categories,
        "confusion": r.confusion,
        "label_actions": r.label_actions,
        "groups": r.groups,
        "latency_ms": r.latency,
        "gates": [g.to_dict() for g in r.gates],
        "passed": not r.failed_gates,
        "sweep": r.sweep,
        "skipped": [{"line": line, "message": msg} for line, msg in r.skipped],
        "notes": r.notes,
    }


def threshold_text(v: dict[str, Any]) -> str:
    """A category's threshold, or its leaves' distinct thresholds (`0.3/0.5`)."""
    if v["threshold"] is not None:
        return f"{v['threshold']:g}"
    return "/".join(sorted({f"{x:g}" for x in v["leaves"].values()})) or "–"


def fmt(x: float | None, pct: bool = False, digits: int = 3) -> str:
    if x is None:
        return "–"
    return f"{100 * x:.1f}%" if pct else f"{x:.{digits}f}"
