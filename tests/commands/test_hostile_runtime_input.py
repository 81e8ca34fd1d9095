"""Hostile input to the runtime commands (`check`, `eval`, `replay`, `diff --replay`)
through a real subprocess: a clear error or a reported line, never a traceback, and
every line accounted for (docs/cli.md, *Batch input*, *Columnar input*)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers.chat_policy import POLICY

GOOD = {"context": {"audience": "adult"}, "scores": {"self_harm.intent": 0.6}}


def _policyc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "policyc", *args], capture_output=True,
                          text=True, timeout=120)


def _no_traceback(r: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in r.stderr + r.stdout, r.stderr[-2000:]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("hostile")
    (tmp / "p.pol").write_text(POLICY)
    out = tmp / "p.pbundle"
    r = _policyc("compile", str(tmp / "p.pol"), "-o", str(out))
    assert r.returncode == 0, r.stderr
    return out


def test_control_character_message_reads_once(bundle: Path, tmp_path: Path) -> None:
    """The decoder's own "… at" is not followed by a second "at"."""
    events = tmp_path / "e.jsonl"
    events.write_bytes(b'{"id": "a\rb", "context": {"audience": "adult"}}\n')
    r = _policyc("check", str(bundle), "--input", str(events))
    _no_traceback(r)
    assert r.returncode == 1
    assert "e.jsonl:1: skipped: not valid JSON (Invalid control character at column 10)" \
        in r.stderr
    assert "at at" not in r.stderr


def test_parquet_duplicate_column_is_a_usage_error(bundle: Path, tmp_path: Path) -> None:
    path = tmp_path / "dup.parquet"
    pq.write_table(pa.Table.from_arrays(
        [pa.array([0.5]), pa.array([0.1])],
        names=["scores.self_harm.intent", "scores.self_harm.intent"]), path)
    old = tmp_path / "old.pbundle"
    old.write_bytes(bundle.read_bytes())
    for args in (["check", str(bundle), "--input", str(path)],
                 ["replay", str(bundle), str(path)],
                 ["replay", str(bundle), str(path), "--against", str(old)]):
        r = _policyc(*args)
        _no_traceback(r)
        assert r.returncode == 2, (args, r.stderr)
        assert "column `scores.self_harm.intent` appears more than once" in r.stderr


def test_parquet_ids_json_cannot_carry_are_bad_rows(bundle: Path, tmp_path: Path) -> None:
    """A bool, bytes, date or NaN id is refused as in JSON Lines; the output stays JSON."""
    cases = {
        "bool": (pa.array([True, None, False]), ["true", None, "false"]),
        "bytes": (pa.array([b"\xff", None, b"x"], pa.binary()), ["a bytes", None, "a bytes"]),
        "stamp": (pa.array([1, None, 2], pa.timestamp("s")), ["a datetime", None, "a datetime"]),
        "list": (pa.array([[1], None, []]), ["an array", None, "an array"]),
        "float": (pa.array([float("nan"), 2.5, float("inf")]), ["nan", None, "inf"]),
    }
    for name, (ids, why) in cases.items():
        path = tmp_path / f"{name}.parquet"
        pq.write_table(pa.table({"id": ids, "context.audience": ["adult"] * 3,
                                 "scores.self_harm.intent": [0.6] * 3}), path)
        out, audit = tmp_path / f"{name}.jsonl", tmp_path / f"{name}.audit"
        r = _policyc("check", str(bundle), "--input", str(path), "--output", str(out),
                     "--audit-log", str(audit))
        _no_traceback(r)
        assert r.returncode == 1, (name, r.stderr)
        for row, w in enumerate(why, 1):
            msg = f"{path}:{row}: skipped: `id` must be a string or a number, not {w}"
            assert (msg in r.stderr) == (w is not None), (name, r.stderr)
        lines = [json.loads(x) for x in out.read_text().splitlines()]
        records = [json.loads(x) for x in audit.read_text().splitlines()]
        assert len(lines) == len(records) == 1
        assert lines[0]["id"] == records[0]["id"] == (2.5 if name == "float" else None)
        assert "3 lines: 1 decided, 2 skipped" in r.stderr


def test_parquet_text_of_another_type_gets_the_jsonl_message(bundle: Path,
                                                             tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"text": [1, None], "context.audience": ["adult", "adult"]}), path)
    r = _policyc("check", str(bundle), "--input", str(path))
    _no_traceback(r)
    assert f"{path}:1: skipped: `text` must be a string, not 1" in r.stderr
    assert "2 lines: 1 decided, 1 skipped" in r.stderr


def test_diff_replay_of_a_file_that_is_not_parquet(bundle: Path, tmp_path: Path) -> None:
    """`diff --replay x.parquet` with JSON Lines or a corrupted file inside: exit 2."""
    new = tmp_path / "new.pbundle"
    new.write_bytes(bundle.read_bytes())
    jsonl = tmp_path / "events.parquet"
    jsonl.write_text(json.dumps(GOOD) + "\n")
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"context.audience": ["adult"]}), good)
    broken = tmp_path / "broken.parquet"
    data = good.read_bytes()
    broken.write_bytes(data[:4] + b"\0" * (len(data) - 8) + data[-4:])
    for path in (jsonl, broken):
        r = _policyc("diff", str(bundle), str(new), "--replay", str(path))
        _no_traceback(r)
        assert r.returncode == 2, r.stderr
        assert f"error: cannot read {path} as Parquet: " in r.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_single_check_audit_log_on_a_full_disk(bundle: Path) -> None:
    """A write that fails is exit 2 with a message (it was a traceback from `close`)."""
    r = _policyc("check", str(bundle), "--context", "audience=adult", "--audit-log",
                 "/dev/full")
    _no_traceback(r)
    assert r.returncode == 2
    assert "error: cannot write /dev/full: No space left on device" in r.stderr


def test_eval_reads_lines_as_check_does(bundle: Path, tmp_path: Path) -> None:
    """Split on b"\\n" only, each line decoded and parsed strictly on its own: a bad byte,
    NaN, a duplicate key, a huge integer or deep nesting is one skipped line (they were
    a traceback, a whole-file error, or a silently accepted line, and U+2028 split a
    line and shifted the numbers)."""
    good = json.dumps({**GOOD, "label": "harmful"}).encode()
    lines = [
        json.dumps({"id": "a\u2028b", **GOOD, "label": "harmful"}, ensure_ascii=False).encode(),
        b'{"scores": {"self_harm.intent": NaN}, "label": "harmful"}',
        b'{"context": {"audience": "adult"}, "context": {"audience": "teen"}}',
        b'{"id": "\xff", "context": {"audience": "adult"}}',
        b'{"id": ' + b"9" * 5000 + b', "context": {"audience": "adult"}}',
        b"[" * 100_000,
        good,
    ]
    data = tmp_path / "d.jsonl"
    data.write_bytes(b"\n".join(lines) + b"\n")
    r = _policyc("eval", str(bundle), str(data), "--format", "json")
    _no_traceback(r)
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert doc["data"]["events"] == 2
    assert [s["line"] for s in doc["skipped"]] == [2, 3, 4, 5, 6]
    assert [s["message"] for s in doc["skipped"]] == [
        "not valid JSON (NaN is not valid JSON)",
        'not valid JSON (duplicate key "context")',
        "not valid UTF-8 (byte 0xff at column 9)",
        "not valid JSON (number 999999999999… (5000 digits) is out of range)",
        "not valid JSON (nested too deeply)"]


@pytest.mark.parametrize(("flags", "message"), [
    (["--score", "self_harm.intent=1_0"], "score `self_harm.intent=1_0` is not a number"),
    (["--score", "self_harm.intent=\u0660.\u0665"], "is not a number"),
    (["--score", "self_harm.intent=1e400"], "score `self_harm.intent=1e400` is not a number"),
    (["--score", "self_harm.intent=0.1", "--score", "self_harm.intent=0.9"],
     "`--score self_harm.intent` is given twice (`0.1` and `0.9`)"),
    (["--context", "audience=teen", "--context", "audience=adult"],
     "`--context audience` is given twice (`teen` and `adult`)"),
])
def test_event_flags_are_read_strictly(bundle: Path, flags: list[str], message: str) -> None:
    """What `float` reads beyond a decimal number (`1_0` is 10, Arabic-Indic digits) was
    decided, and a flag given twice silently kept its last value."""
    args = flags if "--context" in flags else [*flags, "--context", "audience=adult"]
    r = _policyc("check", str(bundle), *args)
    _no_traceback(r)
    assert r.returncode == 2, r.stdout
    assert message in r.stderr


def test_eval_parquet_ids_and_duplicate_columns(bundle: Path, tmp_path: Path) -> None:
    """eval reads Parquet with check's mapping: a column named twice kept one cell
    silently, and a bool or NaN id went into the report."""
    dup = tmp_path / "dup.parquet"
    pq.write_table(pa.Table.from_arrays(
        [pa.array(["adult"]), pa.array(["teen"])], names=["context.audience"] * 2), dup)
    r = _policyc("eval", str(bundle), str(dup))
    _no_traceback(r)
    assert r.returncode == 2
    assert "column `context.audience` appears more than once" in r.stderr
    ids = tmp_path / "ids.parquet"
    pq.write_table(pa.table({"id": [float("nan"), 2.0], "context.audience": ["adult"] * 2,
                             "label": ["benign"] * 2}), ids)
    r = _policyc("eval", str(bundle), str(ids), "--format", "json")
    _no_traceback(r)
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    assert doc["data"]["events"] == 1
    assert doc["skipped"] == [{"line": 1,
                               "message": "`id` must be a string or a number, not nan"}]


def test_lone_surrogates_to_parquet_output(bundle: Path, tmp_path: Path) -> None:
    """JSON Lines in, Parquet out: an id or a redacted text holding a lone surrogate (valid
    JSON) was a UnicodeEncodeError traceback and an empty output file; it is written with
    its `\\uXXXX` escape, as JSON output writes it."""
    events = tmp_path / "e.jsonl"
    events.write_text('{"id": "a\\ud800", "context": {"audience": "adult"}}\n'
                      '{"id": 2, "text": "\\udfff write to bob@example.com", '
                      '"context": {"audience": "adult"}}\n', encoding="ascii")
    out, audit = tmp_path / "o.parquet", tmp_path / "a.jsonl"
    r = _policyc("check", str(bundle), "--input", str(events), "--output", str(out),
                 "--audit-log", str(audit))
    _no_traceback(r)
    assert r.returncode == 0, r.stderr
    table = pq.read_table(out)
    assert table.column("id").to_pylist() == ["a\\ud800", "2"]
    assert table.column("action").to_pylist() == ["allow", "redact"]
    redacted = table.column("redacted").to_pylist()[1]
    assert redacted.startswith("\\udfff write to ") and "bob@example.com" not in redacted
    assert len(audit.read_text().splitlines()) == 2


def test_reports_print_ids_with_lone_surrogates(bundle: Path, tmp_path: Path) -> None:
    """`replay` and `diff --replay` printing a flipped event's id that holds a lone
    surrogate was a UnicodeEncodeError traceback (JSON, text and markdown alike)."""
    old = tmp_path / "old.pol"
    old.write_text(POLICY.replace('rule note: warn("w")', 'rule note: allow'))
    events = tmp_path / "e.jsonl"
    events.write_text('{"id": "\\ud800x", "context": {"audience": "adult"}, '
                      '"scores": {"self_harm.support": 0.9}}\n', encoding="ascii")
    r = _policyc("replay", str(bundle), str(events), "--against", str(old), "--format", "json")
    _no_traceback(r)
    assert r.returncode == 0, r.stderr
    assert [f["id"] for f in json.loads(r.stdout)["flips"]] == ["\ud800x"]
    for fmt in ("json", "text", "markdown"):
        r = _policyc("diff", str(old), str(bundle), "--replay", str(events), "--format", fmt)
        _no_traceback(r)
        assert r.returncode == 0, (fmt, r.stderr)
        assert "\\ud800x" in r.stdout


def test_eval_files_with_lone_surrogates(bundle: Path, tmp_path: Path) -> None:
    """`eval -o FILE` and `--report DIR` with a group or field holding a lone surrogate
    were UnicodeEncodeError tracebacks (stdout was fine)."""
    data = tmp_path / "d.jsonl"
    data.write_text('{"id": "\\ud800", "context": {"audience": "adult"}, "label": "benign",'
                    ' "group": "g\\udfff", "split": "\\ud801"}\n', encoding="ascii")
    out, report = tmp_path / "m.json", tmp_path / "report"
    r = _policyc("eval", str(bundle), str(data), "-o", str(out), "--report", str(report),
                 "--slice-by", "split")
    _no_traceback(r)
    assert r.returncode == 0, r.stderr
    text = out.read_text(encoding="utf-8")
    assert "g\\udfff" in text and json.loads(text)["schema"] == "policyc/eval/v1"
    assert "g\\udfff" in (report / "index.html").read_text(encoding="utf-8")


def test_output_and_audit_log_cannot_be_one_file(bundle: Path, tmp_path: Path) -> None:
    """Two writers on one file tore and lost lines (50k events: 82,819 lines of 100,000,
    one of them not JSON); refused before anything is written, under a link too."""
    events = tmp_path / "e.jsonl"
    events.write_text((json.dumps(GOOD) + "\n") * 3)
    same = tmp_path / "out.jsonl"
    link = tmp_path / "link.jsonl"
    for output, audit in ((same, same), (link, same)):
        if output == link:
            same.write_text("")
            link.symlink_to(same)
        r = _policyc("check", str(bundle), "--input", str(events), "--output", str(output),
                     "--audit-log", str(audit))
        _no_traceback(r)
        assert r.returncode == 2
        assert f"`{audit}` is both the output and the audit log" in r.stderr
        assert not same.exists() or same.read_text() == ""


def test_events_from_a_pipe_by_name(bundle: Path, tmp_path: Path) -> None:
    """`--input /dev/stdin`, a FIFO, `<(zcat events.gz)`: the Parquet sniff read the first
    bytes of the pipe and the batch then saw `0 lines` (every event lost, exit 0);
    `replay` refused a pipe as "no such file"."""
    lines = (json.dumps(GOOD) + "\n") * 3
    r = subprocess.run([sys.executable, "-m", "policyc", "check", str(bundle), "--input",
                        "/dev/stdin"], input=lines, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 3 and "3 lines: 3 decided" in r.stderr
    for command in (["check", str(bundle), "--input"], ["replay", str(bundle)]):
        fifo = tmp_path / f"{command[0]}.fifo"
        os.mkfifo(fifo)
        proc = subprocess.Popen([sys.executable, "-m", "policyc", *command, str(fifo)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        with fifo.open("w") as w:  # blocks until the command opens it
            w.write(lines)
        out, err = proc.communicate(timeout=120)
        _no_traceback(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
        assert proc.returncode == 0, err
        assert "3 lines: 3 decided" in err or "3 rows: 3 decided" in out, (out, err)


def test_messages_stay_short_whatever_the_line(bundle: Path, tmp_path: Path) -> None:
    """One line of 300,000 unknown keys was reported as a 3 MB message, and a 100,000
    character category name as a 100 kB one: names are cut at 40 characters, lists at 5."""
    long = "y" * 100_000
    events = tmp_path / "e.jsonl"
    events.write_text("\n".join(json.dumps(e) for e in [
        {"context": {f"a{i}": 1 for i in range(300_000)}},
        {**{f"k{i}": 1 for i in range(300_000)}, "scores": {}},
        {"context": {"audience": "adult"}, "scores": {long: 0.1}},
        {"context": {long: 0.1}}]) + "\n")
    r = _policyc("check", str(bundle), "--input", str(events))
    _no_traceback(r)
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert len(lines) == 5 and max(map(len, lines)) < 400, [len(x) for x in lines]
    assert "unknown attribute(s) `a0`, `a1`, `a10`, `a100`, `a1000`, … (300000 in all)" \
        in lines[0]
    assert 'unknown key(s) "k0", "k1", "k2", "k3", "k4", … (300000 in all)' in lines[1]
    assert f"unknown category `{'y' * 40}…`" in lines[2]
    assert f"unknown attribute(s) `{'y' * 40}…`" in lines[3]
