"""Golden bad-input cases: every one exits 2 with file:line:col, the source line, a caret
and a help line — never a traceback. Update with `pytest --update-golden`."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.golden import check_golden
from typer.testing import CliRunner

from policyc.cli import app

ROOT = Path(__file__).resolve().parents[2]
CASES = sorted((ROOT / "tests/golden/errors").glob("*.pol"))


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_bad_input(case: Path, update_golden: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    rel = case.relative_to(ROOT)
    result = CliRunner().invoke(app, ["lint", str(rel), "--path", "tests/golden/errors/parents"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 2, result.output
    out = result.output
    assert "Traceback" not in out
    assert f"--> {rel}:" in out  # file:line:col
    assert "^" in out  # caret under the source line
    assert "help:" in out
    check_golden(case.with_suffix(".expected.txt"), out, update_golden)


def test_at_least_fifteen_cases() -> None:
    assert len(CASES) >= 15
