"""`policyc eval --report DIR`: PNG plots and an `index.html` that embeds them.

Plots (matplotlib, imported only here, with the non-interactive Agg backend):

- `sweep_<category>.png`: FPR and FNR of the category against its threshold
  (0 to 1 in steps of 0.01), with the policy's threshold (and the recommended one
  when `--sweep` was given) marked;
- `confusion.png`: expected vs decided actions; `labels.png`: label vs decided action.

`index.html` is one self-contained page (inline CSS, relative `img` paths) with the
same tables as the terminal output.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from policyc.evaluate import metrics as M

if TYPE_CHECKING:
    from policyc.evaluate.command import EvalResult

GRID = [i / 100 for i in range(101)]


class ReportError(Exception):
    def __init__(self, message: str, help: str | None = None):
        super().__init__(message)
        self.help = help


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ReportError("`--report` needs matplotlib",
                          "pip install 'policyc[report]' (or pip install matplotlib)") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    # fixed metadata: the same result gives the same bytes
    fig.savefig(path, dpi=100, metadata={"Software": None})


def plot_sweep(plt: Any, r: EvalResult, cat: str, path: Path) -> None:
    scores, positive = r.category_scores(cat)
    fpr, fnr = M.sweep_curve(scores, positive, GRID)
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    if any(v is not None for v in fpr):
        ax.plot(GRID, [float("nan") if v is None else v for v in fpr], label="FPR",
                color="#d62728")
    if any(v is not None for v in fnr):
        ax.plot(GRID, [float("nan") if v is None else v for v in fnr], label="FNR",
                color="#1f77b4")
    current = r.per_category[cat]["threshold"]
    if current is not None:
        ax.axvline(current, color="black", linestyle="--", linewidth=1,
                   label=f"policy threshold {current:g}")
    rec = (r.sweep or {}).get(cat, {}).get("threshold")
    if rec is not None:
        ax.axvline(rec, color="#2ca02c", linestyle=":", linewidth=1.5,
                   label=f"recommended {rec:.3g} (FPR <= {r.target_fpr:g})")
    v = r.per_category[cat]
    ax.set_title(f"{cat}: {v['positives']} positive, {v['negatives']} negative events",
                 fontsize=10)
    ax.set_xlabel("threshold (fires at score >= threshold)")
    ax.set_ylabel("rate")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center right")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def plot_matrix(plt: Any, rows: list[str], cols: list[str], matrix: list[list[int]],
                title: str, ylabel: str, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(1.1 * len(cols) + 2, 0.6 * len(rows) + 1.8))
    ax.imshow(matrix, cmap="Blues", aspect="auto")
    ax.set_xticks(range(len(cols)), labels=cols, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), labels=rows)
    peak = max((v for row in matrix for v in row), default=0)
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            ax.text(j, i, str(v), ha="center", va="center",
                    color="white" if peak and v > peak / 2 else "black", fontsize=9)
    ax.set_xlabel("decided action")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_report(r: EvalResult, folder: Path) -> Path:
    """Write the plots and `index.html` into `folder`; returns the index path."""
    from policyc.evaluate.command import fmt, threshold_text

    plt = _pyplot()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"cannot create {folder}: {exc.strerror or exc}") from None
    images: list[tuple[str, str]] = []  # (file, caption)
    try:
        for cat in r.categories:
            name = f"sweep_{_slug(cat)}.png"
            plot_sweep(plt, r, cat, folder / name)
            images.append((name, f"{cat}: FPR and FNR against the threshold"))
        if r.confusion["expected"]:
            plot_matrix(plt, r.confusion["expected"], r.confusion["actual"],
                        r.confusion["matrix"], "expected vs decided", "expected action",
                        folder / "confusion.png")
            images.insert(0, ("confusion.png", "expected vs decided action"))
        if r.label_actions:
            labels = list(r.label_actions)
            plot_matrix(plt, labels, list(M.ACTIONS),
                        [[r.label_actions[lab][a] for a in M.ACTIONS] for lab in labels],
                        "label vs decided", "label", folder / "labels.png")
            images.insert(0, ("labels.png", "label vs decided action"))
    except OSError as exc:
        raise ReportError(f"cannot write plots into {folder}: {exc.strerror or exc}") from None

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
    rt, m = r.rates, r.metrics
    parts += ["<h2>Rates</h2>", _table(["metric", "value", "events"], [
        ["benign refusal rate (refuse/escalate)", fmt(m["benign_refusal_rate"], True),
         f"{rt['benign_refused']}/{rt['benign']}"],
        ["benign redirect rate", fmt(m["benign_redirect_rate"], True),
         f"{rt['benign_redirected']}/{rt['benign']}"],
        ["harmful pass rate (allow/warn)", fmt(m["harmful_pass_rate"], True),
         f"{rt['harmful_passed']}/{rt['harmful']}"],
        ["harmful block rate (refuse/escalate)", fmt(m["harmful_block_rate"], True),
         f"{rt['harmful_blocked']}/{rt['harmful']}"],
        ["expected decision matched", fmt(m["accuracy"], True),
         f"{rt['matched_expect']}/{rt['with_expect']}"],
        ["latency p50 / p95 / p99 (ms)",
         f"{fmt(r.latency['p50'])} / {fmt(r.latency['p95'])} / {fmt(r.latency['p99'])}",
         str(len(r.outcomes))]])]
    if r.per_category:
        rows = []
        for cat, v in r.per_category.items():
            rows.append([cat, threshold_text(v), str(v["positives"]), str(v["negatives"]),
                         str(v["tp"]), str(v["fp"]), str(v["fn"]), str(v["tn"]),
                         fmt(v["precision"]), fmt(v["recall"]), fmt(v["fpr"]), fmt(v["fnr"])])
        parts += ["<h2>Per category</h2>", _table(
            ["category", "threshold", "pos", "neg", "TP", "FP", "FN", "TN", "precision",
             "recall", "FPR", "FNR"], rows)]
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
            rate = g.get("refusal_rate", g.get("pass_rate"))
            rows.append([str(g["label"] or "–"), str(g["group"]), str(g["events"]),
                         "–" if n is None else str(n), fmt(rate, True)])
        parts += ["<h2>Groups</h2>", _table(
            ["label", "group", "events", "refused (benign) / passed (harmful)", "rate"], rows)]
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
        index.write_text(doc, encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot write {index}: {exc.strerror or exc}") from None
    return index
