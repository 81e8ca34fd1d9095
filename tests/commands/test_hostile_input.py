"""Hostile input to the front end, through a real subprocess: every case is refused with
a located error (file:line:col, the source line, a caret, a `help:` line) and exit code 2,
never a traceback, and well within a time limit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAD = 'policy t.hostile version "1" {\n  owner "o"\n  categories { x }\n  default allow\n'


def run(*args: str | Path, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "policyc", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def assert_located(result: subprocess.CompletedProcess[str], where: str) -> str:
    """Exit 2, no traceback, `--> where`, a caret and a help line; the output."""
    out = result.stdout + result.stderr
    assert "Traceback" not in out, out
    assert result.returncode == 2, out
    assert f"--> {where}" in out, out
    assert "^" in out and "help:" in out, out
    return out


def test_nul_in_model_path_is_a_located_error(tmp_path: Path) -> None:
    (tmp_path / "p.pol").write_text(
        HEAD + '  classifier m = onnx "a\\u0000b.onnx" { labels { x = "a" } }\n}\n')
    for command in ("lint", "compile"):
        args = ["-o", "p.bundle"] if command == "compile" else []
        out = assert_located(run(command, "p.pol", *args, cwd=tmp_path), "p.pol:5:3")
        assert "NUL" in out


def test_model_path_naming_a_folder_says_so(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "p.pol").write_text(
        HEAD + '  classifier m = onnx "models" { labels { x = "a" } }\n}\n')
    out = assert_located(run("lint", "p.pol", cwd=tmp_path), "p.pol:5:3")
    assert "is a folder" in out and "does not exist" not in out
