"""The wheel holds the package, the grammar and the std.* policies with the default model,
and none of the checkout tools (`tools/`: corpus, eval-set and model builders)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    out = tmp_path_factory.mktemp("wheel")
    cmd = [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--disable-pip-version-check",
           "-q", "-w", str(out)]
    if importlib.util.find_spec("hatchling") is not None:
        cmd.append("--no-build-isolation")  # offline and faster: the backend is here
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        reason = f"building the wheel failed (no hatchling and no network?):\n{proc.stderr[-2000:]}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    (wheel,) = out.glob("policyc-*.whl")
    with zipfile.ZipFile(wheel) as z:
        return z.namelist()


def test_wheel_has_no_checkout_tools(wheel_names: list[str]) -> None:
    tools = sorted(p.name for p in (REPO / "tools").iterdir() if p.is_file() and p.name != "__init__.py")
    assert "build_default_classifier.py" in tools and "datasets.py" in tools
    leaked = [n for n in wheel_names
              if n.startswith("tools/") or Path(n).name in tools or n.endswith(".lock")]
    assert leaked == []


def test_wheel_has_the_package_grammar_and_default_model(wheel_names: list[str]) -> None:
    names = set(wheel_names)
    for needed in ("policyc/__init__.py", "policyc/diagnostics/codes.py",
                   "policyc/_grammar/policy.lark",
                   "policyc/_stdlib_policies/models/default_text.onnx",
                   "policyc/_stdlib_policies/models/MODEL_CARD.md"):
        assert needed in names
