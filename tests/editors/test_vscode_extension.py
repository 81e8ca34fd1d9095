"""The VS Code extension folder (editors/vscode/): a valid manifest whose contributions
exist, and an extension.js that starts `policyc lsp` over stdio or degrades to
highlighting only (run under node against stub `vscode` modules)."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXT = ROOT / "editors" / "vscode"


def test_manifest_contributions_exist() -> None:
    manifest = json.loads((EXT / "package.json").read_text(encoding="utf-8"))
    assert (EXT / manifest["main"]).is_file()
    (language,) = manifest["contributes"]["languages"]
    assert language["id"] == "pol" and language["extensions"] == [".pol"]
    config = json.loads((EXT / language["configuration"]).read_text(encoding="utf-8"))
    assert config["comments"] == {"lineComment": "#"}
    (grammar,) = manifest["contributes"]["grammars"]
    tm = json.loads((EXT / grammar["path"]).read_text(encoding="utf-8"))
    assert grammar["language"] == "pol" and grammar["scopeName"] == tm["scopeName"] == "source.pol"
    assert set(manifest["contributes"]["configuration"]["properties"]) == {
        "policyc.path", "policyc.lsp.enable"}
    assert "vscode-languageclient" in manifest["dependencies"]
    lock = json.loads((EXT / "package-lock.json").read_text(encoding="utf-8"))
    assert lock["packages"][""]["dependencies"] == manifest["dependencies"]


def _script(path: Path, exit_code: int) -> Path:
    path.write_text(f"#!/bin/sh\nexit {exit_code}\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_extension_starts_or_degrades(tmp_path: Path) -> None:
    assert shutil.which("node"), "node not found (`.ci/run` installs it)"
    ok = _script(tmp_path / "policyc-ok", 0)
    no_lsp = _script(tmp_path / "policyc-old", 2)
    proc = subprocess.run(["node", str(EXT / "test" / "extension_smoke.js"), str(ok), str(no_lsp)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("ok ") == 5
