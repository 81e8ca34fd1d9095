"""Hostile input to the front end, through a real subprocess: every case is refused with
a located error (file:line:col, the source line, a caret, a `help:` line) and exit code 2,
never a traceback, and well within a time limit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAD = 'policy t.hostile version "1" {\n  owner "o"\n  categories { x }\n  default allow\n'


def run(*args: str | Path, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "policyc", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def assert_located(result: subprocess.CompletedProcess[str], where: str) -> str:
    """Exit 2, no traceback, `--> where`, a caret and a help line; the output."""
    out = result.stdout + result.stderr
    assert "Traceback" not in out, out
    assert result.returncode == 2, out
    assert f"--> {where}" in out, out
    assert "^" in out and "help:" in out, out
    return out


def test_nul_in_model_path_is_a_located_error(tmp_path: Path) -> None:
    (tmp_path / "p.pol").write_text(
        HEAD + '  classifier m = onnx "a\\u0000b.onnx" { labels { x = "a" } }\n}\n')
    for command in ("lint", "compile"):
        args = ["-o", "p.bundle"] if command == "compile" else []
        out = assert_located(run(command, "p.pol", *args, cwd=tmp_path), "p.pol:5:3")
        assert "NUL" in out


def test_model_path_naming_a_folder_says_so(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "p.pol").write_text(
        HEAD + '  classifier m = onnx "models" { labels { x = "a" } }\n}\n')
    out = assert_located(run("lint", "p.pol", cwd=tmp_path), "p.pol:5:3")
    assert "is a folder" in out and "does not exist" not in out


def _chain(folder: Path, n: int) -> None:
    """p0 extends p1 extends ... p{n-1}: n - 1 levels of `extends` above p0."""
    for i in range(n):
        parent = f"  extends p{i + 1}\n" if i + 1 < n else "  categories { x }\n"
        (folder / f"p{i}.pol").write_text(
            f'policy p{i} version "1" {{\n{parent}  owner "o"\n  default allow\n'
            f"  rule r{i}: refuse when x\n}}\n")


def test_a_very_deep_extends_chain_is_a_limit_error_not_a_recursion_error(tmp_path: Path) -> None:
    _chain(tmp_path, 1500)
    for command in ("lint", "compile"):
        args = ["-o", "p.bundle"] if command == "compile" else []
        out = assert_located(run(command, "p0.pol", *args, cwd=tmp_path),
                             "p1370.pol:2:11")  # 129 levels above p1370
        assert "error[POL004]: policy hierarchy is nested too deeply" in out
        assert out.count("POL004") == 1


def test_extends_depth_limit_boundary(tmp_path: Path) -> None:
    ok, over = tmp_path / "ok", tmp_path / "over"
    ok.mkdir()
    over.mkdir()
    _chain(ok, 129)  # 128 levels above p0: allowed
    result = run("lint", "p0.pol", cwd=ok)
    assert result.returncode != 2 and "POL004" not in result.stdout, result.stdout
    _chain(over, 130)
    assert_located(run("lint", "p0.pol", cwd=over), "p0.pol:2:11")


ONCE_CASES = [
    ("default refuse", "two `default` declarations", "p.pol:5:3"),
    ("resolve priority\n  resolve unique", "two `resolve` declarations", "p.pol:6:3"),
    ("on_error refuse\n  on_error allow", "two `on_error` declarations", "p.pol:6:3"),
    ('owner "p"', "two `owner` declarations", "p.pol:5:3"),
    ('meta k "a"\n  meta k "b"', "two `meta k` entries", "p.pol:6:3"),
    ("gate accuracy >= 0.9\n  gate accuracy >= 0.5", "two gates on `accuracy`", "p.pol:6:3"),
    ("extends t.base, t.base", "extends `t.base` twice", "p.pol:5:19"),
    ('test "t" { given x = 1, x = 0 expect refuse }', "test `t` gives `x` twice", "p.pol:5:27"),
]


@pytest.mark.parametrize(("item", "message", "where"), ONCE_CASES,
                         ids=[m for _, m, _ in ONCE_CASES])
def test_a_second_once_only_declaration_is_an_error(tmp_path: Path, item: str, message: str,
                                                   where: str) -> None:
    """The merge keeps one: the other used to be replaced or dropped with no finding."""
    (tmp_path / "base.pol").write_text('policy t.base version "1" {\n  owner "o"\n}\n')
    (tmp_path / "p.pol").write_text(HEAD + f"  {item}\n  rule r: refuse when x\n}}\n")
    for command in ("lint", "compile"):
        args = ["-o", "p.bundle"] if command == "compile" else []
        out = assert_located(run(command, "p.pol", *args, cwd=tmp_path), where)
        assert "error[POL104]" in out and message in out and "first " in out, out


@pytest.mark.parametrize("command", ["lint", "compile", "fmt", "test"])
def test_a_file_that_is_not_utf8_is_located_at_its_first_bad_byte(tmp_path: Path,
                                                                  command: str) -> None:
    """It was `cannot read ...: 'utf-8' codec can't decode byte 0xe9 in position 38` at
    1:1, with no source line (CRLF line endings and a BOM do not shift the position)."""
    (tmp_path / "p.pol").write_bytes(
        b'\xef\xbb\xbfpolicy a version "1" {\r\n  owner "\xe9t\xe9"\r\n}\r\n')
    args = ["-o", "p.bundle"] if command == "compile" else []
    out = assert_located(run(command, "p.pol", *args, cwd=tmp_path), "p.pol:2:10")
    assert "not UTF-8 text (byte 0xe9" in out and 'owner "' in out, out
    assert "codec" not in out


def test_inputs_that_are_not_files_say_what_they_are(tmp_path: Path) -> None:
    """A pipe, a device, a looping or a broken symbolic link were all 'no such file'."""
    os.mkfifo(tmp_path / "fifo.pol")
    (tmp_path / "loop.pol").symlink_to(tmp_path / "loop2.pol")
    (tmp_path / "loop2.pol").symlink_to(tmp_path / "loop.pol")
    (tmp_path / "broken.pol").symlink_to(tmp_path / "gone.pol")
    cases = [("fifo.pol", "`fifo.pol` is not a file or folder (a pipe or a device)"),
             (os.devnull, f"`{os.devnull}` is not a file or folder"),
             ("loop.pol", "symbolic link `loop.pol` loops"),
             ("broken.pol", "symbolic link `broken.pol` points to"),
             ("missing.pol", "no such file or folder `missing.pol`")]
    for path, message in cases:
        result = run("lint", path, cwd=tmp_path, timeout=30)
        out = result.stdout + result.stderr
        assert result.returncode == 2 and "Traceback" not in out, out
        assert f"error[POL002]: {message}" in out and "help:" in out, out


def test_a_misspelt_gate_metric_is_located_by_lint_compile_and_eval(tmp_path: Path) -> None:
    """lint and compile accepted `gate recal_x ...`; only `eval` refused it, with no file,
    line or caret."""
    (tmp_path / "p.pol").write_text(HEAD + "  gate recal_x >= 0.9\n  rule r: refuse when x\n}\n")
    (tmp_path / "d.jsonl").write_text('{"scores": {"x": 0.9}, "label": "harmful"}\n')
    for args in (["lint", "p.pol"], ["compile", "p.pol", "-o", "p.bundle"],
                 ["eval", "p.pol", "d.jsonl"]):
        out = assert_located(run(*args, cwd=tmp_path), "p.pol:5:3")
        assert "unknown metric `recal_x`" in out and "did you mean `recall_x`?" in out, out


HINT_CASES = [
    ('test "t" { given nosuch = 1 expect allow }', "p.pol:5:20", "`given` sets a leaf"),
    ('test "t" { given x = 1 expect refuse by nosuch }', "p.pol:5:3", "`by` names a rule"),
    ('test "t" { given x = 2 expect allow }', "p.pol:5:20", "a score is a probability"),
    ('test "t" { given x = true expect allow }', "p.pol:5:20", "a score is a probability"),
    ('test "t" { given v = 0.7 expect allow }', "p.pol:5:20", "`v.w = 0.7`"),
    ('detector v = regex "a"', "p.pol:5:3", "detector v.NAME"),
    ('detector x = keywords { "" }', "p.pol:5:3", "remove the empty ones"),
]


@pytest.mark.parametrize(("item", "where", "hint"), HINT_CASES, ids=[h for *_, h in HINT_CASES])
def test_every_error_has_a_hint(tmp_path: Path, item: str, where: str, hint: str) -> None:
    """These errors had no `help:` line (or, for an empty keyword, one about RE2)."""
    head = HEAD.replace("categories { x }", "categories { x, v { w } }")
    (tmp_path / "p.pol").write_text(head + f"  {item}\n  rule r: refuse when x\n}}\n")
    out = assert_located(run("lint", "p.pol", cwd=tmp_path), where)
    assert hint in out and "RE2" not in out, out


def test_a_search_path_that_is_not_a_folder_is_refused(tmp_path: Path) -> None:
    """`--path` was skipped silently when missing or a file: a typo showed up only as an
    unknown parent."""
    (tmp_path / "p.pol").write_text(HEAD + "}\n")
    for bad, what in (("nosuch", "does not exist"), ("p.pol", "is not a folder")):
        for command in ("lint", "compile", "test"):
            args = ["-o", "p.bundle"] if command == "compile" else []
            result = run(command, "p.pol", *args, "--path", bad, cwd=tmp_path)
            out = result.stdout + result.stderr
            assert result.returncode == 2 and "Traceback" not in out, out
            assert f"error: `--path {bad}` {what}" in out and "help:" in out, out
    assert run("lint", "p.pol", "--path", ".", cwd=tmp_path).returncode == 0


def _and_of_ors(n: int) -> str:
    cats = ", ".join(f"a{i}, b{i}" for i in range(n))
    guard = " and ".join(f"(a{i} or b{i})" for i in range(n))
    return (f'policy t.dnf version "1" {{\n  owner "o"\n  categories {{ {cats} }}\n'
            f"  default allow\n  rule r: refuse when {guard}\n}}\n")


def test_a_guard_with_an_exponential_normal_form_is_a_limit_error(tmp_path: Path) -> None:
    """16 `(a or b)` conjuncts (one 300-character line) have 65,536 boxes: lint, compile
    and diff ran for hours."""
    (tmp_path / "p.pol").write_text(_and_of_ors(16))
    (tmp_path / "q.pol").write_text(_and_of_ors(10))  # 1,024 boxes: under the limit, fine
    for args in (["lint", "p.pol"], ["compile", "p.pol", "-o", "p.bundle"],
                 ["diff", "q.pol", "p.pol"], ["test", "p.pol"]):
        out = assert_located(run(*args, cwd=tmp_path, timeout=30), "p.pol:5:23")
        assert "error[POL004]: guard of rule `r` is too complex" in out, out
    result = run("lint", "q.pol", cwd=tmp_path, timeout=30)
    assert result.returncode != 2 and "POL004" not in result.stdout, result.stdout


@pytest.mark.parametrize(("item", "where"), [
    ('rule r: warn("ok\u202e") when x', "p.pol:5:19"),
    ("# \u2067 a comment", "p.pol:5:5"),
], ids=["string", "comment"])
def test_bidi_controls_in_strings_and_comments_are_refused(tmp_path: Path, item: str,
                                                           where: str) -> None:
    """Trojan Source: a raw RIGHT-TO-LEFT OVERRIDE in a string or comment was accepted."""
    (tmp_path / "p.pol").write_text(HEAD + f"  {item}\n  rule s: refuse when x\n}}\n",
                                    encoding="utf-8")
    for command in ("lint", "compile", "fmt"):
        args = ["-o", "p.bundle"] if command == "compile" else []
        out = assert_located(run(command, "p.pol", *args, cwd=tmp_path), where)
        assert "error[POL001]: bidirectional control character" in out, out
    (tmp_path / "e.pol").write_text(HEAD + '  rule r: warn("ok\\u202e") when x\n}\n')
    assert run("lint", "e.pol", cwd=tmp_path).returncode == 0  # the escape is fine


def test_diff_replay_says_how_many_lines_it_skipped(tmp_path: Path) -> None:
    """`diff --replay` of a file of bad lines printed "replay of 3 events: 0 loosened, ..."
    as if nothing changed on three real events."""
    (tmp_path / "p.pol").write_text(HEAD + "  rule r: refuse when x\n}\n")
    (tmp_path / "e.jsonl").write_bytes(b'\xff\n{"text": 1}\n[1, 2]\n{"scores": {"x": 0.9}}\n')
    for fmt in ("text", "markdown"):
        result = run("diff", "p.pol", "p.pol", "--replay", "e.jsonl", "--format", fmt,
                     cwd=tmp_path)
        assert "Traceback" not in result.stderr and result.returncode == 0, result.stderr
        assert "of 4 events (3 skipped: not valid events" in result.stdout, result.stdout


def test_an_unwritable_output_names_the_path_and_a_fix(tmp_path: Path) -> None:
    """`cannot write /proc/x: No such file or directory` had no help line."""
    (tmp_path / "p.pol").write_text(HEAD + "  rule r: refuse when x\n}\n")
    (tmp_path / "d.jsonl").write_text('{"scores": {"x": 0.9}, "label": "harmful"}\n')
    cases = [("/proc/x", "no file can be created in `/proc`"),
             ("missing/x.bundle", "the folder `missing` does not exist"),
             (".", "that is a folder"),
             ("p.pol/x", "a part of the path is a file")]
    for out, hint in cases:
        for args in (["compile", "p.pol", "-o", out], ["eval", "p.pol", "d.jsonl", "-o", out]):
            if args[0] == "eval" and out.startswith("missing"):
                continue  # eval creates the folders of its JSON output
            result = run(*args, cwd=tmp_path)
            assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
            assert f"error: cannot write `{out}`" in result.stderr, result.stderr
            assert f"help: {hint}" in result.stderr, result.stderr


def test_a_large_guard_of_two_sets_is_within_the_limit(tmp_path: Path) -> None:
    """`any S and any T` over two sets of 64 categories has 4,096 boxes, the limit: a
    taxonomy of that size is ordinary, so it lints (an earlier limit of 1,024 refused it)."""
    s = ", ".join(f"s{i}" for i in range(64))
    t = ", ".join(f"t{i}" for i in range(64))
    (tmp_path / "p.pol").write_text(
        f'policy t.sets version "1" {{\n  owner "o"\n  categories {{ {s}, {t} }}\n'
        f"  set S = {{ {s} }}\n  set T = {{ {t} }}\n  default allow\n"
        "  rule r: refuse when any S and any T\n}\n")
    result = run("lint", "p.pol", cwd=tmp_path, timeout=60)
    assert result.returncode != 2 and "POL004" not in result.stdout, result.stdout


def test_a_bundle_given_as_source_is_named_a_zip_archive(tmp_path: Path) -> None:
    (tmp_path / "p.pol").write_text(HEAD + "  rule r: refuse when x\n}\n")
    assert run("compile", "p.pol", "-o", "p.pbundle", cwd=tmp_path).returncode == 0
    for command in ("lint", "test", "fmt"):
        out = assert_located(run(command, "p.pbundle", cwd=tmp_path), "p.pbundle:1:1")
        assert "zip archive" in out and "take bundles" in out, out


@pytest.mark.parametrize("command", ["diff", "replay"])
def test_a_negative_limit_is_a_usage_error(tmp_path: Path, command: str) -> None:
    (tmp_path / "p.pol").write_text(HEAD + "  rule r: refuse when x\n}\n")
    (tmp_path / "e.jsonl").write_text('{"scores": {"x": 0.9}}\n')
    second = "p.pol" if command == "diff" else "e.jsonl"
    result = run(command, "p.pol", second, "--limit", "-1", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--limit" in result.stderr and "greater than or equal to 0" in result.stderr
