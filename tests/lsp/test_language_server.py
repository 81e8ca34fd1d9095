"""`policyc lsp` driven as a real subprocess by pygls's LSP client (JSON-RPC over stdio).

Each test starts its own server (`python -m policyc lsp`) and stops it; every wait is
bounded, so a hung server fails the test instead of hanging the suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.lsp_session import ROOT, Session, bounded, run_session
from lsprotocol import types as lsp

CHILD = """\
policy acme.demo version "1.0.0" {
  extends std.baseline
  owner "demo@acme.example"
  context audience: enum { adult, teen, child } = adult

  set sensitive = { self_harm.intent, violence.general }

  rule teen_sensitive: redirect("crisis_resources") when any sensitive and audience == teen
  rule teen_sh: warn("x") when self_harm.intent and audience == teen
}
"""


def pos(text: str, needle: str, delta: int = 0, nth: int = 0) -> lsp.Position:
    """The position of the `nth` occurrence of `needle` in `text` (+ `delta` characters)."""
    at = -1
    for _ in range(nth + 1):
        at = text.index(needle, at + 1)
    at += delta
    line = text.count("\n", 0, at)
    col = at - (text.rfind("\n", 0, at) + 1)
    prefix = text[text.rfind("\n", 0, at) + 1:at]
    col = len(prefix.encode("utf-16-le")) // 2
    return lsp.Position(line=line, character=col)


def doc(uri: str) -> lsp.TextDocumentIdentifier:
    return lsp.TextDocumentIdentifier(uri=uri)


@pytest.fixture()
def child(tmp_path: Path) -> Path:
    p = tmp_path / "demo.pol"
    p.write_text(CHILD)
    return p


def test_help_does_not_import_pygls() -> None:
    code = ("import sys; from policyc.cli import main; sys.argv=['policyc','--help'];\n"
            "try: main()\nexcept SystemExit: pass\n"
            "assert 'pygls' not in sys.modules and 'lsprotocol' not in sys.modules, 'imported'")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    assert "lsp" in r.stdout


def test_diagnostics_open_edit_hover_definition(child: Path) -> None:
    async def body(s: Session) -> None:
        uri = s.open(child)
        found = await s.diagnostics_for(uri, 1)
        # teen_sh is never deciding: teen_sensitive (redirect) beats warn on its region
        dead = [d for d in found if d.code == "POL203"]
        assert dead, [(d.code, d.message) for d in found]
        d = dead[0]
        assert d.range.start == pos(CHILD, "rule teen_sh")
        assert "witness: {" in d.message and "help: remove the rule" in d.message
        assert d.related_information and d.related_information[0].message
        assert list(d.tags or []) == [lsp.DiagnosticTag.Unnecessary]

        # an edit: a syntax error, then fixed again; diagnostics follow each version
        broken = CHILD.replace('owner "demo@acme.example"', 'owner "demo@acme.example" rule')
        s.change(uri, 2, broken)
        found = await s.diagnostics_for(uri, 2)
        assert [d.code for d in found] == ["POL001"], found
        s.change(uri, 3, CHILD.replace("rule teen_sh", "rule teen_sh2"))
        found = await s.diagnostics_for(uri, 3)
        assert any(d.code == "POL203" and "teen_sh2" in d.message for d in found)
        s.change(uri, 4, CHILD)
        await s.diagnostics_for(uri, 4)

        # hover: a category's definition and threshold, a set's members, a rule, a parent
        h = await bounded(s.client.text_document_hover_async(lsp.HoverParams(
            text_document=doc(uri), position=pos(CHILD, "self_harm.intent", 11))))
        assert h is not None
        value = h.contents.value  # type: ignore[union-attr]
        assert "`self_harm.intent`" in value and "threshold in force" in value
        assert "intent to harm themselves" in value
        h = await bounded(s.client.text_document_hover_async(lsp.HoverParams(
            text_document=doc(uri), position=pos(CHILD, "any sensitive", 5))))
        assert h is not None and "`self_harm.intent`, `violence.general`" in h.contents.value  # type: ignore[union-attr]
        h = await bounded(s.client.text_document_hover_async(lsp.HoverParams(
            text_document=doc(uri), position=pos(CHILD, "teen_sensitive", 2))))
        assert h is not None and 'redirect("crisis_resources")' in h.contents.value  # type: ignore[union-attr]
        assert "priority 0" in h.contents.value  # type: ignore[union-attr]
        h = await bounded(s.client.text_document_hover_async(lsp.HoverParams(
            text_document=doc(uri), position=pos(CHILD, "std.baseline", 4))))
        assert h is not None and "version `1.0.0`" in h.contents.value  # type: ignore[union-attr]

        # definition into the standard library: a category, and the parent itself
        std = (ROOT / "stdlib_policies" / "baseline.pol").resolve()
        std_text = std.read_text()
        locs = await bounded(s.client.text_document_definition_async(lsp.DefinitionParams(
            text_document=doc(uri), position=pos(CHILD, "self_harm.intent", 12))))
        assert isinstance(locs, list) and len(locs) == 1, locs
        assert locs[0].uri == std.as_uri()
        assert locs[0].range.start == pos(std_text, "intent \"the speaker")
        # the first segment of a path names the inner category
        locs = await bounded(s.client.text_document_definition_async(lsp.DefinitionParams(
            text_document=doc(uri), position=pos(CHILD, "self_harm.intent", 2))))
        assert isinstance(locs, list) and locs[0].range.start == pos(std_text, "self_harm \"")
        locs = await bounded(s.client.text_document_definition_async(lsp.DefinitionParams(
            text_document=doc(uri), position=pos(CHILD, "std.baseline", 2))))
        assert isinstance(locs, list) and locs[0].uri == std.as_uri()
        assert locs[0].range.start == pos(std_text, "std.baseline version")
        # references of a set: its declaration and its use
        refs = await bounded(s.client.text_document_references_async(lsp.ReferenceParams(
            text_document=doc(uri), position=pos(CHILD, "set sensitive", 5),
            context=lsp.ReferenceContext(include_declaration=True))))
        assert refs is not None and sorted(r.range.start.line for r in refs) == [5, 7]

    run_session(child.parent, body)


def test_completion_formatting_symbols_code_action(child: Path) -> None:
    async def body(s: Session) -> None:
        uri = s.open(child)
        await s.diagnostics_for(uri, 1)

        # completion: after `audience ==`, the enum's values
        text = CHILD.replace("audience == teen\n", "audience == \n", 1)
        s.change(uri, 2, text)
        at = pos(text, "audience == ", 12)
        items = await bounded(s.client.text_document_completion_async(lsp.CompletionParams(
            text_document=doc(uri), position=at)))
        labels = [i.label for i in items.items]  # type: ignore[union-attr]
        assert labels == ["adult", "teen", "child"]
        # after `self_harm.`, its children; elsewhere categories, sets, keywords, actions
        text = CHILD.replace("when any sensitive", "when self_harm. and any sensitive", 1)
        s.change(uri, 3, text)
        items = await bounded(s.client.text_document_completion_async(lsp.CompletionParams(
            text_document=doc(uri), position=pos(text, "self_harm. ", 10))))
        assert {"intent", "instructions"} <= {i.label for i in items.items}  # type: ignore[union-attr]
        s.change(uri, 4, CHILD)
        items = await bounded(s.client.text_document_completion_async(lsp.CompletionParams(
            text_document=doc(uri), position=pos(CHILD, "  rule teen_sh", 2))))
        labels = {i.label for i in items.items}  # type: ignore[union-attr]
        assert {"self_harm.intent", "violence", "sensitive", "audience", "refuse", "rule",
                "when", "most-restrictive"} <= labels

        # formatting: the canonical form, as `policyc fmt` prints it
        messy = CHILD.replace("  owner", "owner").replace("rule teen_sh:", "rule  teen_sh :")
        s.change(uri, 5, messy)
        edits = await bounded(s.client.text_document_formatting_async(
            lsp.DocumentFormattingParams(text_document=doc(uri),
                                         options=lsp.FormattingOptions(tab_size=2,
                                                                       insert_spaces=True))))
        assert edits and len(edits) == 1
        from policyc.syntax.fmt import format_text
        assert edits[0].new_text == format_text(messy) and edits[0].range.start.line == 0

        # document symbols
        s.change(uri, 6, CHILD)
        symbols = await bounded(s.client.text_document_document_symbol_async(
            lsp.DocumentSymbolParams(text_document=doc(uri))))
        assert symbols and symbols[0].name == "acme.demo"
        assert [c.name for c in symbols[0].children] == [  # type: ignore[union-attr]
            "audience", "sensitive", "teen_sensitive", "teen_sh"]

        # the code action for the dead rule removes it; the result lints clean of POL203
        found = await s.diagnostics_for(uri, 6)
        dead = next(d for d in found if d.code == "POL203")
        actions = await bounded(s.client.text_document_code_action_async(lsp.CodeActionParams(
            text_document=doc(uri), range=dead.range,
            context=lsp.CodeActionContext(diagnostics=[dead]))))
        assert actions, actions
        action = actions[0]
        assert isinstance(action, lsp.CodeAction) and action.is_preferred
        assert "remove rule `teen_sh`" in action.title
        (edit,) = action.edit.changes[uri]  # type: ignore[union-attr,index]
        assert edit.new_text == "" and edit.range.start == pos(CHILD, "  rule teen_sh")
        assert edit.range.end == lsp.Position(line=edit.range.start.line + 1, character=0)

    run_session(child.parent, body)


def test_utf16_columns(tmp_path: Path) -> None:
    """A non-BMP character before a finding counts two UTF-16 units."""
    text = CHILD.replace('owner "demo@acme.example"', 'owner "demo 𝔸@acme.example"; ')
    text = CHILD.replace("  rule teen_sh:", '  meta x "𝔸𝔸" rule teen_sh:')
    p = tmp_path / "demo.pol"
    p.write_text(text)

    async def body(s: Session) -> None:
        uri = s.open(p)
        found = await s.diagnostics_for(uri, 1)
        dead = next(d for d in found if d.code == "POL203")
        assert dead.range.start == pos(text, "rule teen_sh")
        assert dead.range.start.character == len('  meta x "𝔸𝔸" ') + 2

    run_session(tmp_path, body)
