"""`policyc eval BUNDLE_OR_FILE DATA.jsonl`: metrics and release gates on labelled events.

Exit codes (CLI.md): 0 every gate holds and every line was decided; 1 a gate fails,
or lines were skipped (malformed, or invalid for the policy: reported with their line
numbers); 2 the target or the data cannot be processed (syntax errors, a bad bundle,
an unreadable file, no decidable event, a gate naming an unknown metric, a bad flag).

The definitions of every figure are in `policyc/evaluate/metrics.py` and `docs/eval.md`.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from policyc.console import console, print_error
from policyc.console import note as print_note
from policyc.evaluate import metrics as M
from policyc.evaluate.data import DataError, Dataset, load_dataset

SCHEMA = "policyc/eval/v1"
DEFAULT_THRESHOLD = 0.5


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


class _Usage(Exception):
    def __init__(self, message: str, help: str | None = None):
        super().__init__(message)
        self.help = help


# ---- the policy ---------------------------------------------------------------------------


def policy_info(target: Path, checker: Any, path: list[Path],
                stdin_filename: str | None = None) -> PolicyInfo:
    """Thresholds and gates: from the `.pol` source, else from the bundle manifest."""
    from policyc.inputs import is_bundle, load_inputs

    leaves = sorted(checker.score_names)
    if not is_bundle(target):
        program = load_inputs([target], list(path), stdin_filename)
        flat = next(iter(program.policies.values()))
        return PolicyInfo({leaf: flat.threshold(leaf) for leaf in leaves},
                          [Gate(g.metric, g.op, float(g.value)) for g in flat.gates])
    manifest = checker.manifest
    notes = []
    recorded = getattr(manifest, "thresholds", None)
    if recorded:
        thresholds = {leaf: float(recorded.get(leaf, DEFAULT_THRESHOLD)) for leaf in leaves}
    else:
        thresholds = dict.fromkeys(leaves, DEFAULT_THRESHOLD)
        if leaves:
            notes.append("the bundle records no thresholds: per-category metrics use 0.5 "
                         "(evaluate the `.pol` file for the policy's thresholds)")
    gates = []
    for g in getattr(manifest, "gates", None) or []:
        raw = g if isinstance(g, dict) else {k: getattr(g, k) for k in ("metric", "op", "value")}
        gates.append(Gate(str(raw["metric"]), str(raw["op"]), float(raw["value"])))
    return PolicyInfo(thresholds, gates, notes)


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
    from policyc.runtime.checker import InvalidEvent

    taxonomy = M.Taxonomy(info.thresholds)
    known = _known_categories(taxonomy)
    for g in info.gates:
        if M.resolve_metric(g.metric, known) is None:
            raise _Usage(f"gate `{g.metric}` names an unknown metric",
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


def print_tables(r: EvalResult, console: Console) -> None:
    p = r.policy
    console.print(f"policy {p['name']} {p['version']} ({p['hash'][:19]}…) on {r.data}: "
                  f"{len(r.outcomes)} events ({r.rates['benign']} benign, "
                  f"{r.rates['harmful']} harmful), {len(r.skipped)} skipped", markup=False)
    for note in r.notes:
        console.print(f"note: {note}", markup=False)
    for line, msg in r.skipped[:20]:
        console.print(f"{r.data}:{line}: skipped: {msg}", markup=False)
    if len(r.skipped) > 20:
        console.print(f"… and {len(r.skipped) - 20} more skipped lines", markup=False)

    t = Table(title="Rates", title_justify="left")
    t.add_column("metric")
    t.add_column("value", justify="right")
    t.add_column("events", justify="right")
    rt = r.rates
    t.add_row("benign refusal rate (refuse/escalate)", fmt(r.metrics["benign_refusal_rate"], True),
              f"{rt['benign_refused']}/{rt['benign']}")
    t.add_row("benign redirect rate", fmt(r.metrics["benign_redirect_rate"], True),
              f"{rt['benign_redirected']}/{rt['benign']}")
    t.add_row("harmful pass rate (allow/warn)", fmt(r.metrics["harmful_pass_rate"], True),
              f"{rt['harmful_passed']}/{rt['harmful']}")
    t.add_row("harmful block rate (refuse/escalate)", fmt(r.metrics["harmful_block_rate"], True),
              f"{rt['harmful_blocked']}/{rt['harmful']}")
    t.add_row("expected decision matched", fmt(r.metrics["accuracy"], True),
              f"{rt['matched_expect']}/{rt['with_expect']}")
    console.print(t)

    if r.per_category:
        t = Table(title="Per category (fires when a leaf score >= its threshold)",
                  title_justify="left")
        for col in ("category", "threshold", "pos", "neg", "TP", "FP", "FN", "TN",
                    "precision", "recall", "FPR", "FNR"):
            t.add_column(col, justify="left" if col == "category" else "right")
        for cat, v in r.per_category.items():
            t.add_row(cat, threshold_text(v), str(v["positives"]), str(v["negatives"]),
                      str(v["tp"]), str(v["fp"]), str(v["fn"]), str(v["tn"]), fmt(v["precision"]),
                      fmt(v["recall"]), fmt(v["fpr"]), fmt(v["fnr"]))
        console.print(t)
    if r.unknown_categories:
        console.print("categories in the data that the policy does not have (not measured): "
                      + ", ".join(r.unknown_categories), markup=False)

    if r.confusion["expected"]:
        t = Table(title="Expected (rows) vs decided (columns)", title_justify="left")
        t.add_column("expected \\ decided")
        for a in r.confusion["actual"]:
            t.add_column(a, justify="right")
        for row, values in zip(r.confusion["expected"], r.confusion["matrix"], strict=True):
            t.add_row(row, *(str(v) for v in values))
        console.print(t)
    if r.label_actions:
        t = Table(title="Label (rows) vs decided action (columns)", title_justify="left")
        t.add_column("label")
        for a in M.ACTIONS:
            t.add_column(a, justify="right")
        for label, row in r.label_actions.items():
            t.add_row(label, *(str(row[a]) for a in M.ACTIONS))
        console.print(t)
    worst = [g for g in r.groups if g.get("refused") or g.get("passed")]
    if worst:
        t = Table(title="Groups with refused benign / passed harmful events",
                  title_justify="left")
        for col in ("label", "group", "events", "refused/passed", "rate"):
            t.add_column(col, justify="right" if col in ("events", "rate",
                                                         "refused/passed") else "left")
        for g in worst:
            n = g.get("refused", g.get("passed"))
            rate = g.get("refusal_rate", g.get("pass_rate"))
            t.add_row(str(g["label"]), str(g["group"]), str(g["events"]), str(n), fmt(rate, True))
        console.print(t)

    lat = r.latency
    console.print(f"latency per event (ms): p50 {fmt(lat['p50'])}  p95 {fmt(lat['p95'])}  "
                  f"p99 {fmt(lat['p99'])}  max {fmt(lat['max'])}", markup=False)

    if r.sweep is not None:
        t = Table(title=f"Recommended thresholds for FPR <= {r.target_fpr:g}",
                  title_justify="left")
        for col in ("category", "current", "FPR now", "FNR now", "recommended", "FPR", "FNR",
                    "pos", "neg"):
            t.add_column(col, justify="left" if col == "category" else "right")
        for cat, s in r.sweep.items():
            cur, now = s["current"], threshold_text(r.per_category[cat])
            if s.get("threshold") is None:
                t.add_row(cat, now, fmt(cur["fpr"]), fmt(cur["fnr"]),
                          "–", "–", "–", str(s["positives"]), str(s["negatives"]))
            else:
                t.add_row(cat, now, fmt(cur["fpr"]), fmt(cur["fnr"]),
                          f"{s['threshold']:.4f}", fmt(s["fpr"]), fmt(s["fnr"]),
                          str(s["positives"]), str(s["negatives"]))
        console.print(t)

    if r.gates:
        t = Table(title="Gates", title_justify="left")
        for col in ("gate", "actual", "result"):
            t.add_column(col)
        for gate in r.gates:
            actual = "undefined" if gate.actual is None else f"{gate.actual:.4g}"
            t.add_row(f"{gate.metric} {gate.op} {gate.value:g}", actual,
                      "[green]pass[/]" if gate.passed else "[bold red]FAIL[/]")
        console.print(t)
        failed = r.failed_gates
        console.print(f"{len(r.gates) - len(failed)} gates passed, {len(failed)} failed",
                      markup=False)
    else:
        console.print("no gates declared", markup=False)


# ---- the command ---------------------------------------------------------------------------------


def stdout_console() -> Console:
    """Rich on stdout; wide enough for the tables when not on a terminal (CI logs)."""
    out = console()
    if not out.is_terminal:
        out = console(width=max(out.width, 132))
    return out


def _fail(message: str, help: str | None = None) -> int:
    print_error(message, help)
    return 2


def run_eval(bundle: Path, data: Path, json_out: Path | None, report: Path | None,
             sweep: bool, target_fpr: float, path: list[Path], json_stdout: bool = False,
             stdin_filename: str | None = None) -> int:
    """`json_out` is a file for the metrics JSON (`-`: stdout); `json_stdout` prints the
    JSON instead of the tables."""
    from policyc.checking import _Usage as CheckUsage
    from policyc.checking import load_target
    from policyc.inputs import is_stdin
    from policyc.runtime.bundle import BundleError

    if not 0.0 <= target_fpr <= 1.0:
        return _fail(f"--target-fpr {target_fpr:g} is not in [0, 1]")
    try:
        checker = load_target(bundle, list(path), stdin_filename)
        info = policy_info(bundle, checker, list(path), stdin_filename)
        dataset = load_dataset(data)
        result = evaluate(checker, info, dataset, sweep, target_fpr)
    except CheckUsage as exc:
        return _fail(str(exc), exc.help)
    except _Usage as exc:
        return _fail(str(exc), exc.help)
    except BundleError as exc:
        return _fail(str(exc), "recompile the policy with `policyc compile`")
    except DataError as exc:
        return _fail(str(exc))
    if not result.outcomes:
        for line, msg in result.skipped[:20]:
            console(stderr=True).print(f"{data}:{line}: skipped: {msg}", markup=False)
        return _fail(f"{data}: no event could be decided",
                     "each line is a JSON object with `text`, `scores` or `context`")
    if json_stdout or is_stdin(json_out):
        sys.stdout.write(json.dumps(to_dict(result), indent=2, ensure_ascii=False) + "\n")
    else:
        print_tables(result, stdout_console())
    if json_out is not None and not is_stdin(json_out):
        try:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(to_dict(result), indent=2, ensure_ascii=False) + "\n",
                                encoding="utf-8")
        except OSError as exc:
            return _fail(f"cannot write {json_out}: {exc.strerror or exc}")
    if report is not None:
        from policyc.evaluate.report import ReportError, write_report

        try:
            index = write_report(result, report)
        except ReportError as exc:
            return _fail(str(exc), exc.help)
        print_note(f"report written to {index}")
    return 1 if result.failed_gates or result.skipped else 0
