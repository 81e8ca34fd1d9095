"""The `scores` text of text events, formatted a column at a time (`Engine.score_pieces`),
must be byte for byte what `check` writes: `json.dumps` of the nonzero scores."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from policyc.runtime.stream import Engine

_VALUES = st.one_of(st.just(0.0), st.just(-0.0), st.floats(0, 1),
                    st.floats(0, 1e-4), st.floats(0, 1, width=32),
                    st.sampled_from([1e-5, 5e-5, 1e-7, 1e-17, 9.99999e-5, 1.0, 0.5]))


def _engine() -> Engine:
    e = object.__new__(Engine)  # only the quoted names are used
    e.quoted = {"a": '"a"', "b.c": '"b.c"', "d": '"d"'}
    return e


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_VALUES, _VALUES, _VALUES), min_size=1, max_size=30),
       st.booleans())
def test_score_texts_are_json_dumps_of_the_nonzero_scores(rows, f32):
    names = ["a", "b.c", "d"]
    dtype = np.float32 if f32 else np.float64
    columns = [(nm, np.array([r[c] for r in rows], dtype=dtype)) for c, nm in enumerate(names)]
    got = _engine().score_texts(columns, len(rows))
    want = [json.dumps({nm: float(col[k]) for nm, col in columns if float(col[k])})
            for k in range(len(rows))]
    assert got == want


def test_columns_that_are_views_of_a_matrix():
    """A score column may be a strided view (a model's output matrix, column by column)."""
    mat = np.array([[0.5, 2e-5], [0.0, 0.25], [1e-7, 0.0]], dtype=np.float64)
    columns = [("a", mat[:, 0]), ("d", mat[:, 1])]
    got = _engine().score_texts(columns, 3)
    assert got == [json.dumps({"a": 0.5, "d": 2e-5}), json.dumps({"d": 0.25}),
                   json.dumps({"a": 1e-7})]
