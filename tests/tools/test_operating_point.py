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
