"""The CLI run as a user runs it: `python -m policyc ARGS…` in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def policyc(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """From the repository unless `cwd`; text output captured; at most 300 s."""
    return subprocess.run([sys.executable, "-m", "policyc", *args], capture_output=True,
                          text=True, cwd=cwd or REPO, timeout=300)
