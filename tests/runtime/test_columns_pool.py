"""Parquet runs use jemalloc, not pyarrow's default mimalloc, whose retained memory made
the peak of `check --input` Parquet grow with the file (148 MB at 1 M rows, 177 MB at
10 M; jemalloc: 123 / 130 MB, benchmarks/batch.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

_PROBE = ("import policyc.runtime.columns, pyarrow as pa; "
          "print(pa.default_memory_pool().backend_name)")


def _backend(**env: str) -> str:
    base = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    return subprocess.run([sys.executable, "-c", _PROBE], env={**base, **env},
                          capture_output=True, text=True, check=True, timeout=60).stdout.strip()


@pytest.mark.skipif(sys.platform != "linux", reason="the choice is made on Linux only")
def test_columns_choose_jemalloc() -> None:
    assert _backend() == "jemalloc"


def test_the_users_choice_stands() -> None:
    assert _backend(ARROW_DEFAULT_MEMORY_POOL="system") == "system"
