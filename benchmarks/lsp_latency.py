"""Language-server latency: an edit → the full semantic lint's diagnostics, warm server.

Starts `policyc lsp` as a subprocess (pygls's client, JSON-RPC over stdio) with the
typing debounce off (`initializationOptions: {"debounceMs": 0}`: the 150 ms pause after
the last keystroke is a choice, not work), opens each policy, warms up, then makes
`--edits` edits (a rule's argument changes, so the lint really reruns) and times each
from `didChange` to the `publishDiagnostics` of that version. Reports the median and
the worst, and the server's own analysis time (its log message). Goals (issue 18): the
example policies within 100 ms, a 1,000-rule file within 500 ms.

    python benchmarks/lsp_latency.py [--edits 10] [--sizes 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types as lsp
from pygls.lsp.client import LanguageClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_policy import generate  # noqa: E402

EXAMPLES = ["examples/acme/chat.pol", "examples/coding_agent/agent.pol",
            "examples/consumer_chat/chat.pol", "examples/healthcare/assistant.pol"]


async def measure(files: list[Path], edits: int) -> list[tuple[str, int, float, float, float]]:
    client = LanguageClient("bench", "1")
    published: dict[tuple[str, int], float] = {}
    server_ms: list[float] = []
    event = asyncio.Event()

    @client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def _publish(params: lsp.PublishDiagnosticsParams) -> None:
        published[(params.uri, params.version or 0)] = time.perf_counter()
        event.set()

    @client.feature(lsp.WINDOW_LOG_MESSAGE)
    def _log(params: lsp.LogMessageParams) -> None:
        m = re.search(r"in (\d+) ms", params.message)
        if m:
            server_ms.append(float(m.group(1)))

    async def wait(uri: str, version: int) -> float:
        while (uri, version) not in published:
            event.clear()
            await asyncio.wait_for(event.wait(), 60)
        return published[(uri, version)]

    await client.start_io(sys.executable, "-m", "policyc", "lsp", cwd=str(ROOT))
    await client.initialize_async(lsp.InitializeParams(
        capabilities=lsp.ClientCapabilities(), initialization_options={"debounceMs": 0}))
    client.initialized(lsp.InitializedParams())
    rows = []
    for f in files:
        text = f.read_text()
        uri = f.resolve().as_uri()
        client.text_document_did_open(lsp.DidOpenTextDocumentParams(
            text_document=lsp.TextDocumentItem(uri=uri, language_id="pol", version=1,
                                               text=text)))
        await wait(uri, 1)
        times = []
        version = 1
        arg = re.search(r'(warn|redirect|redact|escalate)\("([^"]*)"\)', text)
        for i in range(edits + 2):  # two warm-up edits
            version += 1
            new = text if arg is None else \
                text[:arg.start(2)] + f"{arg.group(2)}{i}" + text[arg.end(2):]
            server_ms.clear()
            sent = time.perf_counter()
            client.text_document_did_change(lsp.DidChangeTextDocumentParams(
                text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=new)]))
            got = await wait(uri, version)
            if i >= 2:
                times.append(((got - sent) * 1000, server_ms[-1] if server_ms else float("nan")))
        lines = text.count("\n")
        rows.append((str(f.relative_to(ROOT) if f.is_relative_to(ROOT) else f.name), lines,
                     statistics.median(t for t, _ in times), max(t for t, _ in times),
                     statistics.median(s for _, s in times)))
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--edits", type=int, default=10)
    ap.add_argument("--sizes", default="1000")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = [ROOT / e for e in EXAMPLES]
        for n in (int(x) for x in args.sizes.split(",") if x):
            p = Path(tmp) / f"big{n}.pol"
            p.write_text(generate(n))
            files.append(p)
        rows = asyncio.run(measure(files, args.edits))
    print(f"{'file':<40} {'lines':>6} {'median ms':>10} {'worst ms':>9} {'server ms':>10}")
    for name, lines, med, worst, server in rows:
        print(f"{name:<40} {lines:>6} {med:>10.0f} {worst:>9.0f} {server:>10.0f}")


if __name__ == "__main__":
    main()
