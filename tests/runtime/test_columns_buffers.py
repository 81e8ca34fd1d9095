"""The buffer readers and builders of `runtime.columns` (they stand in for `to_numpy` and
`pa.array`, which import pandas): the same values as pyarrow's own, sliced arrays too,
and no pandas import on the whole Parquet path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from policyc.runtime.columns import bits_of, null_mask, numpy_of, string_lists, strings

TYPES = [pa.int8(), pa.int32(), pa.int64(), pa.uint16(), pa.float32(), pa.float64()]


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.integers(0, 100)), max_size=40),
       t=st.sampled_from(TYPES), cut=st.tuples(st.integers(0, 40), st.integers(0, 40)))
def test_numbers_and_nulls_as_pyarrow_reads_them(values: list[int | None], t: pa.DataType,
                                                 cut: tuple[int, int]) -> None:
    arr = pa.array(values, type=t).slice(min(cut), abs(cut[1] - cut[0]))
    want = arr.to_pylist()
    null = null_mask(arr)
    assert null.tolist() == [v is None for v in want]
    got = numpy_of(arr)
    assert [None if n else x for n, x in zip(null.tolist(), got.tolist(), strict=True)] == want


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.booleans()), max_size=40),
       cut=st.tuples(st.integers(0, 40), st.integers(0, 40)))
def test_booleans(values: list[bool | None], cut: tuple[int, int]) -> None:
    arr = pa.array(values, type=pa.bool_()).slice(min(cut), abs(cut[1] - cut[0]))
    null, got = null_mask(arr), bits_of(arr)
    assert [None if n else bool(x) for n, x in zip(null.tolist(), got.tolist(), strict=True)] \
        == arr.to_pylist()


@given(values=st.lists(st.one_of(st.none(), st.text(max_size=5)), max_size=20),
       lists=st.lists(st.lists(st.text(max_size=3), max_size=3), max_size=10))
def test_string_builders(values: list[str | None], lists: list[list[str]]) -> None:
    assert strings(values).to_pylist() == values
    assert string_lists(lists).to_pylist() == lists
    assert np.array_equal(null_mask(strings(values)), [v is None for v in values])


def test_parquet_path_does_not_import_pandas(tmp_path: Path) -> None:
    code = f"""
import sys
from pathlib import Path
from policyc.commands.inputs import load_target
from policyc.runtime.columns import ParquetOut, decide_parquet
p = Path({str(tmp_path)!r})
(p / "p.pol").write_text('''policy t.p version "1" {{
  owner "o"
  context aud: enum {{ x, y }}
  context pro: bool
  categories {{ d }}
  resolve most-restrictive
  default allow
  rule r1: refuse when d and aud == x and pro
}}''')
decide_parquet(load_target(p / "p.pol", []), p / "e.parquet", ParquetOut(str(p / "o.parquet")),
               None, print)
print("pandas" in sys.modules)
"""
    pq.write_table(pa.Table.from_arrays(
        [pa.array(["x", None, "y"]), pa.array([True, None, False]), pa.array([0.7, None, 0.1]),
         pa.array([1, 2, 3])], names=["context.aud", "context.pro", "scores.d", "id"]),
        tmp_path / "e.parquet")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"
