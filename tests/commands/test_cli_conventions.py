"""Issue 13 ("Trust first"): CLI conventions, every case through a real subprocess.

B10 no policies found, B11 unknown codes and config keys, B12 compile never overwrites
source and bundles are known by content, B13 `fmt --diff` exit code, C16 `-` and
`--stdin-filename`, C19 colour/quiet/version/`--format json`/metavars/explain, C21
coverage and file counts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHAT = ROOT / "examples" / "acme" / "chat.pol"
STD_CHILD = ROOT / "examples" / "consumer_chat" / "chat.pol"  # extends std.baseline
EVAL_POL, EVAL_DATA = (ROOT / "tests" / "golden" / "eval" / name for name in ("small.pol", "small.jsonl"))
PARENT = 'policy t.parent version "1" {\n  owner "o"\n  categories { a, b }\n  default allow\n' \
    '  rule ra: refuse when a\n  test "a refuses" {\n    given a = 0.9\n    expect refuse\n' \
    "  }\n}\n"
CHILD = 'policy t.child version "1" {\n  extends t.parent\n  owner "o"\n' \
    '  rule rb: warn("w") when b\n' \
    '  test "b warns" {\n    given b = 0.9\n    expect warn("w") by rb\n  }\n}\n'
ESC = "\x1b["


def run(*args: str | Path, stdin: str | bytes | None = None, cwd: Path = ROOT,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    base["PYTHONPATH"] = str(ROOT) + os.pathsep + base.get("PYTHONPATH", "")
    data = stdin.encode() if isinstance(stdin, str) else stdin
    result = subprocess.run([sys.executable, "-m", "policyc", *map(str, args)], cwd=cwd,
                            env={**base, **(env or {})}, input=data, capture_output=True,
                            timeout=180)
    return subprocess.CompletedProcess(result.args, result.returncode,
                                       result.stdout.decode("utf-8", "replace"),
                                       result.stderr.decode("utf-8", "replace"))


def run_bytes(*args: str | Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "policyc", *map(str, args)], cwd=ROOT, env=env,
                          input=stdin, capture_output=True, timeout=180)


@pytest.fixture
def family(tmp_path: Path) -> Path:
    folder = tmp_path / "pols"
    folder.mkdir()
    (folder / "parent.pol").write_text(PARENT)
    (folder / "child.pol").write_text(CHILD)
    return folder


# ---- B10 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["lint", "test", "fmt"])
def test_no_policies_found_is_exit_2(tmp_path: Path, command: str) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("not a policy")
    for folder in ("empty", "other"):
        result = run(command, tmp_path / folder)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "no policies found" in result.stderr
        assert "0 files" not in result.stdout + result.stderr


# ---- B11 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("flag", "value", "guess"), [
    ("--select", "POL999", "did you mean"), ("--select", "FOO", "policyc rules"),
    ("--ignore", "POL2O1", "did you mean `POL201`")])
def test_unknown_codes_are_refused(flag: str, value: str, guess: str) -> None:
    result = run("lint", CHAT, flag, value)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"`{value}`" in result.stderr and guess in result.stderr


@pytest.mark.parametrize(("text", "guess"), [
    ('fail_on = "warning"\n', "did you mean `fail-on`?"),
    ('selct = ["POL2"]\n', "did you mean `select`?"),
    ('select = ["POL2", "POL9X"]\n', "`POL9X`")])
def test_config_keys_and_codes_are_checked(tmp_path: Path, family: Path, text: str,
                                           guess: str) -> None:
    (family / "pyproject.toml").write_text("[tool.policyc]\n" + text)
    result = run("lint", family)
    assert result.returncode == 2, result.stdout + result.stderr
    assert guess in result.stderr
    assert "pyproject.toml" in result.stderr


def test_valid_config_still_works(family: Path) -> None:
    (family / "policyc.toml").write_text('select = ["POL2"]\nfail-on = "warning"\n'
                                         'severity = { POL203 = "error" }\n')
    assert run("lint", family).returncode == 0


# ---- B12 ---------------------------------------------------------------------------------------


def test_compile_refuses_to_overwrite_its_source(family: Path) -> None:
    child = family / "child.pol"
    before = child.read_bytes()
    for target in (child, family / "parent.pol", family / "other.pol"):
        result = run("compile", child, "-o", target)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "help:" in result.stderr
    assert child.read_bytes() == before and not (family / "other.pol").exists()
    assert (family / "parent.pol").read_text() == PARENT


def test_bundle_is_known_by_content_not_suffix(family: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "b.bundle"
    assert run("compile", family / "child.pol", "-o", bundle).returncode == 0
    for name in ("renamed.pol", "renamed.txt", "renamed"):
        copy = tmp_path / name
        shutil.copy(bundle, copy)
        result = run("check", copy, "-s", "b=0.9", "--format", "json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["rule"] == "rb"
    result = run("diff", tmp_path / "renamed.pol", family / "child.pol")
    assert result.returncode == 0, result.stderr
    assert "no semantic change" in result.stdout


# ---- B13 ---------------------------------------------------------------------------------------


def test_fmt_diff_exits_1_when_something_would_change(tmp_path: Path) -> None:
    p = tmp_path / "p.pol"
    p.write_text('policy t.p {\n default allow\n}\n')
    result = run("fmt", "--diff", p)
    assert result.returncode == 1 and "+  default allow" in result.stdout
    assert p.read_text() == 'policy t.p {\n default allow\n}\n'  # nothing written
    assert run("fmt", p).returncode == 0
    assert run("fmt", "--diff", p).returncode == 0


# ---- C16 ---------------------------------------------------------------------------------------


def test_fmt_stdin_to_stdout() -> None:
    messy = 'policy t.p {\n default allow\n}\n'
    result = run("fmt", "-", stdin=messy)
    assert result.returncode == 0, result.stderr
    assert result.stdout == 'policy t.p {\n  default allow\n}\n'
    assert "-1" not in result.stderr
    assert run("fmt", "-", "--check", stdin=messy).returncode == 1
    assert run("fmt", "-", "--check", stdin=result.stdout).returncode == 0
    diff = run("fmt", "-", "--diff", "--stdin-filename", "x/p.pol", stdin=messy)
    assert diff.returncode == 1 and "a/x/p.pol" in diff.stdout


def test_lint_stdin_with_stdin_filename_finds_parents(family: Path, tmp_path: Path) -> None:
    child = (family / "child.pol").read_text()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # run from a folder without the parent: --stdin-filename says where the text lives
    result = run("lint", "-", "--stdin-filename", family / "child.pol",
                 stdin=child.replace("warn", "wran"), cwd=elsewhere)
    assert result.returncode == 2
    assert f"{family / 'child.pol'}:4:" in result.stdout
    ok = run("lint", "-", "--stdin-filename", family / "child.pol", stdin=child, cwd=elsewhere)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    lost = run("lint", "-", stdin=child, cwd=elsewhere)  # no parent near <stdin>
    assert lost.returncode == 2 and "<stdin>" in lost.stdout
    assert run("lint", "-", family / "parent.pol", stdin=child).returncode == 2


def test_check_compile_test_read_stdin(family: Path) -> None:
    child = (family / "child.pol").read_text()
    name = str(family / "child.pol")
    checked = run("check", "-", "--stdin-filename", name, "-s", "b=0.9", "--json", stdin=child)
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["rule"] == "rb"
    compiled = run_bytes("compile", "-", "--stdin-filename", name, "-o", "-",
                         stdin=child.encode())
    assert compiled.returncode == 0, compiled.stderr
    assert compiled.stdout[:2] == b"PK" and b"compiled t.child" in compiled.stderr
    piped = run_bytes("check", "-", "-s", "a=0.9", "--json", stdin=compiled.stdout)
    assert piped.returncode == 0 and json.loads(piped.stdout)["rule"] == "ra"
    tested = run("test", "-", "--stdin-filename", name, stdin=child)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert tested.stdout.rstrip().endswith("1 passed, 0 failed")


# ---- C19 ---------------------------------------------------------------------------------------


def test_no_color_means_no_escapes_at_all(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pol"
    forced = run("lint", missing, env={"FORCE_COLOR": "1"})
    assert ESC in forced.stdout + forced.stderr  # a terminal would be coloured ...
    for env, flags in (({"FORCE_COLOR": "1", "NO_COLOR": "1"}, []),
                       ({"FORCE_COLOR": "1"}, ["--color", "never"])):
        result = run("lint", missing, *flags, env=env)
        assert result.returncode == 2
        assert ESC not in result.stdout + result.stderr, (env, flags)  # ... not even bold
    always = run("--color", "always", "lint", missing)
    assert ESC in always.stdout + always.stderr


def test_version_short_flag_and_quiet(family: Path) -> None:
    assert run("-V").stdout.startswith("policyc ")
    loud = run("lint", family)
    assert loud.returncode == 0 and "checked" in loud.stdout
    for args in (["lint", family, "-q"], ["-q", "lint", family], ["--quiet", "fmt", family]):
        result = run(*args)
        assert result.returncode == 0 and result.stdout == "" and result.stderr == "", args


def test_every_result_has_format_json(family: Path, tmp_path: Path) -> None:
    child = family / "child.pol"
    schemas = {
        "policyc/decision/v1": ["check", child, "-s", "b=0.9", "--format", "json"],
        "policyc/explain/v1": ["explain", child, "-s", "b=0.9", "--format", "json"],
        "policyc/rules/v1": ["rules", "--format", "json"],
        "policyc/compile/v1": ["compile", child, "-o", tmp_path / "c.bundle", "-f", "json"],
        "policyc/eval/v1": ["eval", EVAL_POL, EVAL_DATA, "--format", "json"],
    }
    for schema, args in schemas.items():
        result = run(*args)
        assert result.returncode in (0, 1), (args, result.stderr)
        assert json.loads(result.stdout)["schema"] == schema, args
    # `check --json` stays an alias; eval still writes a file with an explicit option
    assert json.loads(run("check", child, "--json").stdout)["schema"] == "policyc/decision/v1"
    out = tmp_path / "metrics.json"
    result = run("eval", EVAL_POL, EVAL_DATA, "--output", out)
    assert json.loads(out.read_text())["schema"] == "policyc/eval/v1"
    assert not result.stdout.lstrip().startswith("{")  # tables on stdout, JSON in the file


def test_explain_shows_context_defaults_and_thresholds() -> None:
    result = run("explain", CHAT, "-s", "self_harm.intent=0.6", "-c", "audience=teen")
    assert result.returncode == 0, result.stderr
    assert "audience=teen" in result.stdout
    assert "surface=chat (default)" in result.stdout
    assert "when self_harm.intent >= 0.5 and audience in {teen, child}" in result.stdout
    data = json.loads(run("explain", CHAT, "-s", "self_harm.intent=0.6", "-f", "json").stdout)
    assert data["context"]["audience"] == {"value": "adult", "source": "default"}
    rule = data["rules"][0]
    assert rule["rule"] == "adult_support"
    assert {"variable": "self_harm.intent", "text": "self_harm.intent >= 0.5"} \
        in rule["conditions"]


def test_score_on_an_inner_category_lists_its_leaves() -> None:
    result = run("check", CHAT, "--score", "self_harm=0.5")
    assert result.returncode == 2
    assert "not a leaf category" in result.stderr
    assert "`self_harm.intent`" in result.stderr and "`self_harm.support`" in result.stderr
    typo = run("check", CHAT, "--score", "self_harm.intnet=0.5")
    assert typo.returncode == 2 and "did you mean `self_harm.intent`?" in typo.stderr


def test_help_metavars_are_readable() -> None:
    text = run("check", "--help").stdout
    assert "--context KEY=VALUE" in text and "--score CATEGORY=X" in text
    assert "--path DIR" in text and "<list[str]>" not in text and "<list[Path]>" not in text


# ---- C21 ---------------------------------------------------------------------------------------


def test_coverage_summarises_the_standard_library() -> None:
    result = run("test", STD_CHILD)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stdlib_policies" not in result.stdout and "site-packages" not in result.stdout
    assert "standard library (inherited, not listed):" in result.stdout
    data = json.loads(run("test", STD_CHILD, "--format", "json").stdout)["coverage"]
    assert data["stdlib"]["rules"] > 0
    assert all(not c["stdlib"] for c in data["unexercised"])
    assert all(c["policy"].startswith("std.") for c in data["per_rule"] if c["stdlib"])


def test_lint_counts_given_files_and_parents_apart(family: Path) -> None:
    result = run("lint", family / "child.pol")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 file checked (1 parent file read): no findings" in result.stdout
    assert "2 files checked: no findings" in run("lint", family).stdout
