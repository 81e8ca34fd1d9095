"""docs/runtime.md's examples run, and print what the page says they print.

Every ```python block runs in one namespace, in a folder holding the bundles the page
loads. A statement followed by `# <python literal>` (on its line or the next comment
line) must evaluate to that literal; `# InvalidEvent: <message>` must raise it. A
literal containing "…" is elided on the page and not compared.
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path
from typing import Any

import pytest

from policyc.compile.pipeline import compile_file
from policyc.runtime import InvalidEvent

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "runtime.md"
BUNDLES = {"chat.pbundle": "examples/consumer_chat/chat.pol",
           "agent.pbundle": "examples/coding_agent/agent.pol"}


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)


def _expected(comment: str) -> tuple[str, Any] | None:
    """("raises", message), ("value", literal) or None for prose."""
    if comment.startswith("InvalidEvent: "):
        return ("raises", comment[len("InvalidEvent: "):])
    cuts = [len(comment)] + [m.start() for m in re.finditer(r":\s", comment)]
    for cut in cuts:
        try:
            value = ast.literal_eval(comment[:cut].strip())
        except (ValueError, SyntaxError):
            continue
        return None if "…" in repr(value) else ("value", value)
    return None


def _statements(block: str) -> list[tuple[str, str | None]]:
    """(source of a statement, its comment or None), in order."""
    lines = block.splitlines()
    out: list[tuple[str, str | None]] = []
    for node in ast.parse(block).body:
        assert node.end_lineno is not None
        src = "\n".join(lines[node.lineno - 1:node.end_lineno])
        last = lines[node.end_lineno - 1]
        comment = last.split("#", 1)[1].strip() if "#" in last else None
        if comment is None and node.end_lineno < len(lines) \
                and lines[node.end_lineno].lstrip().startswith("#"):
            comment = lines[node.end_lineno].split("#", 1)[1].strip()
        out.append((src, comment))
    return out


@pytest.fixture()
def bundle_dir(tmp_path: Path) -> Path:
    for name, source in BUNDLES.items():
        state = compile_file(REPO / source)
        assert state.bundle is not None, [d.message for d in state.diagnostics]
        (tmp_path / name).write_bytes(state.bundle)
    return tmp_path


def test_the_page_has_examples() -> None:
    blocks = _blocks()
    assert len(blocks) >= 5
    checked = [e for b in blocks for _, c in _statements(b) if c and (e := _expected(c))]
    assert len(checked) >= 10


def test_runtime_page_examples(bundle_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(bundle_dir)
    namespace: dict[str, Any] = {}
    for block in _blocks():
        for src, comment in _statements(block):
            expected = _expected(comment) if comment else None
            if expected is None:
                exec(compile(src, str(PAGE), "exec"), namespace)  # noqa: S102
            elif expected[0] == "raises":
                with pytest.raises(InvalidEvent) as err:
                    eval(compile(src, str(PAGE), "eval"), namespace)  # noqa: S307
                assert str(err.value) == expected[1], src
            else:
                got = eval(compile(src, str(PAGE), "eval"), namespace)  # noqa: S307
                assert got == expected[1], (src, got)
    assert os.getcwd() == str(bundle_dir)
