"""Diff scaling: two versions of a generated policy differing in 1% of their rules.

Reports the time to load both versions and compute the exact diff, the time of the
bundle hashes the report names (a compile of each version), the end-to-end time of
`policyc diff --format json` in a fresh process, and the report size, which should
grow with the change, not with the policy (compare the rows per changed rule across
sizes and fractions). Goal (issue 17): 5k rules, 1 % changed, <= 5 s end to end on an
idle machine. It then prints the median constraints per plain row of the `examples/diff`
pairs (goal <= 3): the report's rows, whose `except` rows count their region's
constraints (exceptions listed apart), beside the figure of the same rows as plain boxes
(4 on v1 -> v2, the optimum of a partition into boxes, see
`tests/diff/test_diff_fewest_constraints.py`), and the end-to-end figure of the largest
size at 1 % against its goal.

    python benchmarks/diff_scaling.py [--sizes 1000,5000] [--changed 0.01,0.02]
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_policy import categories, generate, rule_line  # noqa: E402

from policyc.compile.pipeline import bundle_hash  # noqa: E402
from policyc.diff.semantic import semantic_diff  # noqa: E402
from policyc.lint.gate import COMPILE_GATE  # noqa: E402
from policyc.semantics.program import load_program  # noqa: E402
from policyc.semantics.regions.changes import changed_regions  # noqa: E402


def mutate(text: str, fraction: float, seed: int = 11) -> str:
    """Replace a fraction of the rules by new random ones (same ids)."""
    rng = random.Random(seed)
    lines = text.splitlines()
    rule_lines = [i for i, line in enumerate(lines) if line.lstrip().startswith("rule r")]
    for i in rng.sample(rule_lines, max(1, int(len(rule_lines) * fraction))):
        rid = int(lines[i].split()[1][1:].rstrip(":"))
        lines[i] = "  " + rule_line(rng, rid, categories(), "most-restrictive")
    return "\n".join(lines).replace('version "1.0.0"', 'version "1.1.0"') + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,5000")
    ap.add_argument("--changed", default="0.01")
    args = ap.parse_args()
    gc.set_threshold(100_000, 50, 50)  # as the CLI does (policyc/cli.py)
    ends: dict[tuple[int, float], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            for fraction in (float(f) for f in args.changed.split(",")):
                ends[n, fraction] = run(Path(tmp), n, fraction)
    examples_constraints()
    n, fraction = max(ends, key=lambda k: (k[0], -k[1]))
    print(f"{n} rules, {fraction:.0%} changed: `policyc diff` end to end {ends[n, fraction]:.2f} s"
          f" (goal <= 5 s at 5,000 rules, 1 %, idle machine; load average now "
          f"{os.getloadavg()[0]:.1f})")


def examples_constraints() -> None:
    """Median constraints per plain row of each `examples/diff` pair (consecutive files)."""
    files = sorted((ROOT / "examples/diff").glob("*.pol"))
    for a, b in itertools.pairwise(files):
        pa, pb = load_program([a]), load_program([b])
        old, new = next(iter(pa.policies.values())), next(iter(pb.policies.values()))
        report = semantic_diff(old, new)
        plain = [c for c in report.changes if c.scope is None]
        rows = [len(c.region) for c in plain]
        boxes = [len(d.box) for d in changed_regions(old, new).regions if d.scope is None]
        print(f"examples/diff {a.name} -> {b.name}: {len(rows)} plain rows "
              f"({sum(bool(c.exceptions) for c in plain)} with exceptions), median "
              f"{statistics.median(rows) if rows else 0:g} region constraints per row "
              f"(min {min(rows, default=0)}, max {max(rows, default=0)}); as boxes only: "
              f"{len(boxes)} rows, median {statistics.median(boxes) if boxes else 0:g}")


def run(tmp: Path, n: int, fraction: float) -> float:
    old_text = generate(n)
    new_text = mutate(old_text, fraction)
    a, b = tmp / f"old{n}.pol", tmp / f"new{n}.pol"
    a.write_text(old_text)
    b.write_text(new_text)
    t0 = time.perf_counter()
    pa, pb = load_program([a]), load_program([b])
    t_load = time.perf_counter() - t0
    old, new = next(iter(pa.policies.values())), next(iter(pb.policies.values()))
    t0 = time.perf_counter()
    report = semantic_diff(old, new, new_text, hashes=("-", "-"))
    t_diff = time.perf_counter() - t0
    t0 = time.perf_counter()
    bundle_hash(pa, old, COMPILE_GATE), bundle_hash(pb, new, COMPILE_GATE)
    t_hash = time.perf_counter() - t0
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "policyc", "diff", str(a), str(b), "--format",
                           "json"], capture_output=True, text=True, check=False)
    t_cli = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr
    rows = len(json.loads(proc.stdout)["changes"])
    changed = max(1, int(n * fraction))
    s = report.summary()
    print(f"{n:>6} rules, {changed:>3} changed ({fraction:.1%}): load {t_load:5.2f} s, diff "
          f"{t_diff:5.2f} s, bundle hashes {t_hash:5.2f} s, in-process total "
          f"{t_load + t_diff + t_hash:5.2f} s; `policyc diff` end to end {t_cli:5.2f} s; "
          f"{rows} rows ({s['loosened']} loosened, {s['tightened']} tightened, "
          f"{s['changed']} changed), {rows / changed:.2f} per changed rule", flush=True)
    return t_cli


if __name__ == "__main__":
    main()
