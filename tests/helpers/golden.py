"""The one golden-file check of the suite.

`check_golden(path, actual, update)` compares `actual` with the text of the golden file
`path`. With `pytest --update-golden` (the `update_golden` fixture of tests/conftest.py)
it rewrites the file instead. A missing golden file FAILS (it is never created silently):
run the test once with `--update-golden` and review the new file before committing it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

UPDATE_HINT = "`pytest --update-golden`"


def check_golden(path: Path, actual: str, update: bool) -> None:
    """Assert that golden file `path` holds exactly `actual` (rewrite it when `update`)."""
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8", newline="\n")
        return
    if not path.is_file():
        pytest.fail(f"golden file {path} is missing: create it with {UPDATE_HINT} "
                    "(on this test) and review it", pytrace=False)
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, (f"{path} differs from the output: if the change is intended, "
                                f"rewrite it with {UPDATE_HINT} and review the diff")
