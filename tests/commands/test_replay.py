"""`policyc replay` (issue 15): counts per old -> new pair, loosened/tightened, flipped
rows with their rule; JSON Lines and Parquet alike; `--fail-on loosened`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

OLD = """policy t.p version "1" {
  owner "o"
  categories { hate, self_harm { intent } }
  threshold default 0.5
  resolve most-restrictive
  default allow
  rule r1: refuse when score(hate) >= 0.7
  rule r2: redirect("help") when self_harm.intent
}
"""
NEW = OLD.replace("score(hate) >= 0.7", "hate").replace('version "1"', 'version "2"')
SCORES = [0.1, 0.6, 0.8, 0.55, 0.0]


def _policyc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "policyc", *args], capture_output=True,
                          text=True, timeout=120)


def _files(tmp: Path) -> tuple[Path, Path, Path, Path]:
    old, new = tmp / "old.pol", tmp / "new.pol"
    old.write_text(OLD)
    new.write_text(NEW)
    jl, pqf = tmp / "e.jsonl", tmp / "e.parquet"
    jl.write_text("".join(json.dumps({"id": f"e{k}", "scores": {"hate": x}}) + "\n"
                          for k, x in enumerate(SCORES)) + '{"scores": {"hate": 2}}\n')
    pq.write_table(pa.table({"id": [f"e{k}" for k in range(len(SCORES))] + ["x"],
                             "scores.hate": [*SCORES, 2.0]}), pqf)
    return old, new, jl, pqf


def test_replay_counts_what_changes(tmp_path: Path) -> None:
    old, new, jl, pqf = _files(tmp_path)
    docs = []
    for events in (jl, pqf):
        r = _policyc("replay", str(new), str(events), "--against", str(old), "-f", "json")
        assert r.returncode == 1, r.stderr  # a row was skipped
        assert f"{events}:6: skipped: score of `hate` is 2" in r.stderr
        docs.append(json.loads(r.stdout))
    assert docs[0] == docs[1]
    doc = docs[0]
    assert (doc["rows"], doc["decided"], doc["skipped"]) == (6, 5, 1)
    assert doc["changed"] == {"loosened": 0, "tightened": 2, "changed": 0}
    assert {(p["old"], p["new"]): p["count"] for p in doc["pairs"]} == {
        ("allow", "allow"): 2, ("allow", "refuse"): 2, ("refuse", "refuse"): 1}
    assert doc["rules"] == {"r1": 2}
    assert [(f["row"], f["id"], f["kind"]) for f in doc["flips"]] == [
        (2, "e1", "tightened"), (4, "e3", "tightened")]


def test_fail_on_loosened(tmp_path: Path) -> None:
    old, new, _, pqf = _files(tmp_path)
    pq.write_table(pa.table({"scores.hate": SCORES}), pqf)
    tightened = _policyc("replay", str(new), str(pqf), "--against", str(old),
                         "--fail-on", "loosened")
    assert tightened.returncode == 0, tightened.stderr
    assert "2 tightened" in tightened.stdout and "row 2: allow -> refuse" in tightened.stdout
    loosened = _policyc("replay", str(old), str(pqf), "--against", str(new),
                        "--fail-on", "loosened")
    assert loosened.returncode == 1 and "2 loosened" in loosened.stdout
