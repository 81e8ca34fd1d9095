"""`policyc eval BUNDLE_OR_FILE DATA.jsonl`: metrics and release gates on labelled events.

Exit codes (CLI.md): 0 every gate holds and every line was decided; 1 a gate fails,
or lines were skipped (malformed, or invalid for the policy: reported with their line
numbers); 2 the target or the data cannot be processed (syntax errors, a bad bundle,
an unreadable file, no decidable event, a gate naming an unknown metric, a bad flag).

The evaluation itself is `policyc/evaluate/run.py`; the definitions of every figure are
in `policyc/evaluate/metrics.py` and `docs/eval.md`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from policyc.commands.console import UsageError, cannot_write, console, fail, note
from policyc.commands.inputs import is_bundle, is_stdin, load_inputs, load_target
from policyc.evaluate import metrics as M
from policyc.evaluate.data import DataError, load_dataset, parse_where, select
from policyc.evaluate.report import ReportError, write_report
from policyc.evaluate.run import (
    RATE_LABELS,
    SLICE_LABELS,
    EvalError,
    EvalResult,
    Gate,
    PolicyInfo,
    evaluate,
    fmt,
    fmt_rate,
    group_rate_text,
    threshold_text,
    to_dict,
)
from policyc.runtime.bundle import RECOMPILE_HELP, BundleError

#: A leaf's threshold when a bundle records none.
DEFAULT_THRESHOLD = 0.5


def policy_info(target: Path, checker: Any, path: list[Path],
                stdin_filename: str | None = None) -> PolicyInfo:
    """Thresholds and gates: from the `.pol` source, else from the bundle manifest."""
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


def print_tables(r: EvalResult, console: Console) -> None:
    p = r.policy
    console.print(f"policy {p['name']} {p['version']} ({p['hash'][:19]}…) on {r.data}: "
                  f"{len(r.outcomes)} events ({r.rates['benign']} benign, "
                  f"{r.rates['harmful']} harmful), {len(r.skipped)} skipped", markup=False)
    if r.where:
        console.print("rows selected by " + ", ".join(f"{k}={v}" for k, v in r.where.items())
                      + f" ({r.excluded} other rows left out)", markup=False)
    for remark in r.notes:
        console.print(f"note: {remark}", markup=False)
    for line, msg in r.skipped[:20]:
        console.print(f"{r.data}:{line}: skipped: {msg}", markup=False)
    if len(r.skipped) > 20:
        console.print(f"… and {len(r.skipped) - 20} more skipped lines", markup=False)

    t = Table(title="Rates (count/events, 95% Wilson interval)", title_justify="left")
    t.add_column("metric")
    t.add_column("value", justify="right")
    for name, label in RATE_LABELS:
        t.add_row(label, fmt_rate(r.rate_ci.get(name)))
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
        t = Table(title="Per category rates (count/events, 95% Wilson interval)",
                  title_justify="left")
        for col in ("category", "precision", "recall", "FPR", "FNR"):
            t.add_column(col, justify="left" if col == "category" else "right")
        for cat in r.per_category:
            t.add_row(cat, *(fmt_rate(r.rate_ci.get(f"{fam}.{cat}"))
                             for fam in ("precision", "recall", "fpr", "fnr")))
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
            t.add_row(str(g["label"]), str(g["group"]), str(g["events"]), str(n),
                      group_rate_text(g))
        console.print(t)
    print_slices(r, console)

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


def print_slices(r: EvalResult, console: Console) -> None:
    """One table per `--slice-by` field: the key rates per value of the field."""
    for name, values in r.slices.items():
        t = Table(title=f"By {name} (count/events, 95% Wilson interval)", title_justify="left")
        for col in (name, "events", "benign", "harmful", *(lab for _, lab in SLICE_LABELS)):
            t.add_column(col, justify="left" if col == name else "right")
        for value, row in values.items():
            t.add_row(value, str(row["events"]), str(row["benign"]), str(row["harmful"]),
                      *(fmt_rate(row[m]) for m, _ in SLICE_LABELS))
        console.print(t)


def stdout_console() -> Console:
    """Rich on stdout; wide enough for the tables when not on a terminal (CI logs)."""
    out = console()
    if not out.is_terminal:
        out = console(width=max(out.width, 132))
    return out


def run(bundle: Path, data: Path, output: Path | None, json_file: Path | None,
        report: Path | None, sweep: bool, target_fpr: float, path: list[Path],
        json_stdout: bool = False, stdin_filename: str | None = None,
        slice_by: list[str] | None = None, where: list[str] | None = None,
        split: str | None = None, verify_key: list[Path] | None = None) -> int:
    """`output` (or its old name `json_file`) is a file for the metrics JSON (`-`: stdout);
    `json_stdout` prints the JSON instead of the tables. `slice_by`: fields to break the
    rates down by (`kind,language`); `where` (`split=test`) and `split` select rows."""
    if output is not None and json_file is not None:
        return fail("`--output` and `--json` both name the metrics file", "give one of them")
    json_out = output or json_file
    if not 0.0 <= target_fpr <= 1.0:
        return fail(f"--target-fpr {target_fpr:g} is not in [0, 1]")
    fields = [f.strip() for spec in slice_by or [] for f in spec.split(",") if f.strip()]
    if slice_by and not fields:
        return fail("`--slice-by` names no field", "e.g. `--slice-by kind,language`")
    try:
        conditions = parse_where(list(where or []))
    except DataError as exc:
        return fail(str(exc))
    if split is not None:
        if conditions.get("split", split) != split:
            return fail(f"`--split {split}` contradicts `--where split={conditions['split']}`")
        conditions["split"] = split
    try:
        checker = load_target(bundle, list(path), stdin_filename, verify_key)
        info = policy_info(bundle, checker, list(path), stdin_filename)
        dataset = load_dataset(data)
        excluded = select(dataset, conditions)
        if conditions and not dataset.events and not dataset.skipped:
            where_text = ", ".join(f"{k}={v}" for k, v in conditions.items())
            return fail(f"{data}: no row has {where_text}",
                        "check the field names and values of `--where`/`--split`")
        result = evaluate(checker, info, dataset, sweep, target_fpr, fields, conditions,
                          excluded)
    except (UsageError, EvalError) as exc:
        return fail(str(exc), exc.help)
    except BundleError as exc:
        return fail(str(exc), exc.help or RECOMPILE_HELP)
    except DataError as exc:
        return fail(str(exc))
    if not result.outcomes:
        for line, msg in result.skipped[:20]:
            console(stderr=True).print(f"{data}:{line}: skipped: {msg}", markup=False)
        return fail(f"{data}: no event could be decided",
                    "each line is a JSON object with `text`, `scores` or `context`")
    for warning in result.warnings:  # kept under --quiet: it questions the figures
        console(stderr=True).print(f"warning: {warning}", markup=False)
    if json_stdout or is_stdin(json_out):
        sys.stdout.write(json.dumps(to_dict(result), indent=2, ensure_ascii=False) + "\n")
    else:
        print_tables(result, stdout_console())
    if json_out is not None and not is_stdin(json_out):
        try:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            # a lone surrogate (an id or a field from JSON) as its JSON escape, as stdout
            json_out.write_text(json.dumps(to_dict(result), indent=2, ensure_ascii=False) + "\n",
                                encoding="utf-8", errors="backslashreplace")
        except OSError as exc:
            return cannot_write(json_out, exc)
    if report is not None:
        try:
            index = write_report(result, report)
        except ReportError as exc:
            return fail(str(exc), exc.help)
        note(f"report written to {index}")
    return 1 if result.failed_gates or result.skipped else 0
