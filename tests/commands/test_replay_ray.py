"""`policyc replay --engine ray` in local mode (2 CPUs, loopback only, usage stats off) on
a generated 1M-event Parquet file: the same counts as `--engine local` (issue 15)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from commands.test_replay import NEW, OLD

pytest.importorskip("ray", reason="`pip install 'policyc[ray]'`")


@pytest.mark.slow
def test_ray_agrees_with_local_on_a_million_events(tmp_path: Path) -> None:
    n = 1_000_000
    rng = np.random.default_rng(7)
    x = np.round(rng.random(n), 3)
    odd = np.arange(n) % 3 == 1
    pq.write_table(pa.table({"id": np.arange(n),
                             "scores.hate": np.where(odd, 0.0, x),
                             "scores.self_harm.intent": np.where(odd, x, 0.0)}),
                   tmp_path / "e.parquet", row_group_size=1 << 18)
    (tmp_path / "old.pol").write_text(OLD)
    (tmp_path / "new.pol").write_text(NEW)
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "POLICYC_RAY_CPUS": "2"}
    env.pop("RAY_ADDRESS", None)  # never a cluster from the environment: local mode
    docs = {}
    for engine in ("local", "ray"):
        r = subprocess.run([sys.executable, "-m", "policyc", "replay", str(tmp_path / "new.pol"),
                            str(tmp_path / "e.parquet"), "--against", str(tmp_path / "old.pol"),
                            "--engine", engine, "-f", "json", "--limit", "5"],
                           capture_output=True, text=True, timeout=600, env=env)
        assert r.returncode == 0, r.stderr[-3000:]
        docs[engine] = json.loads(r.stdout)
    local, ray = docs["local"], docs["ray"]
    for key in ("rows", "decided", "skipped", "actions", "pairs", "changed", "rules"):
        assert ray[key] == local[key], key
    assert local["rows"] == n and local["changed"]["tightened"] > 0
    assert len(ray["flips"]) == 5 and all(f["kind"] == "tightened" for f in ray["flips"])


@pytest.mark.slow
def test_ray_reads_json_lines_with_bad_lines_as_local_does(tmp_path: Path) -> None:
    """JSON Lines under Ray go through the local engine's trust rules line by line: a
    line that is not JSON, a blank line and a bad value are reported and skipped, never
    failing the job (Ray's own JSON reader used to fail on the first bad line)."""
    rng = np.random.default_rng(11)
    lines = [json.dumps({"id": k, "scores": {"hate": round(float(rng.random()), 2)}})
             for k in range(2000)]
    lines[5], lines[700], lines[1500] = "{bad", "", '{"id": "x", "scores": {"hate": 7}}'
    (tmp_path / "e.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "old.pol").write_text(OLD)
    (tmp_path / "new.pol").write_text(NEW)
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "POLICYC_RAY_CPUS": "2"}
    env.pop("RAY_ADDRESS", None)
    docs, errors = {}, {}
    for engine in ("local", "ray"):
        r = subprocess.run([sys.executable, "-m", "policyc", "replay", str(tmp_path / "new.pol"),
                            str(tmp_path / "e.jsonl"), "--against", str(tmp_path / "old.pol"),
                            "--engine", engine, "-f", "json"],
                           capture_output=True, text=True, timeout=600, env=env)
        assert r.returncode == 1, r.stderr[-3000:]  # rows were skipped
        assert "Traceback" not in r.stderr
        docs[engine] = json.loads(r.stdout)
        # Ray names a bad row by its id (it has no row numbers): `id "x": <message>`
        errors[engine] = sorted(re.sub(r'^id [^:]+: ', "", line.split("skipped: ", 1)[1])
                                for line in r.stderr.splitlines() if "skipped: " in line)
    for key in ("rows", "decided", "skipped", "actions", "pairs", "changed", "rules"):
        assert docs["ray"][key] == docs["local"][key], key
    assert docs["local"]["rows"] == 2000 and docs["local"]["skipped"] == 3
    assert errors["ray"] == errors["local"] and len(errors["local"]) == 3
