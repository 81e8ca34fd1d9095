"""One command runs every check: the linter is part of the test suite."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("ruff") is None and not (Path(sys.executable).parent / "ruff")
                    .exists(), reason="ruff is a dev dependency")
def test_ruff_clean() -> None:
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    result = subprocess.run([ruff, "check", "policyc", "tests", "benchmarks", "tools"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_clean(tmp_path: Path) -> None:
    """The package type-checks (pyproject's [tool.mypy]); a fresh cache, so it is real."""
    pytest.importorskip("mypy", reason="mypy is a dev dependency")
    result = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path),
                             "policyc"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_grammar_is_strict_lalr() -> None:
    """The grammar has no conflicts or terminal collisions (lark strict mode)."""
    from policyc.syntax.parse import parser

    parser(strict=True)
