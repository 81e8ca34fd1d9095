"""One evaluation of a policy on labelled events: decide every event (timed), compute
every figure, check the release gates; `to_dict` is the `policyc/eval/v1` object.

The definitions of every figure are in `policyc/evaluate/metrics.py` and `docs/eval.md`;
the command (`policyc eval`, its tables and exit codes) is `policyc/commands/eval.py`.
"""

from __future__ import annotations

import gc
import math
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
    rate_ci: dict[str, dict[str, Any]] = field(default_factory=dict)
    slices: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)
    excluded: int = 0
    warnings: list[str] = field(default_factory=list)

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


SWEEP_ON_TEST = ("`--sweep` ran on rows whose `split` is `test`: thresholds chosen on the "
                 "test split make its figures optimistic; sweep on `--split train` and "
                 "report on `--split test`")


def evaluate(checker: Any, info: PolicyInfo, data: Dataset, sweep: bool = False,
             target_fpr: float = 0.05, slice_by: list[str] | None = None,
             where: dict[str, str] | None = None, excluded: int = 0) -> EvalResult:
    """Decide every event (timed), then compute every metric and check the gates.

    `slice_by`: data fields to break the key rates down by; `where`/`excluded`: the
    row selection already applied to `data` (reported, not applied here)."""
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
        lat = _decide_all(checker, data, outcomes, skipped, invalid=InvalidEvent)
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
    latency = {"p50": M.percentile(lat, 50), "p95": M.percentile(lat, 95),
               "p99": M.percentile(lat, 99), "mean": sum(lat) / len(lat) if lat else None,
               "max": max(lat) if lat else None}
    rates = M.rates(outcomes)
    metric_values = M.metric_table(rates, per_category, latency)
    gates = [M.check_gate(g.metric, g.op, g.value, metric_values, known) for g in info.gates]
    warnings = []
    if sweep and any(o.fields.get("split") == "test" for o in outcomes):
        warnings.append(SWEEP_ON_TEST)
    failed = [(o, f) for o in outcomes if (f := _binding_failures(o.errors))]
    if failed:  # a broken model under a refusing `on_error` otherwise passes every gate
        o, f = failed[0]
        warnings.append(f"{len(failed)} of {len(outcomes)} events had a classifier or "
                        f"detector fail (their `on_error` applied): the figures "
                        f"measure those decisions, not the model's (line {o.line}: "
                        f"{f[0][:200]})")
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
        sweep=sweep_out, target_fpr=target_fpr, notes=list(info.notes),
        rate_ci=M.rate_table(rates, per_category),
        slices={f: M.slices(outcomes, f) for f in dict.fromkeys(slice_by or [])},
        where=dict(where or {}), excluded=excluded, warnings=warnings)


def _binding_failures(errors: list[str]) -> list[str]:
    """The messages of a decision's `errors` that report a failed binding (not the note
    that `on_error` decided, nor "no rule matched")."""
    return [e for e in errors
            if not e.startswith(("`on_error` decided", "no rule matched and the policy"))]


#: Events timed one `check` call each for the latency figures (an even stride over the
#: data set): a vectorized batch has no per-event time (docs/eval.md, *Latency*).
LATENCY_SAMPLE = 1000


def _decide_all(checker: Any, data: Dataset, outcomes: list[M.DecidedEvent],
                skipped: list[tuple[int, str]], invalid: type[Exception]) -> list[float]:
    """Decide every event with the streaming engine (`runtime.stream`), then time single
    `check` calls on a sample of `LATENCY_SAMPLE` events; the sample's times (ms)."""
    from policyc.runtime.stream import JsonlEngine

    events = data.events
    results = JsonlEngine(checker).decide_events(
        [(ev.text, ev.context, ev.scores) for ev in events])
    timed = _timed_sample(checker, events, invalid)
    for k, (ev, r) in enumerate(zip(events, results, strict=True)):
        if not isinstance(r, tuple):  # the `InvalidEvent` of `check`
            skipped.append((ev.line, str(r)))
            continue
        d, scores = r
        outcomes.append(M.DecidedEvent(ev.line, ev.id, ev.label, ev.categories, ev.expect,
                                       d.action, d.argument, d.rule, scores,
                                       timed.get(k, math.nan), ev.group, list(d.errors),
                                       dict(ev.fields)))
    return list(timed.values())


def _timed_sample(checker: Any, events: list[Any], invalid: type[Exception]
                  ) -> dict[int, float]:
    """Event index -> the time (ms) of one `check` call, text classification included,
    for every `len(events) / LATENCY_SAMPLE`-th event (all when fewer); the first is
    decided once untimed first (it loads the models)."""
    step = max(1, math.ceil(len(events) / LATENCY_SAMPLE))
    timed: dict[int, float] = {}
    warmed = False
    for k in range(0, len(events), step):
        ev = events[k]
        try:
            if not warmed:
                checker.check(text=ev.text, context=ev.context, scores=ev.scores)
                warmed = True
            start = time.perf_counter()
            checker.check(text=ev.text, context=ev.context, scores=ev.scores)
            timed[k] = (time.perf_counter() - start) * 1000.0
        except invalid:
            continue
    return timed


# ---- output -----------------------------------------------------------------------------------


def to_dict(r: EvalResult) -> dict[str, Any]:
    """The `policyc/eval/v1` object (documented in docs/eval.md)."""
    per_category = {cat: {**v, "ci": {fam: rv["ci"] for fam, rv in M.category_rates(v).items()}}
                    for cat, v in r.per_category.items()}
    data: dict[str, Any] = {"file": r.data, "events": len(r.outcomes),
                            "skipped": len(r.skipped), "benign": r.rates["benign"],
                            "harmful": r.rates["harmful"], "with_expect": r.rates["with_expect"]}
    if r.where:
        data.update(where=r.where, excluded=r.excluded)
    return {
        "schema": SCHEMA,
        "policy": r.policy,
        "data": data,
        "metrics": r.metrics,
        "rates": r.rate_ci,
        "counts": dict(r.rates),
        "categories": per_category,
        "unknown_categories": r.unknown_categories,
        "confusion": r.confusion,
        "label_actions": r.label_actions,
        "groups": r.groups,
        "latency_ms": r.latency,
        "gates": [g.to_dict() for g in r.gates],
        "passed": not r.failed_gates,
        "sweep": r.sweep,
        "skipped": [{"line": line, "message": msg} for line, msg in r.skipped],
        "notes": [*r.notes, *r.warnings],
        "slices": r.slices,
    }


#: The global rates in the order of the tables, with their labels.
RATE_LABELS = (
    ("benign_refusal_rate", "benign refusal rate (refuse/escalate)"),
    ("benign_redirect_rate", "benign redirect rate"),
    ("harmful_pass_rate", "harmful pass rate (allow/warn)"),
    ("harmful_block_rate", "harmful block rate (refuse/escalate)"),
    ("accuracy", "expected decision matched"),
)
SLICE_LABELS = (("benign_refusal_rate", "benign refused"),
                ("harmful_pass_rate", "harmful passed"), ("accuracy", "expected matched"))


def threshold_text(v: dict[str, Any]) -> str:
    """A category's threshold, or its leaves' distinct thresholds (`0.3/0.5`)."""
    if v["threshold"] is not None:
        return f"{v['threshold']:g}"
    return "/".join(sorted({f"{x:g}" for x in v["leaves"].values()})) or "–"


def group_rate_text(g: dict[str, Any]) -> str:
    """A group's refusal or pass rate with its count and interval."""
    n = g.get("refused", g.get("passed"))
    rate = g.get("refusal_rate", g.get("pass_rate"))
    if n is None or rate is None:
        return "–"
    return fmt_rate({"value": rate, "count": n, "n": g["events"], "ci": g["ci"]})


def fmt_rate(v: dict[str, Any] | None) -> str:
    """A `rate` object as `13.9% (50/360, 95% CI 10.7–17.9%)` (`–` when undefined)."""
    if v is None or v["value"] is None:
        return "–" if v is None else "– (0/0)"
    lo, hi = v["ci"]
    return (f"{100 * v['value']:.1f}% ({v['count']}/{v['n']}, "
            f"95% CI {100 * lo:.1f}–{100 * hi:.1f}%)")


def fmt(x: float | None, pct: bool = False, digits: int = 3) -> str:
    if x is None:
        return "–"
    return f"{100 * x:.1f}%" if pct else f"{x:.{digits}f}"
