"""`policyc lsp`: the language server over stdio (pygls), for `.pol` files.

Diagnostics are the full `policyc lint` of the buffer (front end and semantic rules,
`[tool.policyc]` applied), published on open and save at once and, while typing,
150 ms after the last change (so typing never queues full lints). Requests (hover,
definition, ...) first bring the analysis up to date with the buffer.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from policyc import __version__
from policyc.lint.memo import SearchMemo
from policyc.lsp import features
from policyc.lsp.analysis import Analysis, SourceCache, analyse
from policyc.lsp.positions import set_encoding

DEBOUNCE_S = 0.15
RECENT = 4  # analyses kept per document for reuse


@dataclass
class _Doc:
    analysis: Analysis | None = None
    good: Analysis | None = None  # the last analysis whose buffer parsed (for completion)
    timer: asyncio.TimerHandle | None = None
    #: the last few analyses, newest last, for `analyse` to reuse (edit, then undo)
    recent: list[Analysis] = field(default_factory=list)
    memo: SearchMemo = field(default_factory=SearchMemo)  # region searches, by content
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class PolicyServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("policyc", __version__)
        self.cache = SourceCache()
        self.docs: dict[str, _Doc] = {}
        self.search_path: list[Path] = []
        self.debounce = DEBOUNCE_S

    def path_of(self, uri: str) -> str:
        return str(Path(to_fs_path(uri) or uri).resolve())

    def doc(self, uri: str) -> _Doc:
        return self.docs.setdefault(uri, _Doc())

    async def current(self, uri: str, publish: bool = True) -> Analysis | None:
        """The analysis of the buffer as it is now (computed if the buffer changed)."""
        state = self.doc(uri)
        async with state.lock:
            document = self.workspace.get_text_document(uri)
            version = document.version or 0
            text = document.source
            if state.analysis is not None and state.analysis.version == version \
                    and state.analysis.text == text:
                return state.analysis
            path = self.path_of(uri)
            self.cache.open_docs[path] = text
            loop = asyncio.get_running_loop()
            started = time.perf_counter()
            analysis = await loop.run_in_executor(
                None, analyse, path, text, version, self.cache, self.search_path,
                list(state.recent), state.memo)
            reused = any(a.program is analysis.program for a in state.recent)
            state.recent = [a for a in state.recent if a.text != text][-(RECENT - 1):]
            state.recent.append(analysis)
            self.window_log_message(lsp.LogMessageParams(
                type=lsp.MessageType.Log,
                message=f"analysed {Path(path).name} v{version} in "
                        f"{(time.perf_counter() - started) * 1000:.0f} ms: "
                        f"{len(analysis.diagnostics)} findings"
                        + (" (reused: same text and inputs)" if reused else "")))
            state.analysis = analysis
            if analysis.module is not None:
                state.good = analysis
            if publish:
                self.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(
                    uri=uri, version=version, diagnostics=features.diagnostics(analysis)))
            return analysis

    def files_changed(self) -> None:
        """Files were created, deleted or saved: names may resolve elsewhere now, so no
        earlier analysis is reused."""
        self.cache.files_changed()
        for state in self.docs.values():
            state.recent.clear()

    def schedule(self, uri: str, delay: float) -> None:
        state = self.doc(uri)
        if state.timer is not None:
            state.timer.cancel()
        loop = asyncio.get_running_loop()
        state.timer = loop.call_later(delay, lambda: asyncio.ensure_future(self._refresh(uri)))

    async def _refresh(self, uri: str) -> None:
        if uri in self.docs:
            try:
                await self.current(uri)
            except Exception:  # never let one bad buffer stop the server
                logging.getLogger(__name__).exception("analysis of %s failed", uri)

    def refresh_others(self, changed_uri: str) -> None:
        """A parent changed on screen or on disk: re-check the open documents that read it
        (all of them when `changed_uri` is empty: files changed on disk)."""
        changed = self.path_of(changed_uri) if changed_uri else None
        for uri, state in self.docs.items():
            if uri == changed_uri:
                continue
            read = state.analysis.program.workspace.files if state.analysis else None
            if changed is None or read is None or changed in read:
                self.schedule(uri, self.debounce)


server = PolicyServer()


@server.feature(lsp.INITIALIZE)
def _initialize(ls: PolicyServer, params: lsp.InitializeParams) -> None:
    encoding = ls.workspace.position_encoding if ls.workspace is not None else None
    set_encoding(str(encoding or "utf-16"))
    options = params.initialization_options
    if isinstance(options, dict):
        ls.search_path = [Path(p) for p in options.get("path", []) if isinstance(p, str)]
        if isinstance(options.get("debounceMs"), int | float):
            ls.debounce = max(0.0, options["debounceMs"] / 1000)


@server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
async def _did_open(ls: PolicyServer, params: lsp.DidOpenTextDocumentParams) -> None:
    ls.doc(params.text_document.uri)
    await ls._refresh(params.text_document.uri)
    ls.refresh_others(params.text_document.uri)


@server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
def _did_change(ls: PolicyServer, params: lsp.DidChangeTextDocumentParams) -> None:
    uri = params.text_document.uri
    ls.cache.open_docs[ls.path_of(uri)] = ls.workspace.get_text_document(uri).source
    ls.schedule(uri, ls.debounce)
    ls.refresh_others(uri)


@server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
async def _did_save(ls: PolicyServer, params: lsp.DidSaveTextDocumentParams) -> None:
    ls.files_changed()
    await ls._refresh(params.text_document.uri)


@server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
def _did_close(ls: PolicyServer, params: lsp.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    state = ls.docs.pop(uri, None)
    if state is not None and state.timer is not None:
        state.timer.cancel()
    ls.cache.open_docs.pop(ls.path_of(uri), None)
    ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=uri, diagnostics=[]))
    ls.refresh_others(uri)


@server.feature(lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES)
def _watched(ls: PolicyServer, params: lsp.DidChangeWatchedFilesParams) -> None:
    ls.files_changed()
    ls.refresh_others("")


async def _at(ls: PolicyServer, uri: str, position: lsp.Position) -> tuple[Analysis, int] | None:
    analysis = await ls.current(uri)
    if analysis is None:
        return None
    return analysis, analysis.lines.offset(position)


@server.feature(lsp.TEXT_DOCUMENT_HOVER)
async def _hover(ls: PolicyServer, params: lsp.HoverParams) -> lsp.Hover | None:
    found = await _at(ls, params.text_document.uri, params.position)
    return features.hover(*found) if found else None


@server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
async def _definition(ls: PolicyServer, params: lsp.DefinitionParams) -> list[lsp.Location]:
    found = await _at(ls, params.text_document.uri, params.position)
    return features.definition(*found) if found else []


@server.feature(lsp.TEXT_DOCUMENT_REFERENCES)
async def _references(ls: PolicyServer, params: lsp.ReferenceParams) -> list[lsp.Location]:
    found = await _at(ls, params.text_document.uri, params.position)
    if not found:
        return []
    return features.references(*found, params.context.include_declaration)


@server.feature(lsp.TEXT_DOCUMENT_COMPLETION,
                lsp.CompletionOptions(trigger_characters=[".", " ", "{", ","]))
async def _completion(ls: PolicyServer, params: lsp.CompletionParams) -> lsp.CompletionList:
    uri = params.text_document.uri
    analysis = await ls.current(uri)
    state = ls.doc(uri)
    good = state.good or analysis
    if analysis is None or good is None:
        return lsp.CompletionList(is_incomplete=False, items=[])
    offset = analysis.lines.offset(params.position)
    items = features.completion(good, good.flat, analysis.text, offset)
    return lsp.CompletionList(is_incomplete=False, items=items)


@server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
def _formatting(ls: PolicyServer, params: lsp.DocumentFormattingParams) -> list[lsp.TextEdit]:
    from policyc.diagnostics import PolicycError
    from policyc.lsp.positions import LineIndex
    from policyc.syntax.fmt import format_text

    document = ls.workspace.get_text_document(params.text_document.uri)
    text = document.source
    try:
        out = format_text(text, ls.path_of(params.text_document.uri))
    except PolicycError:
        return []  # the diagnostics already say why it does not parse
    if out == text:
        return []
    lines = LineIndex(text)
    return [lsp.TextEdit(range=lines.range(0, len(text)), new_text=out)]


@server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
async def _symbols(ls: PolicyServer, params: lsp.DocumentSymbolParams
                   ) -> list[lsp.DocumentSymbol]:
    analysis = await ls.current(params.text_document.uri)
    return features.document_symbols(analysis) if analysis else []


@server.feature(lsp.TEXT_DOCUMENT_CODE_ACTION,
                lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix]))
async def _code_action(ls: PolicyServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
    uri = params.text_document.uri
    analysis = await ls.current(uri)
    if analysis is None:
        return []
    start = analysis.lines.offset(params.range.start)
    end = analysis.lines.offset(params.range.end)
    return features.code_actions(analysis, start, end, uri)


def main(argv: Any = None) -> None:
    """Serve LSP on stdin/stdout until the client says `exit`."""
    gc.set_threshold(100_000, 50, 50)  # big acyclic trees per edit (cli.main does the same)
    logging.basicConfig(level=logging.WARNING)
    server.start_io()
