"""Lint scaling: generated policies of 100, 1k, 5k and 20k rules (~40 categories, 6 context
attributes). Reports wall time of the front end (parse + flatten) and of the full semantic
lint, in-process, best of `--repeat` runs (the machine may be shared), and the growth
exponent (slope of log time vs log rules). With `--e2e`, also a fresh
`policyc lint FILE --format json` process (start-up, lint and report).
Goal: 5k rules in <= 5 s end to end, exponent <= 1.3.

    python benchmarks/lint_scaling.py [--sizes 100,1000,5000,20000] [--repeat 3] [--e2e]
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_policy import generate  # noqa: E402

from policyc.lint.config import LintConfig  # noqa: E402
from policyc.lint.runner import lint_paths  # noqa: E402
from policyc.semantics.program import load_program  # noqa: E402


def best_of(repeat: int, work: Callable[[], object]) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100,1000,5000,20000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--e2e", action="store_true", help="also time a fresh `policyc lint`")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = Path(tmp) / f"p{n}.pol"
            path.write_text(generate(n))
            front, _ = best_of(args.repeat, lambda path=path: load_program([path]))
            full, (_, diags) = best_of(args.repeat,  # type: ignore[misc]
                                       lambda path=path: lint_paths([path], LintConfig()))
            rows.append((n, front, full, len(diags)))
            line = (f"{n:>6} rules: front end {front:7.2f} s, full lint {full:7.2f} s, "
                    f"{len(diags)} findings")
            if args.e2e:
                cmd = [sys.executable, "-m", "policyc", "lint", str(path), "--format", "json"]
                e2e, _ = best_of(args.repeat, lambda cmd=cmd: subprocess.run(
                    cmd, capture_output=True, check=False))
                line += f", end to end {e2e:7.2f} s"
            print(line, flush=True)
    if len(rows) >= 2:
        xs = [math.log(r[0]) for r in rows]
        ys = [math.log(r[2]) for r in rows]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
        print(f"growth exponent (full lint, least squares on log-log): {slope:.2f} (goal <= 1.3)")


if __name__ == "__main__":
    main()
