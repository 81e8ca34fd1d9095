"""A text's scores do not depend on the batch it is scored in (issue 14, step 1).

`policyc check --input` scores texts with `Bindings.scores_batch`, `policyc serve`
one at a time with `Bindings.scores`: the same text must get the same score, bit
for bit, or a decision at a threshold could differ between the two.  The default
classifier sums its weights in float64 (exact for float32 values in any order), so
equality here is `==`, not a tolerance.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policyc.compile.pipeline import compile_file
from policyc.runtime import Bundle
from tools.datasets import team_prompts

REPO = Path(__file__).resolve().parents[2]
GUARD = REPO / "examples" / "eval" / "default_guard.pol"
TEAM_DIR = REPO / "examples" / "data" / "team"
TEXTS = sorted({r.text for r in team_prompts(TEAM_DIR)})


@pytest.fixture(scope="module")
def bindings():
    state = compile_file(GUARD)
    assert state.bundle is not None, [d.message for d in state.diagnostics]
    return Bundle.from_bytes(state.bundle).bindings


@pytest.fixture(scope="module")
def single(bindings):
    """Every team text scored alone (`policyc serve`'s path), once."""
    out = {}
    for text in TEXTS:
        scores, failures = bindings.scores(text)
        assert not failures
        out[text] = scores
    return out


def _mismatches(bindings, single, batch: list[str]) -> list[tuple[str, str, float, float]]:
    got = bindings.scores_batch(batch)
    bad = []
    for i, text in enumerate(batch):
        alone = single[text]
        assert set(alone) <= set(got)
        for category, value in alone.items():
            if float(got[category][i]) != value:
                bad.append((text, category, float(got[category][i]), value))
    return bad


def test_whole_team_set_in_one_batch_equals_one_at_a_time(bindings, single):
    assert len(TEXTS) > 1000
    bad = _mismatches(bindings, single, TEXTS)
    assert not bad, f"{len(bad)} scores differ, e.g. {bad[:3]}"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(st.sampled_from(TEXTS), min_size=1, max_size=300).flatmap(st.permutations))
def test_any_subset_in_any_order_scores_as_alone(batch, bindings, single):
    bad = _mismatches(bindings, single, batch)
    assert not bad, f"{len(bad)} scores differ, e.g. {bad[:3]}"
