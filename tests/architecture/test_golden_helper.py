"""The one golden-file check (`helpers.golden.check_golden`): a missing golden fails, never
passes by creating itself; `--update-golden` writes it; a difference fails."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.golden import check_golden


def test_missing_golden_fails_and_is_not_created(tmp_path: Path) -> None:
    golden = tmp_path / "case" / "expected.txt"
    with pytest.raises(pytest.fail.Exception, match="--update-golden"):
        check_golden(golden, "output\n", update=False)
    assert not golden.exists()


def test_update_writes_the_golden(tmp_path: Path) -> None:
    golden = tmp_path / "case" / "expected.txt"
    check_golden(golden, "output\n", update=True)
    assert golden.read_bytes() == b"output\n"
    check_golden(golden, "output\n", update=False)  # and then it holds


def test_a_difference_fails(tmp_path: Path) -> None:
    golden = tmp_path / "expected.txt"
    golden.write_text("old\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="differs"):
        check_golden(golden, "new\n", update=False)
    assert golden.read_text(encoding="utf-8") == "old\n"
