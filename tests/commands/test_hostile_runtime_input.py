"""Hostile input to the runtime commands (`check`, `eval`, `replay`, `diff --replay`)
through a real subprocess: a clear error or a reported line, never a traceback, and
every line accounted for (docs/cli.md, *Batch input*, *Columnar input*)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers.chat_policy import POLICY

GOOD = {"context": {"audience": "adult"}, "scores": {"self_harm.intent": 0.6}}


def _policyc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "policyc", *args], capture_output=True,
                          text=True, timeout=120)


def _no_traceback(r: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in r.stderr + r.stdout, r.stderr[-2000:]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("hostile")
    (tmp / "p.pol").write_text(POLICY)
    out = tmp / "p.pbundle"
    r = _policyc("compile", str(tmp / "p.pol"), "-o", str(out))
    assert r.returncode == 0, r.stderr
    return out


def test_control_character_message_reads_once(bundle: Path, tmp_path: Path) -> None:
    """The decoder's own "… at" is not followed by a second "at"."""
    events = tmp_path / "e.jsonl"
    events.write_bytes(b'{"id": "a\rb", "context": {"audience": "adult"}}\n')
    r = _policyc("check", str(bundle), "--input", str(events))
    _no_traceback(r)
    assert r.returncode == 1
    assert "e.jsonl:1: skipped: not valid JSON (Invalid control character at column 10)" \
        in r.stderr
    assert "at at" not in r.stderr


def test_parquet_duplicate_column_is_a_usage_error(bundle: Path, tmp_path: Path) -> None:
    path = tmp_path / "dup.parquet"
    pq.write_table(pa.Table.from_arrays(
        [pa.array([0.5]), pa.array([0.1])],
        names=["scores.self_harm.intent", "scores.self_harm.intent"]), path)
    old = tmp_path / "old.pbundle"
    old.write_bytes(bundle.read_bytes())
    for args in (["check", str(bundle), "--input", str(path)],
                 ["replay", str(bundle), str(path)],
                 ["replay", str(bundle), str(path), "--against", str(old)]):
        r = _policyc(*args)
        _no_traceback(r)
        assert r.returncode == 2, (args, r.stderr)
        assert "column `scores.self_harm.intent` appears more than once" in r.stderr
