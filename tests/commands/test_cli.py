"""CLI behaviour through typer's runner and through a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.policy_text_gen import deep_guards, deep_sets, huge_numbers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from policyc.cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "policyc", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_version_and_help() -> None:
    assert runner.invoke(app, ["--version"]).output.startswith("policyc ")
    result = run("--help")
    assert result.returncode == 0 and "lint" in result.stdout


def test_lint_examples_clean_json() -> None:
    result = run("lint", "examples", "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["schema"] == "policyc/lint/v1"
    assert data["summary"]["error"] == 0 and data["summary"]["warning"] == 0


def test_lint_fail_on_and_select(tmp_path: Path) -> None:
    p = tmp_path / "p.pol"
    p.write_text('policy t.p version "1" {\n  categories { a }\n  default allow\n'
                 "  rule r1: refuse when a\n  rule r2: refuse when a\n}\n")
    assert runner.invoke(app, ["lint", str(p)]).exit_code == 0  # warnings only
    assert runner.invoke(app, ["lint", str(p), "--fail-on", "warning"]).exit_code == 1
    out = runner.invoke(app, ["lint", str(p), "--format", "json", "--select", "POL203"]).output
    codes = {d["code"] for d in json.loads(out)["diagnostics"]}
    assert codes == {"POL203"}
    out = runner.invoke(app, ["lint", str(p), "--format", "json", "--ignore", "POL2,POL4"]).output
    assert json.loads(out)["diagnostics"] == []


def test_inline_suppression(tmp_path: Path) -> None:
    p = tmp_path / "p.pol"
    p.write_text('policy t.p version "1" {\n  owner "o"\n  categories { a }\n  default allow\n'
                 "  rule r1: refuse when a\n  # policyc: ignore[POL203]\n"
                 "  rule r2: refuse when a\n}\n")
    out = runner.invoke(app, ["lint", str(p), "--format", "json"]).output
    assert "POL203" not in {d["code"] for d in json.loads(out)["diagnostics"]}


def test_config_file_selects(tmp_path: Path) -> None:
    (tmp_path / "policyc.toml").write_text('ignore = ["POL203"]\n')
    p = tmp_path / "p.pol"
    p.write_text('policy t.p version "1" {\n  owner "o"\n  categories { a }\n  default allow\n'
                 "  rule r1: refuse when a\n  rule r2: refuse when a\n}\n")
    out = runner.invoke(app, ["lint", str(p), "--format", "json"]).output
    assert "POL203" not in {d["code"] for d in json.loads(out)["diagnostics"]}


def test_sarif_and_github_formats() -> None:
    sarif = json.loads(run("lint", "tests/golden/errors/cycle.pol", "--path",
                           "tests/golden/errors/parents", "--format", "sarif").stdout)
    assert sarif["version"] == "2.1.0"
    gh = run("lint", "tests/golden/errors/duplicate_rule.pol", "--format", "github")
    assert gh.returncode == 2 and gh.stdout.startswith("::error file=")


def test_machine_formats_report_syntax_errors_as_diagnostics() -> None:
    result = run("lint", "tests/golden/errors/missing_brace.pol", "--format", "json")
    assert result.returncode == 2
    assert json.loads(result.stdout)["diagnostics"][0]["code"] == "POL001"


def test_missing_file_and_bad_flag() -> None:
    assert run("lint", "no/such/file.pol").returncode == 2
    assert run("lint", "examples", "--format", "xml").returncode == 2


def test_diff_gate_and_identity() -> None:
    loosened = run("diff", "examples/diff/v1.pol", "examples/diff/v2.pol", "--format", "json",
                   "--fail-on", "loosened")
    assert loosened.returncode == 1
    data = json.loads(loosened.stdout)
    assert data["schema"] == "policyc/diff/v1" and data["summary"]["loosened"] > 0
    same = run("diff", "examples/diff/v1.pol", "examples/diff/v1.pol", "--fail-on", "any")
    assert same.returncode == 0


def test_diff_ignores_text_only_changes(tmp_path: Path) -> None:
    a = tmp_path / "a.pol"
    b = tmp_path / "b.pol"
    a.write_text('policy t.p version "1" {\n  categories { x, y }\n  default allow\n'
                 "  rule one: refuse when x\n  rule two: warn(\"w\") when y\n}\n")
    b.write_text('# reformatted, renamed\npolicy t.p version "1" {\n  default allow\n'
                 "  categories { x, y }\n  rule first:    refuse   when x # c\n"
                 "  rule second: warn(\"w\") when y\n}\n")
    result = runner.invoke(app, ["diff", str(a), str(b), "--format", "json", "--fail-on", "any"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["changes"] == []


def test_graph_formats() -> None:
    assert "graph TD" in run("graph", "examples/acme/chat.pol").stdout
    assert run("graph", "examples/acme/chat.pol", "--format", "dot").stdout.startswith(
        "digraph")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300) | st.text(max_size=300))
def test_garbage_never_raises(tmp_path: Path, data: bytes | str) -> None:
    p = tmp_path / "g.pol"
    p.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8", "replace"))
    for args in (["lint", str(p)], ["lint", str(p), "--format", "json"], ["fmt", "--check",
                                                                           str(p)]):
        result = runner.invoke(app, args)
        assert result.exit_code in (0, 1, 2)
        assert result.exception is None or isinstance(result.exception, SystemExit), args


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_valid_files_never_raise(tmp_path: Path, data: st.DataObject) -> None:
    source = (ROOT / "examples/acme/chat.pol").read_text()
    i = data.draw(st.integers(0, len(source) - 1))
    j = data.draw(st.integers(i, min(len(source), i + 20)))
    # random text, or values and shapes at and past the front end's limits
    junk = data.draw(st.text(max_size=10) | huge_numbers() | deep_guards() | deep_sets())
    p = tmp_path / "m.pol"
    p.write_text(source[:i] + junk + source[j:])
    result = runner.invoke(app, ["lint", str(p), "--path", str(ROOT / "examples/acme")])
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.slow
def test_installed_wheel_outside_repo(tmp_path: Path) -> None:
    """The grammar and stdlib load from an installed wheel, run from another folder."""
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(target), str(ROOT)], check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(target), "NO_COLOR": "1"}
    out = subprocess.run([sys.executable, "-m", "policyc", "lint", str(ROOT / "examples")],
                         cwd=tmp_path, capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    where = subprocess.run([sys.executable, "-c", "import policyc.syntax.parse as p; "
                            "print(p.grammar_path())"], cwd=tmp_path, capture_output=True,
                           text=True, env=env).stdout
    assert str(target) in where and "_grammar" in where
