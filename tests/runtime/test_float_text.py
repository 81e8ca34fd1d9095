"""`small_float_reprs` writes what `repr` writes, byte for byte, for every float below
1e-4: both of orjson's layouts (``0.0000ddd`` and ``de-N``), one and many digits,
one- to three-digit exponents, subnormals, float32 model outputs."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from policyc.runtime.float_text import small_float_reprs

_SMALL = st.floats(min_value=5e-324, max_value=1e-4, exclude_max=True)


def test_edges_of_both_layouts():
    values = [1e-5, 5e-5, 3.0000001e-05, 9.999999999999999e-05, 9.99999e-5, 1e-6, 5e-6,
              9.9e-6, 1.2345678901234e-6, 1e-9, 1e-10, 1.5e-10, 1e-17, 1e-99, 1e-100,
              1e-300, 2.2250738585072014e-308, 5e-324, float(np.float32(3.1e-5))]
    assert small_float_reprs(np.array(values)) == [repr(v).encode() for v in values]


def test_empty():
    assert small_float_reprs(np.array([], dtype=np.float64)) == []


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_SMALL, _SMALL.map(lambda v: float(np.float32(v))).filter(
    lambda v: 0 < v < 1e-4)), min_size=1, max_size=50))
def test_same_as_repr(values):
    assert small_float_reprs(np.array(values)) == [repr(v).encode() for v in values]
