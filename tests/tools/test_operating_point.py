"""The shared operating point of the model builds (`tools/operating_point.py`).

Both builds import the one threshold search; the greedy search keeps the benign
budget and catches at least as much as the shared quantile on the same scores.
"""

from __future__ import annotations

import numpy as np
import pytest

from tools import build_default_classifier, build_minilm, operating_point


def test_both_builds_use_the_one_threshold_search():
    assert build_minilm.choose_thresholds is operating_point.choose_thresholds
    oof = np.random.default_rng(0).random((50, 3))
    benign = np.arange(50) % 2 == 0
    assert np.array_equal(build_default_classifier.choose_thresholds(oof, benign, 0.1),
                          operating_point.choose_thresholds(oof, benign, 0.1))
    assert not hasattr(build_default_classifier, "wilson")  # one Wilson: policyc's


def _scores(seed: int = 1):
    rng = np.random.default_rng(seed)
    n = 400
    harmful = np.arange(n) < 200
    oof = rng.random((n, 4)) * 0.5
    # head 0 separates well, head 3 badly
    oof[harmful, 0] += rng.random(200) * 0.5 * (rng.random(200) < 0.5)
    oof[harmful, 3] += 0.1
    return oof, ~harmful, harmful


@pytest.mark.parametrize("budget", [0.0, 0.02, 0.05, 0.2])
def test_greedy_keeps_the_budget_and_beats_the_quantile(budget):
    oof, benign, harmful = _scores()
    th = operating_point.greedy_thresholds(oof, benign, harmful, budget)
    flagged = (oof >= th).any(axis=1)
    assert flagged[benign].mean() <= budget + 1e-12
    q = operating_point.choose_thresholds(oof, benign, budget)
    assert flagged[harmful].sum() >= (oof >= q).any(axis=1)[harmful].sum()
    assert np.array_equal(th, operating_point.greedy_thresholds(oof, benign, harmful, budget))


def test_greedy_flags_nothing_without_budget_on_overlapping_scores():
    oof = np.array([[0.9], [0.9], [0.1]])
    th = operating_point.greedy_thresholds(oof, np.array([True, False, False]),
                                           np.array([False, True, True]), 0.0)
    assert th[0] > 0.9


def test_rate_has_policyc_wilson_interval():
    from policyc.evaluate.metrics import wilson

    r = operating_point.rate(3, 10)
    assert r["k"] == 3 and r["n"] == 10 and r["rate"] == 0.3
    assert tuple(r["wilson95"]) == wilson(3, 10)
    assert operating_point.rate(0, 0)["wilson95"] == [0.0, 1.0]


def test_greedy_catches_a_row_only_by_its_own_heads():
    oof = np.array([[0.9, 0.6], [0.9, 0.7], [0.1, 0.1], [0.1, 0.2]])
    harmful = np.array([True, True, False, False])
    own = np.array([[False, True], [False, True], [False, False], [False, False]])
    th = operating_point.greedy_thresholds(oof, ~harmful, harmful, 0.0, heads=own)
    assert th[0] > 0.9  # head 0 separates them, but they are not its category
    assert th[1] <= 0.6
    free = operating_point.greedy_thresholds(oof, ~harmful, harmful, 0.0)
    assert free[0] <= 0.9


def _greedy_by_passes(oof, benign, harmful, budget, lookahead=8, heads=None):
    """The search as first written (model 3.1.0): every candidate tested by a pass over
    all rows; the shipped one walks sorted slices and must choose the same thresholds."""
    n_heads = oof.shape[1]
    may = np.ones_like(oof, dtype=bool) if heads is None else heads.astype(bool)
    th = oof.max(axis=0) + 1e-6
    flagged = np.zeros(len(oof), dtype=bool)
    caught = np.zeros(len(oof), dtype=bool)
    limit = int(np.floor(budget * int(benign.sum()) + 1e-9))
    used = 0
    while True:
        best = None
        for j in range(n_heads):
            s = oof[:, j]
            open_rows = harmful & ~caught & may[:, j]
            for t in np.unique(s[open_rows & (s < th[j])])[::-1][:lookahead]:
                hit = s >= t
                new_b = int((hit & ~flagged & benign).sum())
                if used + new_b > limit:
                    break
                gain = int((hit & open_rows).sum())
                ratio = gain / (new_b + 0.5)
                if best is None or (ratio, gain) > (best[0], best[1]):
                    best = (ratio, gain, j, float(t))
        if best is None:
            break
        _, _, j, t = best
        th[j] = t
        hit = oof[:, j] >= t
        used += int((hit & ~flagged & benign).sum())
        flagged |= hit
        caught |= hit & may[:, j]
    return np.clip(np.floor(th * 1e6) / 1e6, 1e-6, 1 - 1e-6)


@pytest.mark.parametrize("seed", range(12))
def test_greedy_equals_the_search_by_passes(seed):
    rng = np.random.default_rng(seed)
    n, n_heads = int(rng.integers(20, 300)), int(rng.integers(1, 6))
    # coarse scores: many ties, within a head and across heads
    oof = np.round(rng.random((n, n_heads)), int(rng.integers(1, 3)))
    harmful = rng.random(n) < 0.5
    benign = ~harmful & (rng.random(n) < 0.8)  # some rows are neither
    oof[harmful] = np.minimum(1.0, oof[harmful] + rng.random(n_heads) * 0.3)
    heads = None if seed % 2 else rng.random((n, n_heads)) < 0.6
    budget = float(rng.choice([0.0, 0.03, 0.1, 0.3]))
    assert np.array_equal(
        operating_point.greedy_thresholds(oof, benign, harmful, budget, heads=heads),
        _greedy_by_passes(oof, benign, harmful, budget, heads=heads))
