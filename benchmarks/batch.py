"""Batch throughput of `policyc check --input` against the vectorized core (issue 15).

Plain script::

    python benchmarks/batch.py [--jsonl-events 1000000] [--parquet-events 10000000]
                               [--text-events 2000] [--folder DIR]
                               [--only {ceiling,jsonl,parquet,text}]...

Reports, in one run, on score-only events of a two-rule policy:

* `check_batch` in-process (the ceiling: columns already in memory);
* a bare `json.loads` pass over the JSONL file (what reading JSON costs at least);
* `policyc check --input FILE.jsonl --output OUT.jsonl`, end to end (fresh process), at
  1 M and (for its memory) 10 M events;
* `policyc check --input FILE.parquet --output OUT.parquet`, end to end and with the
  start-up (the same command on a 1-row file) subtracted, at 1 M and 10 M events;
* peak RSS of each `policyc` process (its own `VmHWM` at exit: see `_PEAK`);
* text events through the default classifier: the streaming engine in-process (and
  `policyc check --input` end to end, start-up excluded) against
  `Bindings.scores_batch` + `check_batch` in-process on the same texts.

Every goal is printed as a ratio beside its figure (the machine may be shared: ratios
measured side by side hold better than absolute rates). Goals: JSONL >= 300 k events/s
and within 2.5x of the `json.loads` pass; Parquet >= 3 M events/s start-up excluded;
peak memory <= 200 MB at 1 M and 10 M events (flat); text within 1.3x of scores_batch.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

POLICY = """policy bench.two version "1" {
  owner "bench"
  categories { hate, self_harm { intent } }
  threshold default 0.5
  resolve most-restrictive
  default allow
  rule r1: refuse when hate
  rule r2: redirect("help") when self_harm.intent
}
"""
CATS = ("hate", "self_harm.intent")


def write_jsonl(path: Path, n: int) -> None:
    rnd = random.Random(1)
    with path.open("w") as fh:
        for k in range(0, n, 10_000):
            fh.write("".join(
                f'{{"id": "e{j}", "scores": {{"{CATS[j % 2]}": {round(rnd.random(), 3)!r}}}}}\n'
                for j in range(k, min(n, k + 10_000))))


def write_parquet(path: Path, n: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(1)
    with pq.ParquetWriter(path, pa.schema([("id", pa.int64()), ("scores.hate", pa.float64()),
                                           ("scores.self_harm.intent", pa.float64())])) as w:
        for k in range(0, n, 1 << 20):
            m = min(n, k + (1 << 20)) - k
            x = np.round(rng.random(m), 3)
            odd = np.arange(k, k + m) % 2 == 1
            w.write_table(pa.table({"id": np.arange(k, k + m),
                                    "scores.hate": np.where(odd, x, 0.0),
                                    "scores.self_harm.intent": np.where(odd, 0.0, x)}))


#: Runs `python -m policyc` and, at exit, writes the process's own peak RSS (`VmHWM`)
#: to stderr. Not `ru_maxrss` from `wait4`: Linux keeps the high-water mark of the
#: memory the child had before `exec`, which is this benchmark's (vfork or fork), so a
#: child started from a 300 MB parent reports 300 MB whatever it uses (measured: a
#: 1-row `check` reported 311 MB; that is how a 10 M Parquet run once "peaked" at
#: 262 MB when it used 164 MB).
_PEAK = """import atexit, runpy, sys
def _peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            sys.stderr.write("\\nbench-peak-kb " + line.split()[1] + "\\n")
atexit.register(_peak)
sys.argv[0] = "policyc"
runpy.run_module("policyc", run_name="__main__", alter_sys=True)
"""


def run(args: list[str]) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one fresh `policyc` process."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _PEAK, *args], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t
    err = proc.stderr.decode(errors="replace")
    if proc.returncode not in (0, 1) or "bench-peak-kb " not in err:
        raise SystemExit(f"policyc {' '.join(args)} failed: {err}")
    return dt, int(err.rsplit("bench-peak-kb ", 1)[1].split()[0]) / 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--jsonl-events", type=int, default=1_000_000)
    ap.add_argument("--jsonl-memory-events", type=int, default=10_000_000,
                    help="a second JSONL run, for its peak memory (0: skip)")
    ap.add_argument("--parquet-events", type=int, default=10_000_000)
    ap.add_argument("--text-events", type=int, default=50_000)
    ap.add_argument("--folder", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=5,
                    help="text part: best of this many runs of each figure (shared machine)")
    ap.add_argument("--only", action="append", choices=("ceiling", "jsonl", "parquet", "text"),
                    help="run only these parts (repeatable; default: all)")
    a = ap.parse_args(argv)
    parts = set(a.only or ("ceiling", "jsonl", "parquet", "text"))
    folder = a.folder or Path(tempfile.mkdtemp(prefix="policyc-batch-"))
    folder.mkdir(parents=True, exist_ok=True)
    pol = folder / "two.pol"
    pol.write_text(POLICY)
    bundle = folder / "two.pbundle"
    subprocess.run([sys.executable, "-m", "policyc", "compile", str(pol), "-o", str(bundle)],
                   check=True, env={**os.environ, "PYTHONPATH": str(REPO)},
                   capture_output=True)
    rows: list[tuple[str, str]] = []

    def show(what: str, n: int, dt: float, mb: float | None = None) -> None:
        rate = f"{n / dt / 1e3:,.0f} k/s" if dt > 0 else "-"
        rows.append((what, f"{n:>11,}  {dt:7.2f} s  {rate:>12}" + (f"  {mb:6.0f} MB" if mb else "")))
        print(f"{what:58} {rows[-1][1]}", flush=True)

    # the ceiling: check_batch in-process
    import numpy as np

    from policyc.runtime import Bundle

    chk = Bundle.load(bundle)
    n = a.jsonl_events
    x = np.round(np.random.default_rng(1).random(n), 3)
    odd = np.arange(n) % 2 == 1
    cols = {"hate": np.where(odd, x, 0.0), "self_harm.intent": np.where(odd, 0.0, x)}
    t = time.perf_counter()
    chk.check_batch({}, cols)
    ceiling = (time.perf_counter() - t) * a.parquet_events / n
    if "ceiling" in parts or "parquet" in parts:
        show("check_batch in-process (ceiling)", n, ceiling * n / a.parquet_events)

    peaks: dict[str, list[float]] = {"JSONL": [], "Parquet": []}
    sizes = [n] + ([a.jsonl_memory_events] if a.jsonl_memory_events else [])
    if "jsonl" not in parts:
        sizes = []
    for size in sizes:
        jl = folder / f"s{size}.jsonl"
        if not jl.exists():
            write_jsonl(jl, size)
        if size == n:
            t = time.perf_counter()
            with jl.open("rb") as fh:
                for line in fh:
                    json.loads(line)
            bare = time.perf_counter() - t
            show("bare json.loads pass", n, bare)
        dt, mb = run(["check", str(bundle), "--input", str(jl), "--output", str(folder / "o.jsonl")])
        show(f"policyc check --input JSONL ({size:,})", size, dt, mb)
        peaks["JSONL"].append(mb)
        if size == n:
            jsonl_dt = dt
    if sizes:
        print(f"  JSONL end to end / json.loads pass: {jsonl_dt / bare:.2f}x (goal <= 2.5x); "
              f"{n / jsonl_dt / 1e3:,.0f} k/s (goal >= 300 k/s)")
    if "parquet" in parts:
        parquet(a, folder, bundle, ceiling, show, peaks)
    for what, mbs in peaks.items():
        if mbs:
            print(f"  peak RSS {what}: " + " / ".join(f"{m:.0f} MB" for m in mbs)
                  + f" (goal <= 200 MB, flat: ratio {max(mbs) / min(mbs):.2f})")
    if a.text_events and "text" in parts:
        text_bench(folder, a.text_events, show, a.repeat)
    return 0


def parquet(a: Any, folder: Path, bundle: Path, ceiling: float, show: Any,
            peaks: dict[str, list[float]]) -> None:
    """Parquet in and out, at a tenth of `--parquet-events` and at all of them."""
    one = folder / "one.parquet"
    write_parquet(one, 1)
    start, _ = run(["check", str(bundle), "--input", str(one), "--output", str(folder / "o1.parquet")])
    show("policyc check start-up (1-row Parquet)", 1, start)
    p = a.parquet_events
    for size in (p // 10, p):
        pf = folder / f"s{size}.parquet"
        if not pf.exists():
            write_parquet(pf, size)
        dt, mb = run(["check", str(bundle), "--input", str(pf), "--output",
                      str(folder / "o.parquet")])
        show(f"policyc check --input Parquet ({size:,})", size, dt, mb)
        show("  same, start-up excluded", size, dt - start)
        peaks["Parquet"].append(mb)
    print(f"  Parquet {p:,}: {p / (dt - start) / 1e6:.2f} M/s start-up excluded (goal >= 3 M/s); "
          f"check_batch ceiling / Parquet: {(dt - start) / ceiling:.1f}x")


def text_bench(folder: Path, n: int, show: Any, repeat: int = 3) -> None:
    """Text events through the default classifier: end to end against in-process batch,
    each figure the best of `repeat` runs, interleaved (a shared machine's load comes and
    goes: the best run is the one least disturbed)."""
    import shutil

    from policyc.runtime import Bundle
    from policyc.runtime.onnx_binding import default_model_path

    sys.path.insert(0, str(REPO / "benchmarks"))
    from text_path import POLICY as TEXT_POLICY
    from text_path import _short_prompts

    shutil.copy(default_model_path(), folder / "default_text.onnx")
    (folder / "text.pol").write_text(TEXT_POLICY)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-m", "policyc", "compile", str(folder / "text.pol"), "-o",
                    str(folder / "text.pbundle")], check=True, env=env, capture_output=True)
    texts = (_short_prompts() * (2 * n // max(1, len(_short_prompts())) + 1))[:2 * n]
    tj, tj2 = folder / "text.jsonl", folder / "text2.jsonl"
    lines = [json.dumps({"id": k, "text": t}) + "\n" for k, t in enumerate(texts)]
    tj.write_text("".join(lines[:n]))
    tj2.write_text("".join(lines))
    texts = texts[:n]
    chk = Bundle.load(folder / "text.pbundle")
    chk.check_batch({}, chk.bindings.scores_batch(texts[:100]))  # load the model first

    import io

    from policyc.runtime.stream import decide_jsonl

    one = folder / "text1.jsonl"
    one.write_text(json.dumps({"id": 0, "text": texts[0]}) + "\n")
    batch = engine = start = dt = dt2 = float("inf")
    mb = 0.0
    for _ in range(max(1, repeat)):
        t = time.perf_counter()
        chk.check_batch({}, chk.bindings.scores_batch(texts))
        batch = min(batch, time.perf_counter() - t)
        t = time.perf_counter()
        with tj.open("rb") as fh:
            decide_jsonl(chk, fh, io.BytesIO(), None, lambda bad: None)
        engine = min(engine, time.perf_counter() - t)
        start = min(start, run(["check", str(folder / "text.pbundle"), "--input", str(one),
                                "--output", str(folder / "ot1.jsonl")])[0])
        dt1, mb1 = run(["check", str(folder / "text.pbundle"), "--input", str(tj), "--output",
                        str(folder / "ot.jsonl")])
        dt, mb = min(dt, dt1), max(mb, mb1)
        dt2 = min(dt2, run(["check", str(folder / "text.pbundle"), "--input", str(tj2),
                            "--output", str(folder / "ot2.jsonl")])[0])
    show("text: scores_batch + check_batch in-process", n, batch)
    show("text: streaming engine in-process (JSONL)", n, engine)
    show("text: policyc check --input JSONL", n, dt, mb)
    show("  same, start-up excluded (minus a 1-line run)", n, dt - start)
    show(f"  same, marginal ({2 * n:,} lines minus {n:,})", n, dt2 - dt)
    print(f"  text engine / scores_batch: {engine / batch:.2f}x in-process, "
          f"{(dt - start) / batch:.2f}x end to end, {(dt2 - dt) / batch:.2f}x marginal "
          "(goal <= 1.3x)")


if __name__ == "__main__":
    raise SystemExit(main())
