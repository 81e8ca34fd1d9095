"""SARIF `helpUri`: absolute, from `docs-url` in `[tool.policyc]` / policyc.toml."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from policyc.render.machine import DEFAULT_DOCS_URL

ROOT = Path(__file__).resolve().parents[2]
POLICY = (ROOT / "examples" / "diff" / "v2.pol").read_text(encoding="utf-8")


def _sarif(folder: Path) -> subprocess.CompletedProcess[str]:
    (folder / "p.pol").write_text(POLICY, encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "policyc", "lint", str(folder / "p.pol"),
                           "--format", "sarif"], capture_output=True, text=True, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def _help_uris(proc: subprocess.CompletedProcess[str]) -> dict[str, str]:
    rules = json.loads(proc.stdout)["runs"][0]["tool"]["driver"]["rules"]
    return {r["id"]: r["helpUri"] for r in rules if "helpUri" in r}


def test_default_help_uri_is_absolute(tmp_path: Path) -> None:
    (tmp_path / "policyc.toml").write_text("", encoding="utf-8")
    uris = _help_uris(_sarif(tmp_path))
    assert uris["POL201"] == DEFAULT_DOCS_URL.replace("{code}", "POL201")
    assert all(u.startswith("https://") for u in uris.values())


def test_docs_url_from_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.policyc]\ndocs-url = "https://docs.acme.example/policyc/{version}/rules/{code}/"\n',
        encoding="utf-8")
    import policyc

    uris = _help_uris(_sarif(tmp_path))
    assert uris["POL201"] == f"https://docs.acme.example/policyc/{policyc.__version__}/rules/POL201/"


def test_docs_url_must_be_absolute_with_code(tmp_path: Path) -> None:
    (tmp_path / "policyc.toml").write_text('docs-url = "docs/rules/"\n', encoding="utf-8")
    proc = _sarif(tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "`docs-url` must be an absolute http(s) URL containing `{code}`" in proc.stderr
    assert "Traceback" not in proc.stderr
