"""A `policyc lsp` subprocess driven by pygls's LSP client (JSON-RPC over stdio), for the
tests of tests/lsp/. Every wait is bounded, so a hung server fails the test instead of
hanging the suite."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from lsprotocol import types as lsp
from pygls.lsp.client import LanguageClient

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60.0  # per step: generous for a loaded CI machine, but never forever
T = TypeVar("T")


class Session:
    """One server process and the client talking to it, with diagnostics collected."""

    def __init__(self, root: Path, options: dict[str, Any] | None = None):
        self.root = root
        self.options = options
        self.logs: list[str] = []
        self.client = LanguageClient("policyc-tests", "1")
        self.diagnostics: dict[str, list[lsp.PublishDiagnosticsParams]] = {}
        self.changed = asyncio.Event()

        @self.client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def _publish(params: lsp.PublishDiagnosticsParams) -> None:
            self.diagnostics.setdefault(params.uri, []).append(params)
            self.changed.set()

        @self.client.feature(lsp.WINDOW_LOG_MESSAGE)
        def _log(params: lsp.LogMessageParams) -> None:
            self.logs.append(params.message)

    async def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        await self.client.start_io(sys.executable, "-m", "policyc", "lsp", cwd=str(self.root),
                                   env=env)
        await bounded(self.client.initialize_async(lsp.InitializeParams(
            capabilities=lsp.ClientCapabilities(), root_uri=self.root.as_uri(),
            initialization_options=self.options)))
        self.client.initialized(lsp.InitializedParams())

    async def stop(self) -> None:
        try:
            await asyncio.wait_for(self.client.shutdown_async(None), 10)
            self.client.exit(None)
        finally:
            await asyncio.wait_for(self.client.stop(), 10)

    def open(self, path: Path, text: str | None = None) -> str:
        uri = path.resolve().as_uri()
        self.client.text_document_did_open(lsp.DidOpenTextDocumentParams(
            text_document=lsp.TextDocumentItem(uri=uri, language_id="pol", version=1,
                                               text=path.read_text() if text is None else text)))
        return uri

    def change(self, uri: str, version: int, text: str) -> None:
        self.client.text_document_did_change(lsp.DidChangeTextDocumentParams(
            text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=text)]))

    async def diagnostics_for(self, uri: str, version: int | None = None
                              ) -> list[lsp.Diagnostic]:
        """The diagnostics published for `uri` (for `version`, when given)."""
        async def wait() -> list[lsp.Diagnostic]:
            while True:
                for p in reversed(self.diagnostics.get(uri, [])):
                    if version is None or p.version == version:
                        return p.diagnostics
                self.changed.clear()
                await self.changed.wait()

        return await bounded(wait())


async def bounded(aw: Awaitable[T]) -> T:
    return await asyncio.wait_for(aw, TIMEOUT)


def run_session(root: Path, body: Callable[[Session], Awaitable[Any]],
                options: dict[str, Any] | None = None) -> Any:
    async def main() -> Any:
        session = Session(root, options)
        await session.start()
        try:
            return await body(session)
        finally:
            await session.stop()

    return asyncio.run(main())
