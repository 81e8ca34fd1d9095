"""The README's set-up commands: the first one's policyc steps run as written; the second
is what `.ci/run` runs."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _commands() -> tuple[str, str]:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    start = lines.index("```sh")
    return lines[start + 1], lines[start + 2]


def test_readme_main_job_runs(tmp_path: Path) -> None:
    first, _ = _commands()
    steps = [s.strip() for s in first.split("&&")]
    assert steps[:3] == ["python3 -m venv .venv", ". .venv/bin/activate", "pip install ."]
    env = {**os.environ, "NO_COLOR": "1"}
    for step in steps[3:]:
        argv = shlex.split(step.replace("chat.pbundle", str(tmp_path / "chat.pbundle")))
        assert argv[0] == "policyc", step
        result = subprocess.run([sys.executable, "-m", "policyc", *argv[1:]], cwd=ROOT,
                                env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, step + "\n" + result.stdout + result.stderr


def test_ci_runs_the_readme_test_command() -> None:
    _, second = _commands()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert second in ci
