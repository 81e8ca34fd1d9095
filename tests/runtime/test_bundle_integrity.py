"""Bundle determinism, tamper detection, model-path confinement, runtime import isolation."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from policyc.cli import app
from policyc.compile.pipeline import compile_file
from policyc.runtime import Bundle, BundleError, InvalidEvent

POLICY = """policy t.a version "1.0" {
  owner "x@y"
  context audience: enum { adult, teen, child }
  context pro: bool = false
  context age: number
  categories { violence { weapons, graphic } pii { email } }
  detector pii.email = regex "[a-z]+@[a-z]+\\\\.com"
  detector violence.weapons = keywords { "pipe bomb" }
  threshold violence.graphic 0.3
  resolve most-restrictive
  default allow
  locked rule lk: refuse when violence.weapons
  rule r1: redirect("x") when violence and audience in { teen, child }
  rule r2: redact("pii") when pii.email
  rule r3: warn("new") when age < 3 and not pro
  test "t" { given audience = teen, violence.graphic = 0.5 expect redirect("x") }
}
"""

runner = CliRunner()


@pytest.fixture
def pol(tmp_path: Path) -> Path:
    p = tmp_path / "a.pol"
    p.write_text(POLICY)
    return p


def test_compile_is_deterministic(pol: Path, tmp_path: Path) -> None:
    a, b = compile_file(pol), compile_file(pol)
    assert a.bundle is not None and a.bundle == b.bundle
    out1, out2 = tmp_path / "1.bundle", tmp_path / "2.bundle"
    assert runner.invoke(app, ["compile", str(pol), "-o", str(out1)]).exit_code == 0
    os.utime(pol, (0, 0))
    result = runner.invoke(app, ["compile", str(pol), "-o", str(out2)])
    assert result.exit_code == 0
    assert out1.read_bytes() == out2.read_bytes()
    assert "sha256:" in result.output and "cells" in result.output


def test_bundle_decides_and_carries_identity(pol: Path) -> None:
    state = compile_file(pol)
    assert state.bundle is not None and state.manifest is not None
    b = Bundle.from_bytes(state.bundle)
    d = b.check(text="mail bob@ex.com now", context={"audience": "adult", "age": 5})
    assert (d.action, d.argument, d.rule) == ("redact", "pii", "r2")
    assert d.redacted == "mail [REDACTED] now" and d.spans == [(5, 15)]
    assert d.hash == state.manifest.hash and d.policy == "t.a"
    assert state.manifest.tests[0].expect is not None


@pytest.mark.parametrize("event", [
    {"context": {"audience": "adult"}},                          # missing, no default
    {"context": {"audience": "elder", "age": 1}},               # undeclared enum value
    {"context": {"audience": "adult", "age": 1, "x": 1}},       # unknown attribute
    {"context": {"audience": "adult", "age": 1}, "scores": {"pii.email": 1.5}},
    {"context": {"audience": "adult", "age": 1}, "scores": {"pii": 0.5}},  # inner category
    {"context": {"audience": "adult", "age": 1, "pro": "yes"}},
])
def test_invalid_events_are_reported(pol: Path, event: dict) -> None:
    state = compile_file(pol)
    assert state.bundle is not None
    with pytest.raises(InvalidEvent):
        Bundle.from_bytes(state.bundle).check(**event)


def _rewrite(data: bytes, name: str, change: object) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            content = src.read(info)
            if info.filename == name:
                content = change(content)  # type: ignore[operator]
            dst.writestr(info, content)
    return out.getvalue()


def test_tampered_bundles_are_refused(pol: Path, tmp_path: Path) -> None:
    state = compile_file(pol)
    data = state.bundle
    assert data is not None

    def flip_table(b: bytes) -> bytes:
        return b[:-1] + bytes([b[-1] ^ 1])

    def edit_manifest(b: bytes) -> bytes:
        m = json.loads(b)
        m["rules"][0]["decision"]["action"] = "allow"
        return json.dumps(m).encode()

    def bad_schema(b: bytes) -> bytes:
        m = json.loads(b)
        m["schema"] = "policyc/bundle/v9"
        return json.dumps(m).encode()

    cases = [data[: len(data) // 2], b"not a zip",
             _rewrite(data, "tables/entries.npy", flip_table),
             _rewrite(data, "manifest.json", edit_manifest),
             _rewrite(data, "manifest.json", bad_schema)]
    for bad in cases:
        with pytest.raises(BundleError):
            Bundle.from_bytes(bad)
    path = tmp_path / "bad.bundle"
    path.write_bytes(cases[3])
    result = runner.invoke(app, ["check", str(path), "-c", "audience=teen", "-c", "age=3"])
    assert result.exit_code == 2
    assert "hash mismatch" in result.output


@pytest.mark.parametrize("model_path", ["../outside.onnx", "/etc/passwd", "link/m.onnx",
                                        "missing.onnx"])
def test_model_path_must_stay_in_folder(tmp_path: Path, model_path: str) -> None:
    folder = tmp_path / "pol"
    folder.mkdir()
    (tmp_path / "outside.onnx").write_bytes(b"x")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "m.onnx").write_bytes(b"x")
    (folder / "link").symlink_to(tmp_path / "elsewhere")
    (folder / "p.pol").write_text(
        'policy t.m version "1" {\n  categories { a }\n'
        f'  classifier m = onnx "{model_path}" {{ labels {{ a = "a" }} }}\n'
        '  default allow\n  rule r: refuse when a\n}\n')
    result = runner.invoke(app, ["compile", str(folder / "p.pol"), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    assert "POL116" in result.output
    assert not (tmp_path / "o").exists()


def test_runtime_imports_no_parser_nor_semantics(pol: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "a.bundle"
    assert runner.invoke(app, ["compile", str(pol), "-o", str(bundle)]).exit_code == 0
    code = (
        "import sys\n"
        "from policyc.runtime import Bundle\n"
        f"b = Bundle.load({str(bundle)!r})\n"
        "d = b.check(text='a pipe bomb', context={'audience': 'adult', 'age': 9})\n"
        "assert d.action == 'refuse', d\n"
        "bad = [m for m in sys.modules if m == 'lark' or m.startswith(('lark.',"
        " 'policyc.syntax', 'policyc.semantics', 'policyc.lint', 'onnxruntime'))]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])
