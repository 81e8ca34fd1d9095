"""Lint scaling: generated policies of 100, 1k, 5k and 20k rules (~40 categories, 6 context
attributes). Reports wall time of the front end and of the full semantic lint, and the
growth exponent (slope of log time vs log rules). Goal: 5k rules in <= 5 s, exponent <= 1.3.

    python benchmarks/lint_scaling.py [--sizes 100,1000,5000,20000]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_policy import generate  # noqa: E402

from policyc.lint.config import LintConfig  # noqa: E402
from policyc.lint.runner import lint_paths  # noqa: E402
from policyc.semantics.program import load_program  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100,1000,5000,20000")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = Path(tmp) / f"p{n}.pol"
            path.write_text(generate(n))
            t0 = time.perf_counter()
            load_program([path])
            front = time.perf_counter() - t0
            t0 = time.perf_counter()
            _, diags = lint_paths([path], LintConfig())
            full = time.perf_counter() - t0
            rows.append((n, front, full, len(diags)))
            print(f"{n:>6} rules: front end {front:7.2f} s, full lint {full:7.2f} s, "
                  f"{len(diags)} findings", flush=True)
    if len(rows) >= 2:
        xs = [math.log(r[0]) for r in rows]
        ys = [math.log(r[2]) for r in rows]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
        print(f"growth exponent (full lint, least squares on log-log): {slope:.2f} (goal <= 1.3)")


if __name__ == "__main__":
    main()
