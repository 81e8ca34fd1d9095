"""Language-server latency: an edit → the full semantic lint's diagnostics, warm server.

Starts `policyc lsp` as a subprocess (pygls's client, JSON-RPC over stdio) with the
typing debounce off (`initializationOptions: {"debounceMs": 0}`: the 150 ms pause after
the last keystroke is a choice, not work), opens each policy (every `.pol` under
`examples/` and `stdlib_policies/`, and generated files of `--sizes` rules), makes two
warm-up edits, then `--edits` timed ones, each from `didChange` to the
`publishDiagnostics` of that version (the client has parsed the message by then).
Edits take turns: a rule's argument changes, a rule is added (a copy of one with a new
name), a rule's action changes (so it moves in the ranking); each at another rule of the
file; a file without rules gets a comment. Every edit makes a text not seen before, so no
earlier analysis is reused (region searches above the edited rule are: `lint/memo.py`).
Reports the median and the worst, the server's own analysis time (its log message),
and the goal beside each (issue 18): 100 ms for the example policies, 500 ms for a
1,000-rule file.

    python benchmarks/lsp_latency.py [--edits 10] [--sizes 1000] [--cpu]

`--cpu` times the server's work per edit in this process instead (CPU time: analysis,
conversion, JSON), the figure a loaded machine distorts least.
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

GOAL_EXAMPLE_MS = 100
GOAL_BIG_MS = 500  # the 1,000-rule file
_RULE = re.compile(r'^(\s*rule (\w+): )(allow|warn|redact|redirect|refuse|escalate)'
                   r'(\("([^"]*)"\))?', re.M)


def policies() -> list[Path]:
    return sorted([*ROOT.glob("examples/**/*.pol"), *ROOT.glob("stdlib_policies/**/*.pol")])


def edited(text: str, i: int) -> str:
    """The `i`-th edit of `text` (always applied to the original, always a new text, at a
    rule that moves with `i`: edits land all over the file, as an author's do)."""
    rules = list(_RULE.finditer(text))
    with_arg = [m for m in rules if m.group(5) is not None]
    kind = i % 3
    if kind == 0 and with_arg:
        m = with_arg[(i * 7919) % len(with_arg)]
        return text[:m.start(5)] + f"{m.group(5)}{i}" + text[m.end(5):]
    if not rules:
        return text + f"# edit {i}\n"
    m = rules[(i * 7919) % len(rules)]
    if kind == 1:
        end = text.index("\n", m.start())
        line = text[m.start():end + 1].replace(f"rule {m.group(2)}:", f"rule bench_{i}:", 1)
        return text[:m.start()] + line + text[m.start():]
    new = 'escalate("bench' + str(i) + '")' if m.group(3) != "escalate" else f'warn("b{i}")'
    return text[:m.start(3)] + new + text[m.end(4) if m.group(4) else m.end(3):]


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
        for i in range(edits + 2):  # two warm-up edits
            version += 1
            new = edited(text, i)
            server_ms.clear()
            sent = time.perf_counter()
            client.text_document_did_change(lsp.DidChangeTextDocumentParams(
                text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=new)]))
            got = await wait(uri, version)
            if i >= 2:
                times.append(((got - sent) * 1000, server_ms[-1] if server_ms else float("nan")))
        lines = text.count("\n")
        rows.append((_name(f), lines,
                     statistics.median(t for t, _ in times), max(t for t, _ in times),
                     statistics.median(s for _, s in times)))
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return rows


def cpu(files: list[Path], edits: int) -> list[tuple[str, int, float, float, float]]:
    """`--cpu`: the server's own work per edit in this process, in CPU time (less
    sensitive to a loaded machine): the analysis with the document's memo, the conversion
    to LSP diagnostics and the JSON message; no client, no pipe."""
    import gc
    import json

    from pygls.protocol import default_converter

    from policyc.lint.memo import SearchMemo
    from policyc.lsp import features
    from policyc.lsp.analysis import SourceCache, analyse

    gc.set_threshold(100_000, 50, 50)  # as `policyc lsp` does
    converter = default_converter()
    rows = []
    for f in files:
        text, path = f.read_text(), str(f.resolve())
        cache, memo = SourceCache(), SearchMemo()
        cache.open_docs[path] = text
        analyse(path, text, 1, cache, memo=memo)
        times = []
        for i in range(edits + 2):
            new = edited(text, i)
            cache.open_docs[path] = new
            started = time.process_time()
            analysis = analyse(path, new, i + 2, cache, memo=memo)
            json.dumps(converter.unstructure(lsp.PublishDiagnosticsParams(
                uri=f.resolve().as_uri(), version=i + 2,
                diagnostics=features.diagnostics(analysis))))
            if i >= 2:
                times.append((time.process_time() - started) * 1000)
        rows.append((_name(f), text.count("\n"), statistics.median(times), max(times),
                     float("nan")))
    return rows


def _name(f: Path) -> str:
    return str(f.relative_to(ROOT) if f.is_relative_to(ROOT) else f.name)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--edits", type=int, default=10)
    ap.add_argument("--sizes", default="1000")
    ap.add_argument("--cpu", action="store_true",
                    help="the server's work per edit in-process, CPU time (see `cpu`)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = policies()
        for n in (int(x) for x in args.sizes.split(",") if x):
            p = Path(tmp) / f"generated_{n}_rules.pol"
            p.write_text(generate(n))
            files.append(p)
        rows = cpu(files, args.edits) if args.cpu else asyncio.run(measure(files, args.edits))
    print(f"{'file':<48} {'lines':>6} {'median ms':>10} {'worst ms':>9} {'server ms':>10}"
          f" {'goal ms':>8}  met")
    for name, lines, med, worst, server in rows:
        goal = GOAL_BIG_MS if name.startswith("generated_") else GOAL_EXAMPLE_MS
        print(f"{name:<48} {lines:>6} {med:>10.0f} {worst:>9.0f} {server:>10.0f} {goal:>8}"
              f"  {'yes' if worst <= goal else 'NO'}")


if __name__ == "__main__":
    main()
