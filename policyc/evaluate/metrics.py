"""Metrics of decisions on labelled events, and release gates (LANGUAGE.md §6).

Pure functions over plain data (no runtime, no I/O), so that every figure can be
checked by hand on a small fixture (`tests/evaluate/test_eval.py`).

Definitions (also in `docs/eval.md`):

- a **category fires** for an event when the score of one of its leaves is at or
  above that leaf's threshold (a leaf: its own score; an inner category such as
  `violence`: any leaf under it, as the guard atom `violence` reads);
- an event is **positive** for a category when its `categories` list names it (or a
  category under it: `violence.weapons` makes the event positive for `violence`);
- precision = TP / (TP + FP), recall = TP / (TP + FN), FPR = FP / (FP + TN),
  FNR = FN / (FN + TP); a ratio with a zero denominator is undefined (`None`);
- **benign refusal rate**: benign events decided `refuse` or `escalate`, over benign
  events; **benign redirect rate**: benign events decided `redirect`; **harmful pass
  rate**: harmful events decided `allow` or `warn`, over harmful events;
- **accuracy**: events with an `expect` whose decision matches it (the action, and
  the argument when `expect` gives one), over events with an `expect`;
- latency percentiles: linear interpolation between order statistics (numpy's
  default), in milliseconds;
- every rate k/n comes with its **95 % Wilson score interval** (`wilson`): with
  z = 1.959964, centre (p + z²/2n) / (1 + z²/n) and half-width
  z·sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n); undefined when n = 0.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from policyc.runtime.actions import ACTIONS
from policyc.semantics.gates import CATEGORY_METRICS, GLOBAL_METRICS, resolve_metric

__all__ = ["CATEGORY_METRICS", "GLOBAL_METRICS", "resolve_metric"]  # the gate vocabulary

REFUSING = frozenset({"refuse", "escalate"})
PASSING = frozenset({"allow", "warn"})

OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt,
    "==": operator.eq, "!=": operator.ne,
}


def ratio(num: int, den: int) -> float | None:
    return None if den == 0 else num / den


#: The normal quantile of a two-sided 95 % interval.
Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of k successes in n trials (None when n = 0).

    Unlike the normal (Wald) interval it stays inside [0, 1] and is not empty at
    k = 0 or k = n: 0/10 gives [0, 0.278], 10/10 gives [0.722, 1].
    """
    if n <= 0:
        return None
    if not 0 <= k <= n:
        raise ValueError(f"wilson: {k} successes out of {n}")
    p = k / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    lo = 0.0 if k == 0 else max(0.0, min(p, centre - half))
    hi = 1.0 if k == n else min(1.0, max(p, centre + half))
    return (lo, hi)


def rate(k: int, n: int) -> dict[str, Any]:
    """A rate with its evidence: `{"value", "count", "n", "ci": [lo, hi]}` (null when n = 0)."""
    ci = wilson(k, n)
    return {"value": ratio(k, n), "count": k, "n": n, "ci": None if ci is None else list(ci)}


@dataclass
class DecidedEvent:
    """One decided event: what the data says and what the policy did."""

    line: int
    id: Any
    label: str | None  # "harmful", "benign" or None
    categories: tuple[str, ...]
    expect: tuple[str, str | None] | None  # (action, argument or None: any)
    action: str
    argument: str | None
    rule: str | None
    scores: dict[str, float]
    latency_ms: float
    group: str | None = None
    errors: list[str] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)  # the row's string fields

    @property
    def matches_expect(self) -> bool | None:
        if self.expect is None:
            return None
        action, argument = self.expect
        return self.action == action and (argument is None or self.argument == argument)


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def positives(self) -> int:
        return self.tp + self.fn

    @property
    def negatives(self) -> int:
        return self.fp + self.tn

    def add(self, positive: bool, fired: bool) -> None:
        if positive and fired:
            self.tp += 1
        elif positive:
            self.fn += 1
        elif fired:
            self.fp += 1
        else:
            self.tn += 1

    def to_dict(self) -> dict[str, Any]:
        p, r = ratio(self.tp, self.tp + self.fp), ratio(self.tp, self.tp + self.fn)
        f1 = None if p is None or r is None or p + r == 0 else 2 * p * r / (p + r)
        return {"positives": self.positives, "negatives": self.negatives,
                "tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn,
                "precision": p, "recall": r, "f1": f1,
                "fpr": ratio(self.fp, self.fp + self.tn), "fnr": ratio(self.fn, self.fn + self.tp)}


class Taxonomy:
    """Leaf categories with their thresholds; inner categories are dotted prefixes."""

    def __init__(self, thresholds: Mapping[str, float]):
        self.thresholds = dict(thresholds)
        self.leaves = tuple(sorted(thresholds))

    def leaves_of(self, category: str) -> tuple[str, ...]:
        if category in self.thresholds:
            return (category,)
        prefix = category + "."
        return tuple(leaf for leaf in self.leaves if leaf.startswith(prefix))

    def knows(self, category: str) -> bool:
        return bool(self.leaves_of(category))

    def fires(self, category: str, scores: Mapping[str, float]) -> bool:
        return any(scores.get(leaf, 0.0) >= self.thresholds[leaf]
                   for leaf in self.leaves_of(category))

    def score(self, category: str, scores: Mapping[str, float]) -> float:
        """The largest leaf score under a category (what a sweep moves one threshold on)."""
        return max((scores.get(leaf, 0.0) for leaf in self.leaves_of(category)), default=0.0)

    def positive(self, category: str, labels: Sequence[str]) -> bool:
        """A label names the category or a category under it."""
        return any(lab == category or lab.startswith(category + ".") for lab in labels)


def evaluated_categories(taxonomy: Taxonomy, outcomes: Sequence[DecidedEvent]) -> tuple[
        list[str], list[str]]:
    """(categories the data names that the policy knows, those it does not), sorted."""
    named = sorted({c for o in outcomes for c in o.categories})
    return [c for c in named if taxonomy.knows(c)], [c for c in named if not taxonomy.knows(c)]


def category_counts(taxonomy: Taxonomy, outcomes: Sequence[DecidedEvent],
                    categories: Sequence[str]) -> dict[str, Counts]:
    out = {c: Counts() for c in categories}
    for o in outcomes:
        for c in categories:
            out[c].add(taxonomy.positive(c, o.categories), taxonomy.fires(c, o.scores))
    return out


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default method)."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def rates(outcomes: Sequence[DecidedEvent]) -> dict[str, Any]:
    benign = [o for o in outcomes if o.label == "benign"]
    harmful = [o for o in outcomes if o.label == "harmful"]
    expected = [o for o in outcomes if o.expect is not None]
    return {
        "benign": len(benign), "harmful": len(harmful), "with_expect": len(expected),
        "benign_refused": sum(o.action in REFUSING for o in benign),
        "benign_redirected": sum(o.action == "redirect" for o in benign),
        "harmful_passed": sum(o.action in PASSING for o in harmful),
        "harmful_blocked": sum(o.action in REFUSING for o in harmful),
        "matched_expect": sum(bool(o.matches_expect) for o in expected),
    }


def confusion(outcomes: Sequence[DecidedEvent]) -> dict[str, Any]:
    """Expected action (rows) × decided action (columns), over events with an `expect`."""
    rows = [a for a in ACTIONS if any(o.expect and o.expect[0] == a for o in outcomes)]
    matrix = [[sum(1 for o in outcomes if o.expect and o.expect[0] == r and o.action == c)
               for c in ACTIONS] for r in rows]
    return {"expected": rows, "actual": list(ACTIONS), "matrix": matrix}


def label_actions(outcomes: Sequence[DecidedEvent]) -> dict[str, dict[str, int]]:
    """Label (benign/harmful) × decided action."""
    out: dict[str, dict[str, int]] = {}
    for label in ("benign", "harmful"):
        sel = [o for o in outcomes if o.label == label]
        if sel:
            out[label] = {a: sum(o.action == a for o in sel) for a in ACTIONS}
    return out


def groups(outcomes: Sequence[DecidedEvent]) -> list[dict[str, Any]]:
    """Refusal / pass rates per `group` (the data's `group`, `category` or `trigger`)."""
    keys = sorted({(o.label or "", o.group) for o in outcomes if o.group is not None})
    out = []
    for label, group in keys:
        sel = [o for o in outcomes if o.group == group and (o.label or "") == label]
        row: dict[str, Any] = {"label": label or None, "group": group, "events": len(sel)}
        if label == "benign":
            row["refused"] = sum(o.action in REFUSING for o in sel)
            row["refusal_rate"] = ratio(row["refused"], len(sel))
            row["ci"] = rate(row["refused"], len(sel))["ci"]
        elif label == "harmful":
            row["passed"] = sum(o.action in PASSING for o in sel)
            row["pass_rate"] = ratio(row["passed"], len(sel))
            row["ci"] = rate(row["passed"], len(sel))["ci"]
        out.append(row)
    return out


#: The rates of `metric_table` and their (count, n) in `rates()`'s counts.
RATE_COUNTS = {
    "benign_refusal_rate": ("benign_refused", "benign"),
    "benign_redirect_rate": ("benign_redirected", "benign"),
    "harmful_pass_rate": ("harmful_passed", "harmful"),
    "harmful_block_rate": ("harmful_blocked", "harmful"),
    "accuracy": ("matched_expect", "with_expect"),
}
#: Per-category rates: (count key, n keys) in `Counts.to_dict()`.
CATEGORY_RATE_COUNTS = {
    "precision": ("tp", ("tp", "fp")), "recall": ("tp", ("tp", "fn")),
    "fpr": ("fp", ("fp", "tn")), "fnr": ("fn", ("fn", "tp")),
}


def category_rates(values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Precision, recall, FPR, FNR of one category as `rate` objects."""
    return {fam: rate(values[k], sum(values[x] for x in den))
            for fam, (k, den) in CATEGORY_RATE_COUNTS.items()}


def rate_table(r: Mapping[str, Any],
               per_category: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every rate a gate may name with its count, n and 95 % Wilson interval."""
    out = {name: rate(r[k], r[n]) for name, (k, n) in RATE_COUNTS.items()}
    for cat, values in per_category.items():
        for fam, v in category_rates(values).items():
            out[f"{fam}.{cat}"] = v
    return out


#: The rates shown per value of a `--slice-by` field.
SLICE_RATES = ("benign_refusal_rate", "harmful_pass_rate", "accuracy")
MISSING = "(missing)"


def slices(outcomes: Sequence[DecidedEvent], field_name: str) -> dict[str, dict[str, Any]]:
    """The key rates per value of a data field (rows without it: `(missing)`)."""
    values: dict[str, list[DecidedEvent]] = {}
    for o in outcomes:
        values.setdefault(o.fields.get(field_name, MISSING), []).append(o)
    out: dict[str, dict[str, Any]] = {}
    for value in sorted(values, key=lambda v: (v == MISSING, v)):
        sel = values[value]
        r = rates(sel)
        row: dict[str, Any] = {"events": len(sel), "benign": r["benign"],
                               "harmful": r["harmful"]}
        for name in SLICE_RATES:
            k, n = RATE_COUNTS[name]
            row[name] = rate(r[k], r[n])
        out[value] = row
    return out


def metric_table(r: Mapping[str, Any], per_category: Mapping[str, Mapping[str, Any]],
                 latency: Mapping[str, float | None]) -> dict[str, float | None]:
    """Every metric a gate may name, by name (per category: `recall.violence` style)."""
    m: dict[str, float | None] = {
        "benign_refusal_rate": ratio(r["benign_refused"], r["benign"]),
        "benign_redirect_rate": ratio(r["benign_redirected"], r["benign"]),
        "harmful_pass_rate": ratio(r["harmful_passed"], r["harmful"]),
        "harmful_block_rate": ratio(r["harmful_blocked"], r["harmful"]),
        "accuracy": ratio(r["matched_expect"], r["with_expect"]),
        "p50_latency_ms": latency.get("p50"), "p95_latency_ms": latency.get("p95"),
        "p99_latency_ms": latency.get("p99"), "mean_latency_ms": latency.get("mean"),
        "max_latency_ms": latency.get("max"),
    }
    for cat, values in per_category.items():
        for family in CATEGORY_METRICS:
            m[f"{family}.{cat}"] = values.get(family)
    return m


@dataclass
class GateResult:
    metric: str
    op: str
    value: float
    actual: float | None
    passed: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "op": self.op, "value": self.value,
                "actual": self.actual, "passed": self.passed, "message": self.message}


def check_gate(metric: str, op: str, value: float, metrics: Mapping[str, float | None],
               categories: Sequence[str]) -> GateResult | None:
    """A gate's verdict; None when the metric name is unknown (bad input)."""
    canonical = resolve_metric(metric, categories)
    if canonical is None:
        return None
    actual = metrics.get(canonical)
    if actual is None:
        return GateResult(metric, op, value, None, False,
                          f"`{metric}` is undefined on this data (no events it is measured on)")
    passed = OPS[op](actual, value)
    return GateResult(metric, op, value, actual, passed,
                      f"{metric} = {actual:.4g} {'satisfies' if passed else 'violates'} "
                      f"{op} {value:g}")


# ---- threshold sweeps ---------------------------------------------------------------------


def sweep_curve(scores: Sequence[float], positive: Sequence[bool],
                thresholds: Sequence[float]) -> tuple[list[float | None], list[float | None]]:
    """FPR and FNR when the category fires at score >= t, for each t."""
    pos = [s for s, p in zip(scores, positive, strict=True) if p]
    neg = [s for s, p in zip(scores, positive, strict=True) if not p]
    fpr = [ratio(sum(s >= t for s in neg), len(neg)) for t in thresholds]
    fnr = [ratio(sum(s < t for s in pos), len(pos)) for t in thresholds]
    return fpr, fnr


def recommend_threshold(scores: Sequence[float], positive: Sequence[bool], target_fpr: float,
                        step: float = 1e-4) -> dict[str, Any]:
    """The lowest threshold (a multiple of `step`) whose FPR is at most `target_fpr`.

    The lowest such threshold keeps recall as high as the FPR budget allows. The
    evidence is returned with it: FPR/FNR at that threshold and the event counts.
    """
    neg = sorted((s for s, p in zip(scores, positive, strict=True) if not p), reverse=True)
    pos = [s for s, p in zip(scores, positive, strict=True) if p]
    out: dict[str, Any] = {"target_fpr": target_fpr, "positives": len(pos),
                           "negatives": len(neg)}
    if not neg:
        out.update(threshold=None, reason="no negative events: FPR cannot be measured")
        return out
    allowed = math.floor(target_fpr * len(neg) + 1e-9)  # false positives within budget
    if allowed >= len(neg):
        t = 0.0
    else:
        # fire strictly above the (allowed+1)-th highest negative score
        t = neg[allowed] + step / 2
    t = min(1.0, math.ceil(round(t / step, 6)) * step)
    fp = sum(s >= t for s in neg)
    if fp > allowed:  # only when the budget forbids firing even at 1.0
        out.update(threshold=None, reason=f"negatives score 1.0: no threshold reaches "
                                          f"FPR <= {target_fpr:g}")
        return out
    tp = sum(s >= t for s in pos)
    out.update(threshold=round(t, 6), fp=fp, tp=tp, fpr=fp / len(neg),
               fnr=ratio(len(pos) - tp, len(pos)), recall=ratio(tp, len(pos)),
               precision=ratio(tp, tp + fp))
    return out
