"""Parquet in and out (`policyc.runtime.columns`): the same decisions and the same error
reports as the same events in JSON Lines, through the CLI."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from commands.test_check_input_engine import POLICY
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policyc.commands.check import decide_lines
from policyc.commands.inputs import load_target
from policyc.runtime.columns import ParquetOut, decide_parquet

COLUMNS = {"context.aud": (pa.string(), st.sampled_from(["x", "y", "z", "w"])),
           "context.pro": (pa.bool_(), st.booleans()),
           "context.age": (pa.float64(), st.sampled_from([3.0, 18.0, 20.5, -1.0])),
           "scores.c.a": (pa.float64(), st.sampled_from([0.0, 0.2, 0.5, 0.7, 1.0, 1.5])),
           "scores.d": (pa.float64(), st.sampled_from([0.0, 0.5, 0.9, -0.5])),
           "id": (pa.string(), st.text(max_size=4))}
row = st.fixed_dictionaries({}, optional={k: v for k, (_, v) in COLUMNS.items()})


def _event(r: dict[str, Any]) -> dict[str, Any]:
    ev: dict[str, Any] = {"context": {}, "scores": {}}
    if "id" in r:
        ev["id"] = r["id"]
    for k in COLUMNS:  # in column order (the order `scores` is written in)
        if k not in r:
            continue
        v = r[k]
        head, _, rest = k.partition(".")
        if head in ("context", "scores"):
            ev[head][rest] = v
    return ev


def _policyc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "policyc", *args], capture_output=True,
                          text=True, timeout=120)


def _write(tmp: Path, rows: list[dict[str, Any]]) -> tuple[Path, Path]:
    jl, pqf = tmp / "e.jsonl", tmp / "e.parquet"
    jl.write_text("".join(json.dumps(_event(r)) + "\n" for r in rows))
    pq.write_table(pa.table({k: pa.array([r.get(k) for r in rows], type=t)
                             for k, (t, _) in COLUMNS.items()}), pqf)
    return jl, pqf


_checker: list[Any] = []


def _run_jsonl(checker: Any, path: Path) -> tuple[bytes, list[tuple[int, str]]]:
    out, bad = io.BytesIO(), []
    with path.open("rb") as fh:
        decide_lines(checker, fh, out, None, lambda b: bad.append((b.number, b.message)))
    return out.getvalue(), bad


def _run_parquet(checker: Any, path: Path, sink: Any) -> list[tuple[int, str]]:
    bad: list[tuple[int, str]] = []
    decide_parquet(checker, path, sink, None, lambda b: bad.append((b.number, b.message)),
                   rows=7)
    return bad



def _the_checker(tmp: Path) -> Any:
    """The checker of `POLICY`, loaded once for the module."""
    if not _checker:
        pol = tmp / "p.pol"
        pol.write_text(POLICY)
        _checker.append(load_target(pol, []))
    return _checker[0]

@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(rows=st.lists(row, max_size=30))
def test_parquet_and_jsonl_decide_alike(tmp_path_factory: Any, rows: list[dict[str, Any]]) -> None:
    tmp = tmp_path_factory.mktemp("c")
    checker = _the_checker(tmp)
    jl, pqf = _write(tmp, rows)
    a_out, a_bad = _run_jsonl(checker, jl)
    b_out = io.BytesIO()
    b_bad = _run_parquet(checker, pqf, b_out)
    c_bad = _run_parquet(checker, pqf, ParquetOut(str(tmp / "o.parquet")))
    assert a_bad == b_bad == c_bad
    assert a_out == b_out.getvalue()
    got = pq.read_table(tmp / "o.parquet").to_pylist()
    want = [json.loads(line) for line in a_out.splitlines()]
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert (g["id"], g["action"], g["argument"], g["rule"], g["matched"]) == \
            (w["id"], w["action"], w["argument"], w["rule"], w["matched"])
        assert g["errors"] == w.get("errors", [])


def test_parquet_through_the_cli(tmp_path: Path) -> None:
    pol = tmp_path / "p.pol"
    pol.write_text(POLICY)
    rows = [{"id": "a", "context.aud": "x", "context.pro": True, "context.age": 20.0,
             "scores.c.a": 0.7}, {"id": "b", "context.aud": "w"}]
    jl, pqf = _write(tmp_path, rows)
    a = _policyc("check", str(pol), "--input", str(jl))
    b = _policyc("check", str(pol), "--input", str(pqf), "--output", str(tmp_path / "o.pq"))
    assert a.returncode == b.returncode == 1
    assert a.stderr.replace(str(jl), "F") == b.stderr.replace(str(pqf), "F")
    assert f"{pqf}:2: skipped: `aud` = \"w\" is not a declared value" in b.stderr
    got = pq.read_table(tmp_path / "o.pq").to_pylist()
    assert [(r["row"], r["id"], r["action"], r["rule"]) for r in got] == [(1, "a", "refuse", "r1")]


def test_unknown_column_is_a_usage_error(tmp_path: Path) -> None:
    pol = tmp_path / "p.pol"
    pol.write_text(POLICY)
    pq.write_table(pa.table({"contxt.aud": ["x"]}), tmp_path / "e.parquet")
    r = _policyc("check", str(pol), "--input", str(tmp_path / "e.parquet"))
    assert r.returncode == 2 and "unknown column `contxt.aud`" in r.stderr
    assert "Traceback" not in r.stderr


def test_jsonl_in_parquet_out(tmp_path: Path) -> None:
    """JSON Lines in, Parquet out: the decisions of the JSON Lines run as columns (ids as
    strings: numbers as their JSON text), bad lines reported alike."""
    pol = tmp_path / "p.pol"
    pol.write_text(POLICY)
    jl = tmp_path / "e.jsonl"
    jl.write_text('{"id": "a", "context": {"aud": "x", "pro": true, "age": 20}, '
                  '"scores": {"c.a": 0.7}}\n{bad\n{"id": 7, "context": {"aud": "y", '
                  '"pro": false, "age": 3}}\n{"context": {"aud": "y", "pro": false, '
                  '"age": 3}, "text": "hi"}\n')
    a = _policyc("check", str(pol), "--input", str(jl), "--output", str(tmp_path / "o.jsonl"))
    b = _policyc("check", str(pol), "--input", str(jl), "--output", str(tmp_path / "o.parquet"),
                 "--audit-log", str(tmp_path / "audit.jsonl"))
    assert a.returncode == b.returncode == 1
    assert a.stderr.replace("o.jsonl", "") == b.stderr.replace("o.parquet", "")
    want = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    got = pq.read_table(tmp_path / "o.parquet").to_pylist()
    assert [g["row"] for g in got] == [1, 3, 4]
    assert [g["id"] for g in got] == ["a", "7", None]
    assert [(g["action"], g["rule"], g["matched"]) for g in got] == \
        [(w["action"], w["rule"], w["matched"]) for w in want]
    assert len((tmp_path / "audit.jsonl").read_text().splitlines()) == 3


def test_text_rows_scored_together_as_in_jsonl(tmp_path: Path) -> None:
    """Text rows without given scores go through `scores_batch` on Parquet too (redaction
    by `check`): the same decision lines and reports as JSON Lines."""
    from commands.test_check_input_engine import TEXT_POLICY, TEXTS

    pol = tmp_path / "t.pol"
    pol.write_text(TEXT_POLICY)
    checker = load_target(pol, [])
    rows = [{"id": f"r{k}", "text": TEXTS[k % len(TEXTS)] if k % 5 else None,
             "context.aud": ["x", "y", "q", None][k % 4], "scores.d": 0.7 if k % 7 == 0 else None}
            for k in range(60)]
    jl, pqf = tmp_path / "e.jsonl", tmp_path / "e.parquet"
    lines = []
    for r in rows:
        ev: dict[str, Any] = {"id": r["id"], "context": {}}
        if r["text"] is not None:
            ev["text"] = r["text"]
        if r["context.aud"] is not None:
            ev["context"]["aud"] = r["context.aud"]
        if r["scores.d"] is not None:
            ev["scores"] = {"d": r["scores.d"]}
        lines.append(json.dumps(ev) + "\n")
    jl.write_text("".join(lines))
    pq.write_table(pa.table({k: [r[k] for r in rows] for k in rows[0]}), pqf)
    a_out, a_bad = _run_jsonl(checker, jl)
    b_out = io.BytesIO()
    b_bad = _run_parquet(checker, pqf, b_out)
    assert a_bad == b_bad
    assert a_out == b_out.getvalue()
    assert b'"redacted"' in a_out


_extra = st.sampled_from(['{bad', '{"context": {"aud": "y", "pro": false, "age": 3}, "text": "hi"}',
                          '{"id": 5, "scores": {"c.a": 1}}', '{"id": 2.5, "scores": {"d": 0.00005}}',
                          '[]', '{"scores": {"d": 0.3, "c.a": 0.25}, "id": null}'])


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(lines=st.lists(st.one_of(row.map(lambda r: json.dumps(_event(r))), _extra), max_size=25),
       chunk=st.sampled_from([64, 1 << 20]))
def test_jsonl_to_parquet_audit_decided_once(tmp_path_factory: Any, lines: list[str],
                                             chunk: int) -> None:
    """JSON Lines in, Parquet out, with an audit log: each chunk is decided once (the
    audit records come from the decisions written as columns), and the records are those
    of JSON Lines out (less `time` and `decision_id`)."""
    from policyc.runtime.audit import comparable
    from policyc.runtime.columns import decide_jsonl_parquet
    from policyc.runtime.stream import JsonlEngine, decide_jsonl

    tmp = tmp_path_factory.mktemp("a")
    checker = _the_checker(tmp)
    data = "".join(x + "\n" for x in lines).encode()
    want_audit, want_bad = io.BytesIO(), []
    decide_jsonl(checker, io.BytesIO(data), io.BytesIO(), want_audit,
                 lambda b: want_bad.append((b.number, b.message)), chunk_bytes=chunk)
    got_audit, got_bad = io.BytesIO(), []
    calls = []
    real = JsonlEngine.decide_chunk
    JsonlEngine.decide_chunk = lambda self, *a, **k: calls.append(1) or real(self, *a, **k)  # type: ignore[method-assign]
    try:
        decide_jsonl_parquet(checker, io.BytesIO(data), ParquetOut(str(tmp / "o.parquet")),
                             got_audit, lambda b: got_bad.append((b.number, b.message)),
                             chunk_bytes=chunk)
    finally:
        JsonlEngine.decide_chunk = real  # type: ignore[method-assign]
    assert not calls  # decided once: by `decide_chunk_columns` alone
    assert got_bad == want_bad
    want = [comparable(json.loads(x)) for x in want_audit.getvalue().splitlines()]
    got_text = got_audit.getvalue()
    assert [comparable(json.loads(x)) for x in got_text.splitlines()] == want
    # byte for byte too, but for the volatile fields
    strip = __import__("re").compile(rb'"decision_id": "[^"]*", "time": "[^"]*"')
    assert strip.sub(b"", got_text) == strip.sub(b"", want_audit.getvalue())
