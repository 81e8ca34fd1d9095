"""The operating point of a trained classifier, shared by the model builds.

Both `tools/build_default_classifier.py` and `tools/build_minilm.py` pick their
per-category thresholds the same way: on out-of-fold scores of the TRAIN side
(never the test split), the largest benign quantile whose any-category flag rate
on the train-side benign rows stays within a budget.  Interval estimates come
from the runtime's own `policyc.evaluate.metrics.wilson`, so a build and
`policyc eval` report the same interval for the same counts.
"""

from __future__ import annotations

import numpy as np

from policyc.evaluate.metrics import wilson

__all__ = ["choose_thresholds", "rate", "wilson"]


def choose_thresholds(oof: np.ndarray, benign: np.ndarray, budget: float) -> np.ndarray:
    """Per-head thresholds from out-of-fold scores ``oof [n, L]``: the same quantile of
    the ``benign`` rows' scores for every head, the largest one whose any-head flag rate
    on those rows is at most ``budget`` (bisection over the quantile); rounded to 1e-6
    and kept inside (0, 1)."""
    b = oof[benign]
    lo, hi = 0.0, budget
    best = b.max(axis=0) + 1e-6
    for _ in range(40):
        mid = (lo + hi) / 2
        th = np.quantile(b, 1.0 - mid, axis=0, method="higher") + 1e-7
        if np.mean((b >= th).any(axis=1)) <= budget:
            lo, best = mid, th
        else:
            hi = mid
    return np.clip(np.round(best, 6), 1e-6, 1 - 1e-6)


def rate(k: int, n: int) -> dict:
    """``{"k", "n", "rate", "wilson95"}`` of ``k`` events in ``n`` (interval [0, 1] at n = 0)."""
    lo, hi = wilson(k, n) or (0.0, 1.0)
    return {"k": k, "n": n, "rate": k / n if n else 0.0, "wilson95": [lo, hi]}


def greedy_thresholds(oof: np.ndarray, benign: np.ndarray, harmful: np.ndarray,
                      budget: float, lookahead: int = 8,
                      heads: np.ndarray | None = None) -> np.ndarray:
    """Per-head thresholds that catch as many ``harmful`` rows as a benign budget allows.

    Starts with every head flagging nothing; each step lowers the one head whose next
    move (down to one of its next ``lookahead`` uncaught harmful scores) catches the
    most harmful rows per benign row newly flagged (any head), while the any-head flag
    rate on the ``benign`` rows stays at most ``budget``.  ``heads [n, L]`` (bool)
    says which heads may catch a row (its own categories' heads; default: any head),
    so every category keeps a head that fires on it.  Unlike
    :func:`choose_thresholds`' shared quantile, a head that separates well (few benign
    rows near its harmful ones) gets a lower threshold than one that does not.  Only
    out-of-fold TRAIN scores should be given; ties break by head order, so the result
    is deterministic.
    """
    n_heads = oof.shape[1]
    may = np.ones_like(oof, dtype=bool) if heads is None else heads.astype(bool)
    th = oof.max(axis=0) + 1e-6
    flagged = np.zeros(len(oof), dtype=bool)  # any head
    caught = np.zeros(len(oof), dtype=bool)  # by a head that may catch it
    limit = int(np.floor(budget * int(benign.sum()) + 1e-9))
    used = 0
    # Each head's rows in falling score order; ``top[j]`` rows of it score >= th[j].
    # Lowering head j to t newly hits exactly the rows between ``top[j]`` and the last
    # row scoring >= t, so two running sums over the rows below th[j] price all of the
    # head's candidates at once, where a pass over every row per candidate did before
    # (equal results: a row above th[j] that head j may catch is caught already).
    order = [np.argsort(-oof[:, j], kind="stable") for j in range(n_heads)]
    falling = [oof[order[j], j] for j in range(n_heads)]
    top = [0] * n_heads
    while True:
        best: tuple[float, int, int, int] | None = None  # (ratio, caught, head, end)
        for j in range(n_heads):
            rows = order[j][top[j]:]
            s = falling[j][top[j]:]
            open_rows = harmful[rows] & ~caught[rows] & may[rows, j]
            cand = np.unique(s[open_rows])[::-1][:lookahead]
            fresh_b = np.cumsum(benign[rows] & ~flagged[rows])
            gains = np.cumsum(open_rows)
            rising = -s  # ascending, for searchsorted
            for t in cand:
                end_ = int(np.searchsorted(rising, -t, side="right"))  # rows scoring >= t
                new_b = int(fresh_b[end_ - 1])
                if used + new_b > limit:
                    break
                gain = int(gains[end_ - 1])
                ratio = gain / (new_b + 0.5)
                if best is None or (ratio, gain) > (best[0], best[1]):
                    best = (ratio, gain, j, top[j] + end_)
        if best is None:
            break
        _, _, j, end_ = best
        hit = order[j][top[j]:end_]
        th[j] = falling[j][end_ - 1]
        top[j] = end_
        used += int((benign[hit] & ~flagged[hit]).sum())
        flagged[hit] = True
        caught[hit[may[hit, j]]] = True
    return np.clip(np.floor(th * 1e6) / 1e6, 1e-6, 1 - 1e-6)
