"""Every `>>>` example in the package runs: each module whose source holds one is run
through `doctest.testmod` (a module with examples is found by reading the source, so a
new one is picked up without a list to keep)."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "policyc"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = sorted(_module_name(p) for p in PACKAGE.rglob("*.py")
                 if ">>>" in p.read_text(encoding="utf-8"))


def test_the_formatter_and_transformer_examples_are_found_and_run() -> None:
    for name in ("policyc.syntax.fmt", "policyc.syntax.transform"):
        assert name in MODULES
        assert doctest.testmod(importlib.import_module(name)).attempted > 0, name


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} fail"
