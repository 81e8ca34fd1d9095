"""`policyc eval --report DIR`: SVG plots and an `index.html` that embeds them.

Plots (self-made SVG from `policyc.evaluate.plots`: no plotting library, so the core
install writes reports):

- `sweep_<category>.svg`: FPR and FNR of the category against its threshold
  (0 to 1 in steps of 0.01), with the policy's threshold (and the recommended one
  when `--sweep` was given) marked;
- `confusion.svg`: expected vs decided actions; `labels.svg`: label vs decided action.

`index.html` is one self-contained page (inline CSS, relative `img` paths) with the
same tables as the terminal output.
"""

from __future__ import annotations

import html
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from policyc.evaluate import metrics as M
from policyc.evaluate.plots import Marker, Series, heatmap, line_chart
from policyc.evaluate.run import (
    RATE_LABELS,
    SLICE_LABELS,
    EvalError,
    EvalResult,
    fmt,
    fmt_rate,
    group_rate_text,
    threshold_text,
)

GRID = [i / 100 for i in range(101)]


#: A lone surrogate in a group or field name (valid JSON, not UTF-8) is written as its
#: backslash escape `\\udfff`, as the command line prints it.
LONE_SURROGATE = "backslashreplace"

class ReportError(EvalError):
    """The report folder or one of its files cannot be written."""


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def plot_sweep(r: EvalResult, cat: str) -> str:
    """The SVG of FPR and FNR of `cat` against its threshold."""
    scores, positive = r.category_scores(cat)
    fpr, fnr = M.sweep_curve(scores, positive, GRID)
    series = [Series(label, values, color) for label, values, color in
              (("FPR", fpr, "#d62728"), ("FNR", fnr, "#1f77b4"))
              if any(v is not None for v in values)]
    markers = []
    current = r.per_category[cat]["threshold"]
    if current is not None:
        markers.append(Marker(current, f"policy threshold {current:g}", "black", "5 3"))
    rec = (r.sweep or {}).get(cat, {}).get("threshold")
    if rec is not None:
        markers.append(Marker(rec, f"recommended {rec:.3g} (FPR <= {r.target_fpr:g})",
                              "#2ca02c", "2 2"))
    v = r.per_category[cat]
    return line_chart(GRID, series, markers,
                      f"{cat}: {v['positives']} positive, {v['negatives']} negative events",
                      "threshold (fires at score >= threshold)", "rate")


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


#: Derived two-way slices the report always shows when the data has the field:
#: (title, field, name of the derived field, value -> side).
DERIVED_SLICES = (
    ("Obfuscated vs plain text", "obfuscation", "text",
     lambda v: "plain" if v in (M.MISSING, "none") else "obfuscated"),
    ("Familiar vs unfamiliar text (language other than English)", "language", "text",
     lambda v: "familiar (en)" if v in (M.MISSING, "en") else "unfamiliar"),
)


def report_slices(r: EvalResult) -> list[tuple[str, str, dict[str, dict[str, Any]]]]:
    """(title, column name, rates per value): the `--slice-by` tables, then the
    obfuscated-vs-plain and unfamiliar-text slices when the data has those fields."""
    out = [(f"By {name}", name, values) for name, values in r.slices.items()]
    for title, source, column, side in DERIVED_SLICES:
        if not any(source in o.fields for o in r.outcomes):
            continue
        outcomes = [replace(o, fields={column: side(o.fields.get(source, M.MISSING))})
                    for o in r.outcomes]
        out.append((title, column, M.slices(outcomes, column)))
    return out


def write_report(r: EvalResult, folder: Path) -> Path:
    """Write the plots and `index.html` into `folder`; returns the index path."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"cannot create {folder}: {exc.strerror or exc}") from None
    plots: list[tuple[str, str, str]] = []  # (file, caption, svg)
    if r.label_actions:
        labels = list(r.label_actions)
        plots.append(("labels.svg", "label vs decided action", heatmap(
            labels, list(M.ACTIONS), [[r.label_actions[lab][a] for a in M.ACTIONS]
                                      for lab in labels],
            "label vs decided", "decided action", "label")))
    if r.confusion["expected"]:
        plots.append(("confusion.svg", "expected vs decided action", heatmap(
            r.confusion["expected"], r.confusion["actual"], r.confusion["matrix"],
            "expected vs decided", "decided action", "expected action")))
    for cat in r.categories:
        plots.append((f"sweep_{_slug(cat)}.svg", f"{cat}: FPR and FNR against the threshold",
                      plot_sweep(r, cat)))
    try:
        for name, _, svg in plots:
            (folder / name).write_text(svg, encoding="utf-8", errors=LONE_SURROGATE)
    except OSError as exc:
        raise ReportError(f"cannot write plots into {folder}: {exc.strerror or exc}") from None
    images = [(name, caption) for name, caption, _ in plots]

    p = r.policy
    parts = [f"<h1>policyc eval: {html.escape(p['name'])} {html.escape(p['version'])}</h1>",
             f"<p>policy hash <code>{html.escape(p['hash'])}</code>; data "
             f"<code>{html.escape(r.data)}</code>: {len(r.outcomes)} events "
             f"({r.rates['benign']} benign, {r.rates['harmful']} harmful), "
             f"{len(r.skipped)} skipped.</p>"]
    for note in r.notes:
        parts.append(f"<p class=note>{html.escape(note)}</p>")
    if r.gates:
        rows = [[f"{g.metric} {g.op} {g.value:g}",
                 "undefined" if g.actual is None else f"{g.actual:.4g}",
                 "pass" if g.passed else "FAIL"] for g in r.gates]
        parts += ["<h2>Gates</h2>", _table(["gate", "actual", "result"], rows)]
    parts += ["<h2>Rates (count/events, 95% Wilson interval)</h2>",
              _table(["metric", "value"], [
                  *([label, fmt_rate(r.rate_ci.get(name))] for name, label in RATE_LABELS),
                  ["latency p50 / p95 / p99 (ms)",
                   f"{fmt(r.latency['p50'])} / {fmt(r.latency['p95'])} / "
                   f"{fmt(r.latency['p99'])} ({len(r.outcomes)} events)"]])]
    if r.per_category:
        rows = []
        for cat, v in r.per_category.items():
            rows.append([cat, threshold_text(v), str(v["positives"]), str(v["negatives"]),
                         str(v["tp"]), str(v["fp"]), str(v["fn"]), str(v["tn"]),
                         fmt(v["precision"]), fmt(v["recall"]), fmt(v["fpr"]), fmt(v["fnr"])])
        parts += ["<h2>Per category</h2>", _table(
            ["category", "threshold", "pos", "neg", "TP", "FP", "FN", "TN", "precision",
             "recall", "FPR", "FNR"], rows)]
        rows = [[cat, *(fmt_rate(r.rate_ci.get(f"{fam}.{cat}"))
                        for fam in ("precision", "recall", "fpr", "fnr"))]
                for cat in r.per_category]
        parts += ["<h3>Per category rates (count/events, 95% Wilson interval)</h3>",
                  _table(["category", "precision", "recall", "FPR", "FNR"], rows)]
    if r.sweep:
        rows = []
        for cat, s in r.sweep.items():
            rec = "–" if s.get("threshold") is None else f"{s['threshold']:.4f}"
            rows.append([cat, threshold_text(r.per_category[cat]), rec,
                         fmt(s.get("fpr")), fmt(s.get("fnr")), str(s["positives"]),
                         str(s["negatives"]), s.get("reason", "")])
        parts += [f"<h2>Recommended thresholds (FPR &lt;= {r.target_fpr:g})</h2>", _table(
            ["category", "current", "recommended", "FPR", "FNR", "pos", "neg", "note"], rows)]
    if r.confusion["expected"]:
        rows = [[row, *map(str, vals)] for row, vals in
                zip(r.confusion["expected"], r.confusion["matrix"], strict=True)]
        parts += ["<h2>Expected vs decided</h2>",
                  _table(["expected \\ decided", *r.confusion["actual"]], rows)]
    if r.groups:
        rows = []
        for g in r.groups:
            n = g.get("refused", g.get("passed"))
            rows.append([str(g["label"] or "–"), str(g["group"]), str(g["events"]),
                         "–" if n is None else str(n), group_rate_text(g)])
        parts += ["<h2>Groups</h2>", _table(
            ["label", "group", "events", "refused (benign) / passed (harmful)", "rate"], rows)]
    for title, name, values in report_slices(r):
        rows = [[value, str(row["events"]), str(row["benign"]), str(row["harmful"]),
                 *(fmt_rate(row[m]) for m, _ in SLICE_LABELS)] for value, row in values.items()]
        parts += [f"<h2>{html.escape(title)} (count/events, 95% Wilson interval)</h2>",
                  _table([name, "events", "benign", "harmful",
                          *(lab for _, lab in SLICE_LABELS)], rows)]
    parts.append("<h2>Plots</h2>")
    for name, caption in images:
        parts.append(f'<figure><img src="{html.escape(name)}" alt="{html.escape(caption)}">'
                     f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    style = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}"
             "table{border-collapse:collapse;margin:0.5em 0}"
             "td,th{border:1px solid #ccc;padding:0.2em 0.6em;text-align:right}"
             "td:first-child,th:first-child{text-align:left}"
             "figure{display:inline-block;margin:0.5em}.note{color:#a60}")
    doc = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
           f"<title>policyc eval: {html.escape(p['name'])}</title><style>{style}</style>"
           "</head><body>\n" + "\n".join(parts) + "\n</body></html>\n")
    index = folder / "index.html"
    try:
        index.write_text(doc, encoding="utf-8", errors=LONE_SURROGATE)
    except OSError as exc:
        raise ReportError(f"cannot write {index}: {exc.strerror or exc}") from None
    return index
