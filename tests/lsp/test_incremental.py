"""What the language server keeps between versions never shows in its diagnostics.

The server reuses parsed parents and, for a text it has analysed before (an undo), the
earlier analysis while its inputs are unchanged. Each test compares the server's
diagnostics with a fresh server's, or with a from-scratch analysis of the same text.
"""

from __future__ import annotations

import random
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers.lsp_session import ROOT, Session, run_session
from lsprotocol import types as lsp
from pygls.protocol import default_converter

from policyc.lsp import features
from policyc.lsp.analysis import SourceCache, analyse

PARENT = """\
policy acme.parent version "1.0.0" {
  owner "safety@acme.example"
  context teen: bool = false
  categories { harm { x, y }, spam }
  resolve most-restrictive
  default allow
  rule block: refuse when harm.x
}
"""

CHILD = """\
policy acme.child version "1.0.0" {
  extends acme.parent
  owner "chat@acme.example"
  rule soft: warn("w") when harm.x and teen
  rule spam_warn: warn("s") when spam
  rule spam_teen: redact("s") when spam and teen
}
"""

FAST = {"debounceMs": 0}
_CONVERTER = default_converter()


def plain(found: list[lsp.Diagnostic]) -> list[Any]:
    return [_CONVERTER.unstructure(d) for d in found]


async def fresh(root: Path, path: Path) -> list[Any]:
    s = Session(root, FAST)
    await s.start()
    try:
        return plain(await s.diagnostics_for(s.open(path), 1))
    finally:
        await s.stop()


def test_edit_then_undo_equals_a_fresh_server(tmp_path: Path) -> None:
    (tmp_path / "parent.pol").write_text(PARENT)
    child = tmp_path / "child.pol"
    child.write_text(CHILD)
    edited = CHILD.replace('warn("w")', 'warn("w2")')
    looser_parent = PARENT.replace("refuse when harm.x", "refuse when harm.y")

    async def body(s: Session) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
        uri = s.open(child)
        first = plain(await s.diagnostics_for(uri, 1))
        s.change(uri, 2, edited)
        changed = plain(await s.diagnostics_for(uri, 2))
        s.change(uri, 3, CHILD)  # undo: the analysis of version 1 is reused
        undone = plain(await s.diagnostics_for(uri, 3))
        assert any("v3" in m and "(reused" in m for m in s.logs), s.logs
        # the parent changes on screen: the same child text must not reuse version 1's
        parent_uri = s.open(tmp_path / "parent.pol", looser_parent)
        await s.diagnostics_for(parent_uri, 1)
        s.change(uri, 4, edited)
        await s.diagnostics_for(uri, 4)
        s.change(uri, 5, CHILD)
        after_parent = plain(await s.diagnostics_for(uri, 5))
        assert not any("v5" in m and "(reused" in m for m in s.logs), s.logs
        return first, changed, undone, after_parent

    first, changed, undone, after_parent = run_session(tmp_path, body, FAST)
    assert any(d["code"] == "POL203" and "`soft`" in d["message"] for d in first), first
    assert changed != first
    assert undone == first
    assert undone == run_session(tmp_path, lambda s: fresh(tmp_path, child))
    # a fresh server that reads the changed parent from disk agrees
    (tmp_path / "parent.pol").write_text(looser_parent)
    expected = run_session(tmp_path, lambda s: fresh(tmp_path, child))
    assert after_parent == expected
    assert after_parent != first  # `soft` is no longer dead: the parent was read anew


_RULE = re.compile(r'^(  rule (\w+): )(\w+)(\("([^"]*)"\))?', re.M)
_ACTIONS = ["allow", 'warn("a")', 'redact("b")', 'redirect("c")', "refuse", 'escalate("d")']


def _edit(rng: random.Random, text: str, history: list[str]) -> str:
    """One random edit an author might make (some leave the policy broken)."""
    rules = list(_RULE.finditer(text))
    kind = rng.choice(["action", "argument", "delete", "duplicate", "typo", "undo"])
    if kind == "undo" and len(history) > 1:
        return rng.choice(history[:-1])
    if not rules:
        return history[0]
    m = rng.choice(rules)
    line_end = text.index("\n", m.start())
    if kind == "action":
        rest = m.end(4) if m.group(4) else m.end(3)
        return text[:m.start(3)] + rng.choice(_ACTIONS) + text[rest:]
    if kind == "argument" and m.group(4):
        return text[:m.start(5)] + m.group(5) + str(rng.randrange(3)) + text[m.end(5):]
    if kind == "delete":
        return text[:m.start()] + text[line_end + 1:]
    if kind == "duplicate":
        line = text[m.start():line_end + 1]
        copy = line.replace(f"rule {m.group(2)}:", f"rule {m.group(2)}_{rng.randrange(99)}:", 1)
        return text[:m.start()] + copy + text[m.start():]
    at = rng.randrange(len(text))
    return text[:at] + rng.choice(["}", " when", "@", " and "]) + text[at:]


@pytest.mark.parametrize(("folder", "name", "seed"), [
    ("examples/acme", "chat.pol", 1),
    ("examples/coding_agent", "agent.pol", 2),
    (None, "generated.pol", 3),  # no locked rule: the remembered searches (lint/memo.py) apply
    (None, "generated.pol", 4),
])
def test_random_edits_match_a_from_scratch_lint(tmp_path: Path, folder: str | None, name: str,
                                                seed: int) -> None:
    """After each of a sequence of random edits (undos among them), the published
    diagnostics equal those of a from-scratch analysis of that text."""
    if folder is None:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from gen_policy import generate
        (tmp_path / name).write_text(generate(60, seed=seed))
    else:
        for f in (ROOT / folder).glob("*.pol"):
            shutil.copy(f, tmp_path / f.name)
    path = tmp_path / name
    rng = random.Random(seed)
    texts = [path.read_text()]
    for step in range(16):
        texts.append(texts[2] if step == 8 else _edit(rng, texts[-1], texts))  # one undo at least

    async def body(s: Session) -> list[list[Any]]:
        uri = s.open(path, texts[0])
        out = [plain(await s.diagnostics_for(uri, 1))]
        for version, text in enumerate(texts[1:], start=2):
            s.change(uri, version, text)
            out.append(plain(await s.diagnostics_for(uri, version)))
        return out

    published = run_session(tmp_path, body, FAST)
    resolved = str(path.resolve())
    reused = 0
    for version, (text, got) in enumerate(zip(texts, published, strict=True), start=1):
        scratch = analyse(resolved, text, version, SourceCache())
        assert got == plain(features.diagnostics(scratch)), (version, text)
        reused += text in texts[:version - 1]
    assert reused >= 1  # the sequence did revisit a text
    assert len({len(p) for p in published}) > 1  # and the edits did change the findings
