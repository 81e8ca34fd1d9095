"""Run Python code in a fresh process whose peak RSS is its own.

Linux carries the parent's peak RSS into a child's `ru_maxrss` across fork and exec
(`vfork` shares the parent's memory until `exec`), so a child of the pytest process would
start from pytest's peak. LAUNCH starts the code from a small intermediate process.
"""

from __future__ import annotations

import subprocess
import sys

LAUNCH = ("import subprocess, sys; "
          "sys.exit(subprocess.run([sys.executable, '-c', *sys.argv[1:]]).returncode)")


def run_fresh(code: str, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """`python -c code args…` started from a small launcher (see the module docstring)."""
    return subprocess.run([sys.executable, "-c", LAUNCH, code, *args], text=True,
                          capture_output=True, **kwargs)  # type: ignore[call-overload, no-any-return]
