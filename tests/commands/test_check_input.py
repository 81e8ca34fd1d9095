"""`policyc check --input`: every line accounted for, signals, `-`, the audit record.

Issue 13, A4/A5/A8 and C16/C19: bad lines of every kind (huge numbers, deep nesting,
lone surrogates, non-UTF-8 bytes, Unicode line separators, null) are reported with
their true line number and skipped, every good line is written, and
`lines in = lines out + lines reported`; a signal stops the batch between two events.
"""

from __future__ import annotations

import io
import json
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers.chat_policy import POLICY
from jsonschema import Draft202012Validator

from policyc.runtime import Bundle, InvalidEvent
from policyc.runtime import audit as audit_v1
from policyc.runtime.audit import audit_record, comparable
from policyc.runtime.jsonl import BadLine, dumps_line, parse_line, read_lines

#: a locked floor under first-match, and no default (so `on_error` decides)
FLOOR_POLICY = """policy acme.floor version "1.0.0" {
  context audience: enum { adult, teen }
  categories { self_harm { intent } }
  resolve first-match
  rule soft: warn("careful") when score(self_harm.intent) >= 0.5
  locked rule hard: refuse when score(self_harm.intent) >= 0.9
}
"""


def _compile(tmp_path: Path, text: str, name: str) -> Path:
    (tmp_path / f"{name}.pol").write_text(text)
    out = tmp_path / f"{name}.bundle"
    r = subprocess.run([sys.executable, "-m", "policyc", "compile", str(tmp_path / f"{name}.pol"),
                        "-o", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _compile(tmp_path_factory.mktemp("b"), POLICY, "p")


@pytest.fixture(scope="module")
def floor_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _compile(tmp_path_factory.mktemp("f"), FLOOR_POLICY, "f")


def _good(i: str, audience: str = "teen", **extra: object) -> bytes:
    return json.dumps({"id": i, "context": {"audience": audience}, **extra}).encode()


#: (line bytes, expected: an id when the line is good, else a fragment of the message)
CASES: list[tuple[bytes, str, bool]] = [
    (_good("g1", scores={"self_harm.intent": 0.6}), "g1", True),
    (b'{"id": "big", "context": {"audience": "teen"}, "scores": {"self_harm.intent": 1'
     + b"0" * 400 + b"}}", "out of range", False),
    (b'{"id": "digits", "scores": {"self_harm.intent": ' + b"1" * 4301 + b"}}",
     "out of range", False),
    (b'{"id": "inf", "scores": {"self_harm.intent": 1e400}}', "out of range", False),
    (b'{"id": "nan", "scores": {"self_harm.intent": NaN}}', "NaN is not valid JSON", False),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply", False),
    (b'{"id": "deep", "context": {"audience": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}",
     "nested too deeply", False),
    (b'{"id": "\\ud800", "context": {"audience": "teen"}}', "\ud800", True),
    (b'{"id": "red", "text": "mail \\udc00 bob@example.com", "context": {"audience": "adult"}}',
     "red", True),
    (b'{"id": "latin1", "text": "caf\xe9", "context": {"audience": "adult"}}',
     "not valid UTF-8 (byte 0xe9", False),
    ('{"id": "seps", "text": "a\u2028b\u2029c\u0085d", "context": {"audience": "adult"}}'
     .encode(), "seps", True),
    (b'{"id": "nullaud", "context": {"audience": null}}', "`audience` = null", False),
    (b'{"id": "nullscore", "context": {"audience": "teen"}, "scores": {"self_harm.intent": null}}',
     "must be a number, not null", False),
    (b'{"id": "nulltext", "text": null, "context": {"audience": "teen"}}',
     "`text` must be a string, not null", False),
    (b'{"id": "dup", "context": {"audience": "adult", "audience": "teen"}}',
     'duplicate key "audience"', False),
    (b'{"id": "np", "context": {"audience": "teen", "verified": 0.5}}',
     "must be true or false, not 0.5", False),
    (b"", "blank line", False),
    (b"{not json", "not valid JSON", False),
    (_good("last", "adult"), "last", True),
]


def _events(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(c[0] for c in CASES) + b"\n")
    return path


def test_every_line_accounted_for(bundle: Path, tmp_path: Path) -> None:
    """A4: one bad line never takes the batch down; each is reported at its true number."""
    events = _events(tmp_path)
    out, audit = tmp_path / "out.jsonl", tmp_path / "audit.jsonl"
    r = subprocess.run([sys.executable, "-m", "policyc", "check", str(bundle), "--input",
                        str(events), "--output", str(out), "--audit-log", str(audit)],
                       capture_output=True)
    stderr = r.stderr.decode("utf-8")
    assert r.returncode == 1, stderr
    assert "Traceback" not in stderr
    good = [c[1] for c in CASES if c[2]]
    reported = [line for line in stderr.splitlines() if ": skipped: " in line]
    decisions = [json.loads(x) for x in out.read_bytes().decode("utf-8").splitlines()]
    records = [json.loads(x) for x in audit.read_bytes().decode("utf-8").splitlines()]
    assert [d["id"] for d in decisions] == good
    assert [d["id"] for d in records] == good
    assert len(CASES) == len(decisions) + len(reported)
    for number, (_, needle, ok) in enumerate(CASES, 1):
        if not ok:
            line = next((x for x in reported if x.startswith(f"{events}:{number}: ")), None)
            assert line is not None and needle in line, (number, needle, reported)
    assert f"{len(CASES)} lines: {len(good)} decided, {len(CASES) - len(good)} skipped" in stderr
    red = decisions[good.index("red")]
    assert red["redacted"] == "mail \udc00 [REDACTED]"
    assert b"\\udc00" in out.read_bytes()  # the only JSON spelling of a lone surrogate


def test_null_is_invalid_in_the_python_api(bundle: Path) -> None:
    b = Bundle.load(bundle)
    with pytest.raises(InvalidEvent, match="`audience` = null is not a declared value"):
        b.check(context={"audience": None})
    with pytest.raises(InvalidEvent, match="`verified` = null|true or false, not null"):
        b.check(context={"audience": "teen", "verified": None})
    with pytest.raises(InvalidEvent, match="out of range"):
        b.check(context={"audience": "teen"}, scores={"self_harm.intent": 10 ** 400})


def test_errors_show_plain_values(bundle: Path) -> None:
    """C19: `0.5`, not `np.float64(0.5)`."""
    b = Bundle.load(bundle)
    with pytest.raises(InvalidEvent) as e:
        b.check(context={"audience": "teen", "verified": np.float64(0.5)})
    assert "not 0.5" in str(e.value) and "np." not in str(e.value)
    with pytest.raises(InvalidEvent) as e:
        b.check_batch({"audience": np.array(["teen", "teen"])},
                      {"pii.email": np.array([0.5, 1.5])})
    assert "= 1.5 is outside" in str(e.value) and "np." not in str(e.value)
    with pytest.raises(InvalidEvent) as e:
        b.check(context={"audience": np.str_("kid")})
    assert '`audience` = "kid" is not' in str(e.value)


def test_dash_is_stdin_and_stdout(bundle: Path, tmp_path: Path) -> None:
    """C16: `--input -` reads standard input, `--output -` writes standard output."""
    data = _good("a") + b"\n" + _good("b", "adult") + b"\n"
    r = subprocess.run([sys.executable, "-m", "policyc", "check", str(bundle), "--input", "-",
                        "--output", "-"], input=data, capture_output=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert [json.loads(x)["id"] for x in r.stdout.splitlines()] == ["a", "b"]
    assert not (tmp_path / "-").exists()
    assert b"2 lines: 2 decided, 0 skipped" in r.stderr


def test_reader_splits_on_newline_only() -> None:
    data = ("\ufeff" + '{"a": "x\u2028y"}\r\n{"b": "\u0085"}\n\n{"c": 1}').encode()
    lines = list(read_lines(io.BytesIO(data)))
    assert [x.number for x in lines] == [1, 2, 3, 4]
    assert parse_line(lines[0]) == {"a": "x\u2028y"}
    assert parse_line(lines[1]) == {"b": "\u0085"}
    with pytest.raises(BadLine, match="blank line"):
        parse_line(lines[2])
    assert parse_line(lines[3]) == {"c": 1}
    assert lines[-1].end == len(data)


def test_reader_bounds_a_long_line() -> None:
    data = b'{"a": "' + b"x" * 1000 + b'"}\n{"b": 2}\n'
    lines = list(read_lines(io.BytesIO(data), max_line_bytes=100))
    assert [x.number for x in lines] == [1, 2]
    assert lines[0].too_long and lines[0].raw == b""
    with pytest.raises(BadLine, match="too long"):
        parse_line(lines[0])
    assert parse_line(lines[1]) == {"b": 2}


def test_writer_never_fails_on_a_lone_surrogate() -> None:
    line = dumps_line({"id": "\ud800x", "t": "é\udfff"})
    assert line.decode("utf-8") == '{"id": "\\ud800x", "t": "é\\udfff"}\n'
    assert json.loads(line) == {"id": "\ud800x", "t": "é\udfff"}


# ---- the audit record (A8) -----------------------------------------------------------------


def _agree(record: dict, d: object, event_id: object) -> None:
    """The record says what the decision says, field for field."""
    assert list(record) == list(audit_v1.FIELDS)
    assert record["schema"] == audit_v1.AUDIT_SCHEMA and record["id"] == event_id
    for key in ("policy", "version", "hash", "action", "argument", "rule", "winner", "floor"):
        assert record[key] == getattr(d, key), key
    assert record["matched"] == list(d.matched)  # type: ignore[attr-defined]
    assert record["errors"] == list(d.errors)  # type: ignore[attr-defined]
    assert record["scores"] == d.scores  # type: ignore[attr-defined]
    as_json = d.to_dict()  # type: ignore[attr-defined]
    for key, value in as_json.items():
        if key in record and key != "schema":
            assert record[key] == value, key
    assert record["errors"] == as_json.get("errors", [])
    Draft202012Validator(audit_v1.JSON_SCHEMA).validate(record)


def test_audit_record_agrees_with_the_decision(floor_bundle: Path, bundle: Path) -> None:
    fb = Bundle.load(floor_bundle)
    floored = fb.check(context={"audience": "teen"}, scores={"self_harm.intent": 0.95})
    assert (floored.rule, floored.winner, floored.floor) == ("hard", "soft", "hard")
    fail_closed = fb.check(context={"audience": "teen"}, scores={"self_harm.intent": 0.1})
    assert fail_closed.action == "refuse" and fail_closed.errors
    redacted = Bundle.load(bundle).check(text="x bob@example.com", context={"audience": "adult"})
    for d in (floored, fail_closed, redacted):
        r1, r2 = audit_record(d, "e1"), audit_record(d, "e1")
        _agree(r1, d, "e1")
        assert r1["decision_id"] != r2["decision_id"]
        assert comparable(r1) == comparable(r2) and audit_v1.VOLATILE == {"decision_id", "time"}
    assert "redacted" not in audit_record(redacted) and "spans" not in audit_record(redacted)


def test_batch_audit_log_agrees_with_the_output(floor_bundle: Path, tmp_path: Path) -> None:
    events = tmp_path / "e.jsonl"
    events.write_text("\n".join(json.dumps({"id": i, "context": {"audience": "teen"},
                                            "scores": {"self_harm.intent": x}})
                                for i, x in enumerate([0.95, 0.6, 0.1])) + "\n")
    out, audit = tmp_path / "o.jsonl", tmp_path / "a.jsonl"
    r = subprocess.run([sys.executable, "-m", "policyc", "check", str(floor_bundle), "--input",
                        str(events), "--output", str(out), "--audit-log", str(audit)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    fb = Bundle.load(floor_bundle)
    decisions = [json.loads(x) for x in out.read_text().splitlines()]
    records = [json.loads(x) for x in audit.read_text().splitlines()]
    assert len({r["decision_id"] for r in records}) == 3
    for dec, rec, x in zip(decisions, records, [0.95, 0.6, 0.1], strict=True):
        d = fb.check(context={"audience": "teen"}, scores={"self_harm.intent": x})
        _agree(rec, d, dec["id"])
        assert {k: v for k, v in dec.items() if k != "id"} == d.to_dict()
    assert records[0]["floor"] == "hard" and records[0]["winner"] == "soft"
    assert records[2]["errors"] and records[2]["action"] == "refuse"


# ---- signals (A5) --------------------------------------------------------------------------


def _count_lines(p: Path) -> tuple[int, str | None]:
    lines = p.read_bytes().splitlines()
    return len(lines), (json.loads(lines[-1])["id"] if lines else None)


def _default_sigint() -> None:  # a background test runner may ignore SIGINT
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_between_events(bundle: Path, tmp_path: Path, signum: int) -> None:
    """A5: output and audit log end on the same event; summary; exit 128 + signal."""
    events = tmp_path / "big.jsonl"
    with events.open("wb") as fh:
        for k in range(200_000):
            fh.write(b'{"id": "e%d", "context": {"audience": "teen"}, '
                     b'"scores": {"self_harm.intent": 0.%d}}\n' % (k, k % 10))
    out, audit = tmp_path / "o.jsonl", tmp_path / "a.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "policyc", "check", str(bundle), "--input",
                             str(events), "--output", str(out), "--audit-log", str(audit)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=_default_sigint)
    deadline = time.monotonic() + 60
    while not (out.exists() and out.stat().st_size > 0) and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, stderr
    text = stderr.decode()
    assert "Traceback" not in text
    assert f"interrupted by {signal.Signals(signum).name}" in text
    n_out, last_out = _count_lines(out)
    n_audit, last_audit = _count_lines(audit)
    assert 0 < n_out < 200_000
    assert n_out == n_audit and last_out == last_audit == f"e{n_out - 1}"
    assert f"{n_out} lines: {n_out} decided, 0 skipped" in text


def test_signal_while_waiting_for_input(bundle: Path, tmp_path: Path) -> None:
    """Blocked on a pipe that sends nothing more: the signal still ends the batch."""
    out, audit = tmp_path / "o.jsonl", tmp_path / "a.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "policyc", "check", str(bundle), "--input",
                             "-", "--output", str(out), "--audit-log", str(audit)],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=_default_sigint)
    assert proc.stdin is not None and proc.stderr is not None
    proc.stdin.write(_good("a") + b"\n" + _good("b") + b"\n" + b"{bad\n")
    proc.stdin.flush()
    try:
        reported = proc.stderr.readline()  # line 3 is done: the batch now waits for line 4
        assert b":3: skipped" in reported
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, stderr
    assert _count_lines(out) == _count_lines(audit) == (2, "b")
    assert b"interrupted by SIGTERM: 3 lines: 2 decided, 1 skipped" in stderr


def _many(path: Path, n: int) -> Path:
    path.write_bytes(b"".join(_good(f"e{k}") + b"\n" for k in range(n)))
    return path


def test_closed_output_pipe_is_no_traceback(bundle: Path, tmp_path: Path) -> None:
    """`policyc check --input big.jsonl | head`: exit as SIGPIPE would, quietly."""
    proc = subprocess.Popen([sys.executable, "-m", "policyc", "check", str(bundle), "--input",
                             str(_many(tmp_path / "e.jsonl", 50_000))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(100)
    proc.stdout.close()
    stderr = proc.stderr.read()
    assert proc.wait(timeout=60) == 141, stderr
    assert b"Traceback" not in stderr and b"Exception" not in stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_full_disk_is_an_error_not_a_traceback(bundle: Path, tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "policyc", "check", str(bundle), "--input",
                        str(_many(tmp_path / "e.jsonl", 2_000)), "--output", "/dev/full"],
                       capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert "the batch stopped: No space left on device" in r.stderr
    assert "Traceback" not in r.stderr


def test_output_over_the_input_is_refused(bundle: Path, tmp_path: Path) -> None:
    """The input is streamed: writing decisions over it would truncate it first."""
    events = _many(tmp_path / "e.jsonl", 3)
    before = events.read_bytes()
    for flag in ("--output", "--audit-log"):
        r = subprocess.run([sys.executable, "-m", "policyc", "check", str(bundle), "--input",
                            str(events), flag, str(tmp_path / "." / "e.jsonl")],
                           capture_output=True, text=True)
        assert r.returncode == 2 and "is also the input" in r.stderr, r.stderr
    assert events.read_bytes() == before


TEXT_MODEL_POLICY = """policy acme.textmodel version "1.0.0" {
  categories { violence }
  classifier m = onnx "m.onnx" { labels { violence = "violence" } }
  resolve most-restrictive
  rule v: refuse when violence
}
"""


def test_a_pipe_is_answered_line_by_line_with_a_classifier(tmp_path: Path) -> None:
    """With a classifier, a file is read one chunk ahead (`decided_chunks`) but a pipe is
    not: the decisions of the lines sent so far go out before the next line is awaited
    (read ahead, this test waited for a line that never came)."""
    import shutil

    from policyc.runtime.onnx_binding import default_model_path

    shutil.copy(default_model_path(), tmp_path / "m.onnx")
    model_bundle = _compile(tmp_path, TEXT_MODEL_POLICY, "t")
    proc = subprocess.Popen([sys.executable, "-m", "policyc", "check", str(model_bundle),
                             "--input", "-", "--output", "-"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=_default_sigint)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(b'{"id": "a", "text": "hello there"}\n')
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], 30)  # stdin stays open
        assert ready, "no decision within 30 s: the batch waits for more input"
        line = proc.stdout.readline()
        assert json.loads(line)["id"] == "a"
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
