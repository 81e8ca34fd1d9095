"""docs/serve.md's curl examples and the example gateway run against a real server and
print what the page shows (`doc_commands` reads the page's ```console blocks)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from helpers import doc_commands
from helpers.serve_process import REPO, Server

PAGE = REPO / "docs" / "serve.md"
SHOWN_URL = "http://127.0.0.1:8321"


def _compile(pol: Path) -> bytes:
    from policyc.commands.inputs import load_inputs
    from policyc.compile.pipeline import compile_program

    state = compile_program(load_inputs([pol], []))
    assert state.bundle is not None
    return state.bundle


def test_serve_page_examples(tmp_path: Path) -> None:
    (tmp_path / "chat.pbundle").write_bytes(_compile(REPO / "examples/consumer_chat/chat.pol"))
    (tmp_path / "agent.pbundle").write_bytes(_compile(REPO / "examples/coding_agent/agent.pol"))
    s = Server(["chat.pbundle", "agent.pbundle"], tmp_path)
    examples = doc_commands.examples(PAGE)
    assert len(examples) >= 9
    try:
        for ex in examples:
            command = ex.command.replace(SHOWN_URL, s.url)
            if command.startswith("python "):
                argv = [sys.executable, *command.split(" ", 2)[1:2],
                        command.split(" ", 2)[2].strip('"')]
                r = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=60,
                                   env={**os.environ, "PYTHONPATH": str(REPO),
                                        "POLICYC_URL": s.url})
            else:
                assert command.startswith(("curl ", "printf ")), command
                r = subprocess.run(["bash", "-c", command], capture_output=True, text=True,
                                   timeout=60)
            assert r.returncode == ex.exit, (ex.where, r.stdout, r.stderr)
            missing = doc_commands.missing_lines(ex.shown, r.stdout + r.stderr)
            assert not missing, (ex.where, missing, r.stdout)
    finally:
        s.stop()
