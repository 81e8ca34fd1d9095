"""The property of issue 15: for random policies and random event files with bad rows
mixed in, the per-event `check`, the streaming engine on JSON Lines, the engine on
Parquet (JSON Lines out and Parquet out) and `--engine ray` (a local cluster, 2 CPUs,
loopback) give identical decisions and identical error reports.

Ray reports a bad row by its id (a block does not know its row number): the ids here are
the row numbers, so its reports compare one for one. Lines that only JSON can carry
(broken JSON, duplicate keys, …) are `test_check_input_engine.py`'s.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from semantics.test_decision_map_property import policies

from policyc.commands.inputs import load_target
from policyc.commands.replay import target_bytes
from policyc.runtime.checker import InvalidEvent
from policyc.runtime.columns import ParquetOut, decide_parquet
from policyc.runtime.jsonl import dumps_line
from policyc.runtime.stream import decide_jsonl

COLUMNS: dict[str, tuple[pa.DataType, Any]] = {
    "context.aud": (pa.string(), st.sampled_from(["x", "y", "z", "w", None])),
    "context.pro": (pa.bool_(), st.sampled_from([True, False, None])),
    "context.age": (pa.float64(), st.one_of(st.sampled_from([3.0, 18.0, 20.5, -1.0, None]),
                                            st.floats(-50, 50))),
    "scores.c.a": (pa.float64(), st.sampled_from([0.0, 0.2, 0.5, 0.7, 1.0, 1.5, None])),
    "scores.c.b": (pa.float64(), st.one_of(st.sampled_from([0.5, -0.1, None]), st.floats(0, 1))),
    "scores.d": (pa.float64(), st.sampled_from([0.0, 0.49, 0.5, 0.9, None])),
}
rows = st.lists(st.fixed_dictionaries({k: s for k, (_, s) in COLUMNS.items()}), max_size=30)


def _event(k: int, row: dict[str, Any]) -> dict[str, Any]:
    ev: dict[str, Any] = {"id": k, "context": {}, "scores": {}}
    for name in COLUMNS:  # column order: the order `scores` is written in
        v = row[name]
        if v is not None:
            head, _, rest = name.partition(".")
            ev[head][rest] = v
    return ev


def _files(tmp: Path, data: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Path, Path]:
    events = [_event(k, r) for k, r in enumerate(data, 1)]
    jl, pqf = tmp / "e.jsonl", tmp / "e.parquet"
    jl.write_text("".join(json.dumps(e) + "\n" for e in events))
    pq.write_table(pa.table({"id": pa.array(range(1, len(data) + 1), type=pa.int64()),
                             **{k: pa.array([r[k] for r in data], type=t)
                                for k, (t, _) in COLUMNS.items()}}), pqf)
    return events, jl, pqf


def _reference(checker: Any, events: list[dict[str, Any]]
               ) -> tuple[bytes, list[tuple[int, str]], list[Any]]:
    out, bad, decisions = [], [], []
    for e in events:
        try:
            d = checker.check(context=e["context"], scores=e["scores"])
        except InvalidEvent as exc:
            bad.append((e["id"], str(exc)))
            continue
        out.append(dumps_line({"id": e["id"], **d.to_dict()}))
        decisions.append(d)
    return b"".join(out), bad, decisions


_checkers: dict[str, Any] = {}


def _checker(policy: str, tmp: Path) -> tuple[Any, Path]:
    p = tmp / "p.pol"
    p.write_text(policy)
    if policy not in _checkers:
        _checkers[policy] = load_target(p, [])
    return _checkers[policy], p


def _local(checker: Any, events: list[dict[str, Any]], jl: Path, pqf: Path, tmp: Path
           ) -> tuple[list[tuple[int, str]], list[Any]]:
    want_out, want_bad, decisions = _reference(checker, events)
    got: list[tuple[int, str]] = []
    out = io.BytesIO()
    with jl.open("rb") as fh:
        decide_jsonl(checker, fh, out, None, lambda b: got.append((b.number, b.message)))
    assert (out.getvalue(), got) == (want_out, want_bad)
    got, out = [], io.BytesIO()
    decide_parquet(checker, pqf, out, None, lambda b: got.append((b.number, b.message)), rows=7)
    assert (out.getvalue(), got) == (want_out, want_bad)
    got = []
    decide_parquet(checker, pqf, ParquetOut(str(tmp / "o.parquet")), None,
                   lambda b: got.append((b.number, b.message)), rows=7)
    assert got == want_bad
    table = pq.read_table(tmp / "o.parquet").to_pylist()
    assert [(t["id"], t["action"], t["argument"], t["rule"], t["matched"], t["errors"])
            for t in table] == \
        [(json.loads(line)["id"], d.action, d.argument, d.rule, list(d.matched), list(d.errors))
         for line, d in zip(want_out.splitlines(), decisions, strict=True)]
    return want_bad, decisions


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(policy=policies(), data=rows)
def test_check_jsonl_and_parquet_agree(tmp_path_factory: Any, policy: str,
                                       data: list[dict[str, Any]]) -> None:
    tmp = tmp_path_factory.mktemp("e")
    checker, _ = _checker(policy, tmp)
    events, jl, pqf = _files(tmp, data)
    _local(checker, events, jl, pqf, tmp)


@pytest.fixture(scope="module")
def ray_local() -> Any:
    pytest.importorskip("ray", reason="`pip install 'policyc[ray]'`")
    saved = {k: os.environ.pop(k, None) for k in ("RAY_ADDRESS",)}
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    os.environ["POLICYC_RAY_CPUS"] = "2"
    from policyc.runtime.ray_engine import init_ray

    ray = init_ray()
    yield ray
    ray.shutdown()
    for k, v in saved.items():
        if v is not None:
            os.environ[k] = v


@pytest.mark.slow
@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(policy=policies(), data=rows.filter(lambda r: len(r) > 0))
def test_ray_agrees_with_the_local_engine(ray_local: Any, tmp_path_factory: Any, policy: str,
                                          data: list[dict[str, Any]]) -> None:
    from policyc.runtime.ray_engine import replay_ray

    tmp = tmp_path_factory.mktemp("r")
    checker, pol = _checker(policy, tmp)
    events, jl, pqf = _files(tmp, data)
    want_bad, decisions = _local(checker, events, jl, pqf, tmp)
    got: list[str] = []
    counts = replay_ray(pqf, target_bytes(pol, []), None, lambda b: got.append(b.message))
    assert sorted(got) == sorted(f"id {k}: {msg}" for k, msg in want_bad)
    want = Counter(d.action if d.argument is None else f'{d.action}("{d.argument}")'
                   for d in decisions)
    assert counts.actions == want
    assert (counts.rows, counts.skipped) == (len(data), len(want_bad))
    assert not any(math.isnan(r["context.age"] or 0) for r in data)
