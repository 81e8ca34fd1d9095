"""Fuzzing the batch path (`policyc check --input`, `policyc.commands.check.decide_lines`).

Good events (ids and texts with lone surrogates and raw U+2028/U+2029/U+0085) are mixed
with bad lines of every kind the issue names: huge numbers, 4,301-digit integers, deep
nesting, non-UTF-8 bytes, `null`, blank lines, broken JSON. Whatever the mix:
`lines in = lines out + lines reported`, the reported numbers are exactly the bad
lines', and every good line is decided as in a clean run of the good lines alone.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from helpers.chat_policy import POLICY
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policyc.commands.check import decide_lines
from policyc.commands.inputs import load_target
from policyc.runtime.audit import comparable
from policyc.runtime.jsonl import BadLine

ODD = ["\ud800", "\udfff", "\udc00\ud800", "\u2028", "\u2029", "\u0085", "\r", "\x00", "é",
       "\U0001f600", "bob@example.com"]


@pytest.fixture(scope="module")
def checker(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("p") / "p.pol"
    path.write_text(POLICY)
    return load_target(path, [])


def _encode(obj: Any) -> bytes:
    """JSON with raw Unicode separators; a lone surrogate can only be an escape."""
    return json.dumps(obj, ensure_ascii=False).encode("utf-8", "backslashreplace")


odd_text = st.lists(st.one_of(st.sampled_from(ODD), st.characters()), max_size=8).map("".join)
good_event = st.fixed_dictionaries(
    {"context": st.fixed_dictionaries({"audience": st.sampled_from(["adult", "teen", "child"])},
                                      optional={"verified": st.booleans()})},
    optional={"id": st.one_of(odd_text, st.integers(-(2 ** 80), 2 ** 80),
                              st.floats(allow_nan=False, allow_infinity=False)),
              "text": odd_text,
              "scores": st.dictionaries(st.sampled_from(["self_harm.intent", "self_harm.support",
                                                         "pii.email"]),
                                        st.floats(0, 1), max_size=3)}).map(_encode)

digits = st.integers(310, 5000).map(lambda n: b"9" * n)
bad_line = st.one_of(
    digits.map(lambda d: b'{"scores": {"self_harm.intent": ' + d + b"}}"),
    digits.map(lambda d: b'{"id": ' + d + b', "context": {"audience": "teen"}}'),
    st.sampled_from([b"1e400", b"-1e999", b"NaN", b"Infinity"]).map(
        lambda x: b'{"scores": {"pii.email": ' + x + b"}}"),
    st.integers(1_100, 60_000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(1_100, 20_000).map(
        lambda n: b'{"context": {"audience": ' + b"{" * n + b"}" * n + b"}}"),
    st.tuples(good_event, st.sampled_from([b"\xff", b"\xc3(", b"\xed\xa0\x80", b"\x80"])).map(
        lambda t: t[0][:-1] + b', "x": "' + t[1] + b'"}'),
    st.sampled_from([
        b'{"context": {"audience": null}}', b'{"context": {"audience": "teen", "verified": null}}',
        b'{"context": {"audience": "teen"}, "scores": {"pii.email": null}}',
        b'{"text": null, "context": {"audience": "teen"}}', b'{"id": null, "text": "x"}',
        b'{"context": null}', b'{"id": "x"}', b"", b"   ", b"{not json", b"[]", b'"x"',
        b'{"context": {"audience": "teen", "audience": "adult"}}',
        b'{"context": {"audience": "kid"}}', b'{"scores": {"pii.email": 1.5}}']),
)


def _run(checker: Any, data: bytes) -> tuple[list[bytes], list[dict[str, Any]], list[int], Any]:
    out, audit, reported = io.BytesIO(), io.BytesIO(), []

    def report(bad: BadLine) -> None:
        reported.append(bad.number)

    tally = decide_lines(checker, io.BytesIO(data), out, audit, report)
    records = [comparable(json.loads(x)) for x in audit.getvalue().splitlines()]
    return out.getvalue().splitlines(), records, reported, tally


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])
@given(items=st.lists(st.one_of(good_event.map(lambda b: (True, b)),
                                bad_line.map(lambda b: (False, b))), max_size=12),
       crlf=st.booleans(), final_newline=st.booleans())
def test_every_line_is_written_or_reported(checker: Any, items: list[tuple[bool, bytes]],
                                           crlf: bool, final_newline: bool) -> None:
    end = b"\r\n" if crlf else b"\n"
    data = end.join(b for _, b in items) + (end if final_newline and items else b"")
    lines, records, reported, tally = _run(checker, data)
    n = len(items) - (1 if items and not final_newline and items[-1][1] == b"" else 0)
    assert tally.lines == n == len(lines) + len(reported)
    assert (tally.decided, tally.skipped) == (len(lines), len(reported))
    assert reported == [k for k, (ok, _) in enumerate(items[:n], 1) if not ok]
    for line in lines:
        line.decode("utf-8")  # the writer always writes UTF-8
    clean = b"".join(b + end for ok, b in items if ok)
    clean_lines, clean_records, clean_reported, _ = _run(checker, clean)
    assert clean_reported == [] and lines == clean_lines and records == clean_records
    good = [json.loads(b) for ok, b in items if ok]
    for event, line in zip(good, lines, strict=True):
        decided = json.loads(line)
        assert decided["id"] == event.get("id")
        d = checker.check(text=event.get("text"), context=event["context"],
                          scores=event.get("scores", {}))
        assert {k: v for k, v in decided.items() if k != "id"} == d.to_dict()


def test_lines_are_bytes_split_on_newline_only(checker: Any, tmp_path: Path) -> None:
    """U+2028/U+2029/U+0085 raw in a string: one line, one decision, numbers unshifted."""
    data = ('{"id": "a\u2028b", "context": {"audience": "adult"}}\n'
            '{"id": "c\u2029d\u0085e", "context": {"audience": "teen"}}\n{bad\n').encode()
    lines, _, reported, tally = _run(checker, data)
    assert [json.loads(x)["id"] for x in lines] == ["a\u2028b", "c\u2029d\u0085e"]
    assert reported == [3] and tally.lines == 3
