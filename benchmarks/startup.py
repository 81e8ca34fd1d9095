"""Start-up cost: `policyc --help`, `--version`, importing the lint path, `policyc lint` on a
small example, and `import policyc.runtime`.

Median of several runs, each a fresh interpreter (what a CI step or a shell user pays).

    python benchmarks/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

SMALL = Path(__file__).resolve().parents[1] / "examples" / "acme" / "baseline.pol"


def median_ms(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=False)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    runs = ap.parse_args().runs
    py = sys.executable
    rows = [
        ("python -c pass (floor)", [py, "-c", "pass"]),
        ("policyc --version", [py, "-m", "policyc", "--version"]),
        ("policyc --help", [py, "-m", "policyc", "--help"]),
        ("import the lint path", [py, "-c", "import policyc.lint.runner"]),
        ("policyc lint (36-line file)", [py, "-m", "policyc", "lint", str(SMALL)]),
        ("import policyc.runtime", [py, "-c", "import policyc.runtime"]),
    ]
    for name, cmd in rows:
        print(f"{name:<30} {median_ms(cmd, runs):8.1f} ms (median of {runs})")


if __name__ == "__main__":
    main()
