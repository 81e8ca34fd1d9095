"""The streaming engine (`policyc.runtime.stream`) against the per-event path it replaced.

For random policies (every strategy, floors, with and without a default) and random
event files (plain events, events the columns must refuse, and bad lines of every
kind), the engine writes byte for byte the decision lines the per-event loop wrote
(`jsonl.read_lines` + `parse_line` + `event_from_json` + `Checker.check`), the same
audit records (less `time` and `decision_id`), and reports the same lines with the
same messages; whatever the chunk size.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from semantics.test_decision_map_property import policies

from policyc.commands.inputs import load_target
from policyc.runtime.audit import audit_record, comparable
from policyc.runtime.checker import InvalidEvent
from policyc.runtime.events import event_from_json
from policyc.runtime.jsonl import BadLine, dumps_line, parse_line, read_lines
from policyc.runtime.stream import decide_jsonl, read_chunks

SCORE = st.one_of(st.sampled_from([0, 1, 0.0, 1.0, 0.2, 0.5, 0.8, -0.0, 0.19999999999999998,
                                   0.5000000000000001]),
                  st.floats(0, 1), st.sampled_from([1.5, -0.1, True, "0.5", None, [0.5]]))
ODD_CONTEXT = {
    "aud": st.sampled_from(["w", 1, True, None, ["x"]]),
    "pro": st.sampled_from([1, 0, None, "true"]),
    "age": st.one_of(st.sampled_from([True, "3", None, float("nan")]),
                     st.integers(-2 ** 70, 2 ** 70)),
}
GOOD_CONTEXT = {
    "aud": st.sampled_from(["x", "y", "z"]),
    "pro": st.booleans(),
    "age": st.one_of(st.sampled_from([3, 18, 3.0, 17.999999999999996, 18.000000000000004, 0, -5]),
                     st.floats(-100, 100), st.integers(-2 ** 40, 2 ** 40)),
}
#: mostly complete, valid contexts (the engine's own path), sometimes odd or incomplete
context = st.one_of(
    st.fixed_dictionaries(GOOD_CONTEXT), st.fixed_dictionaries(GOOD_CONTEXT),
    st.fixed_dictionaries(GOOD_CONTEXT), st.fixed_dictionaries({}, optional={
        **{k: st.one_of(GOOD_CONTEXT[k], ODD_CONTEXT[k]) for k in GOOD_CONTEXT},
        "other": st.just(1), "c.a": st.just(0.5)}))
scores = st.dictionaries(st.sampled_from(["c.a", "c.b", "d", "c", "aud", "zz"]), SCORE, max_size=3)
ident = st.one_of(st.text(max_size=6), st.integers(-2 ** 70, 2 ** 70),
                  st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(
                      ["2024-01-01T10:00:00", "a\":b", "\u2028", "é:", True, None, [1]]))
event = st.fixed_dictionaries({}, optional={"id": ident, "context": context, "scores": scores,
                                            "text": st.sampled_from(["hi", "x:y"])})


def _encode(obj: Any, ascii_only: bool, spaced: bool) -> bytes:
    sep = (", ", ": ") if spaced else (",", ":")
    return json.dumps(obj, ensure_ascii=ascii_only, separators=sep).encode("utf-8",
                                                                          "backslashreplace")


good_line = st.builds(_encode, event, st.booleans(), st.booleans())
FULL = b'"aud": "x", "pro": true, "age": 20'
bad_line = st.sampled_from([
    b"", b"  ", b"{", b"[]", b"1", b'"x"', b"null", b"\xff", b'{"scores": {"d": NaN}}',
    b'{"scores": {"d": 1e400}}', b'{"context": {' + FULL + b', "aud": "y"}}',
    b'{"context": {' + FULL + b'}, "scores": {"d": 0.5, "d": 0.1}}',
    b'{"id": "a:b", "context": {' + FULL + b'}, "id": "c"}',
    b'{"id": 123456789012345678901234567890, "context": {' + FULL + b'}}',
    b'{"id": 12345678901234567890, "context": {' + FULL + b'}}',
    b'{"id": "\\u003a", "context": {' + FULL + b'}, "scores": {"d": 0.5, "d": 0.1}}',
    b'{"id": "\\ud800", "context": {' + FULL + b'}}',
    b'{"context": {' + FULL + b'}} x', b'\xef\xbb\xbf{"context": {' + FULL + b'}}',
    b'{"context": {"aud": "x", "pro": true, "age": ' + b"9" * 400 + b"}}",
    b'{"context": {"aud": "x", "pro": true, "age": 12345678901234567890}}',
    b'{"context": {' + FULL + b'}}\r', b"[" * 1100 + b"]" * 1100])


def reference(checker: Any, data: bytes) -> tuple[bytes, list[dict[str, Any]], list[tuple[int, str]]]:
    """The per-event loop the engine replaced (`commands.check.decide_lines` before issue 15)."""
    out, records, bad = [], [], []
    for line in read_lines(io.BytesIO(data)):
        try:
            event_id, text, ctx, sc = event_from_json(parse_line(line))
            d = checker.check(text=text, context=ctx, scores=sc)
        except BadLine as exc:
            bad.append((exc.number, exc.message))
            continue
        except InvalidEvent as exc:
            bad.append((line.number, str(exc)))
            continue
        out.append(dumps_line({"id": event_id, **d.to_dict()}))
        records.append(comparable(audit_record(d, event_id)))
    return b"".join(out), records, bad


def engine(checker: Any, data: bytes, chunk: int
           ) -> tuple[bytes, list[dict[str, Any]], list[tuple[int, str]], Any]:
    out, audit, bad = io.BytesIO(), io.BytesIO(), []
    tally = decide_jsonl(checker, io.BytesIO(data), out, audit,
                         lambda b: bad.append((b.number, b.message)), chunk_bytes=chunk)
    records = [comparable(json.loads(x)) for x in audit.getvalue().splitlines()]
    return out.getvalue(), records, bad, tally


_checkers: dict[str, Any] = {}


def _checker(text: str, tmp: Path, model: str | None = None) -> Any:
    """The checker of policy `text`, loaded once (`model`: the file name under which the
    policy binds the shipped default classifier, copied beside it)."""
    if text not in _checkers:
        if model is not None:
            import shutil

            from policyc.runtime.onnx_binding import default_model_path

            shutil.copy(default_model_path(), tmp / model)
        p = tmp / f"p{len(_checkers)}.pol"
        p.write_text(text)
        _checkers[text] = load_target(p, [])
    return _checkers[text]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(policy=policies(), items=st.lists(st.one_of(good_line, good_line, bad_line), max_size=25),
       chunk=st.sampled_from([1, 7, 64, 1 << 20]), crlf=st.booleans(), final=st.booleans())
def test_engine_equals_per_event_check(tmp_path_factory: Any, policy: str, items: list[bytes],
                                       chunk: int, crlf: bool, final: bool) -> None:
    checker = _checker(policy, tmp_path_factory.mktemp("s"))
    end = b"\r\n" if crlf else b"\n"
    data = end.join(items) + (end if final else b"")
    want_out, want_records, want_bad = reference(checker, data)
    out, records, bad, tally = engine(checker, data, chunk)
    assert bad == want_bad
    assert out == want_out
    assert records == want_records
    assert tally.lines == tally.decided + tally.skipped == len(list(read_lines(io.BytesIO(data))))


def test_chunks_split_lines_as_the_line_reader() -> None:
    data = b"\xef\xbb\xbfa\r\nb\n\n" + b"x" * 50 + b"\nc\r"
    want = [(ln.number, None if ln.too_long else ln.raw)
            for ln in read_lines(io.BytesIO(data), max_line_bytes=20)]
    for size in (1, 3, 16, 1000):
        got = [(c.first + k, r) for c in read_chunks(io.BytesIO(data), size, max_line_bytes=20)
               for k, r in enumerate(c.raws)]
        assert got == want, size


TRICKY = [
    # orjson reads these differently from the strict reader: the engine must not trust it
    b'{"id": 123456789012345678901234567890, "context": {' + FULL + b'}}',
    b'{"id": 18446744073709551616, "context": {' + FULL + b'}}',
    b'{"id": -9223372036854775809, "context": {' + FULL + b'}}',
    b'{"context": {' + FULL + b', "aud": "y"}}',
    b'{"id": "\\u003a", "context": {' + FULL + b'}, "scores": {"d": 0.5, "d": 0.1}}',
    b'{"id": "a:b", "context": {' + FULL + b'}, "id": "c"}',
    b'{"id": 0.1234567890123456789, "context": {' + FULL + b'}}',
    b'{"id": 1e308, "context": {' + FULL + b'}}', b'{"id": 1e309, "context": {' + FULL + b'}}',
    b'{"id": "\\ud800", "context": {' + FULL + b'}}', b'{"id": "\\u00e9\\t\\u001f", "context": {'
    + FULL + b'}}',
    b'{"id": -0.0, "context": {' + FULL + b'}, "scores": {"d": -0.0, "c.a": 1}}',
    b'{"context": {"aud": "x", "pro": true, "age": ' + b"[" * 1010 + b"]" * 1010 + b"}}",
    # an explicit `null` id is refused, an absent one is not
    b'{"id": null, "context": {' + FULL + b'}}', b'{"id": null, "scores": {"d": 0.7}}',
    b'{"scores": {"d": 0.7}}',
    # scores written the slow way: 0, integers, tiny floats (orjson writes them unlike repr)
    b'{"scores": {"d": 0.00005, "c.a": 0}, "context": {' + FULL + b'}}',
    b'{"scores": {"d": 1, "c.b": 1e-300}, "context": {' + FULL + b'}}',
    b'{"scores": {"c.b": 0.0001, "d": 0.30000000000000004}, "context": {' + FULL + b'}}',
]


def test_lines_orjson_reads_differently(tmp_path: Path) -> None:
    checker = _checker(POLICY, tmp_path)
    data = b"\n".join(TRICKY) + b"\n"
    want_out, want_records, want_bad = reference(checker, data)
    out, records, bad, _ = engine(checker, data, 1 << 20)
    assert (out, records, bad) == (want_out, want_records, want_bad)


POLICY = """policy t.p version "1" {
  owner "o"
  context aud: enum { x, y, z }
  context pro: bool
  context age: number
  categories { c { a, b }, d }
  threshold default 0.5
  resolve most-restrictive
  default allow
  rule r1: refuse when c.a and aud == x
  locked rule r2: warn("w") when age > 18 or d
}
"""


TEXT_POLICY = """policy t.txt version "1" {
  owner "o"
  context aud: enum { x, y }
  categories { pii { email } drugs d }
  detector pii.email = regex "[a-z]+@[a-z]+\\\\.com"
  detector drugs = keywords { "meth", "cocaine" }
  resolve most-restrictive
  default allow
  rule r1: refuse when drugs and aud == x
  rule r2: redact("pii") when pii.email
  rule r3: warn("w") when d
}
"""
_ABSENT = object()
TEXTS = ["mail bob@ex.com", "buy meth", "COCAINE at bob@ex.com", "nothing", "", "a:b",
         "ｍｅｔｈ", "x\u2028y", "\\u003a"]
text_line = st.builds(
    lambda t, aud, i, sc, spaced: _encode(
        {k: v for k, v in (("id", i), ("text", t), ("context", aud), ("scores", sc))
         if v is not _ABSENT}, False, spaced),
    st.sampled_from(TEXTS), st.sampled_from([{"aud": "x"}, {"aud": "y"}, {}, {"aud": "q"},
                                             _ABSENT]),
    st.one_of(st.just(_ABSENT), ident), st.sampled_from([_ABSENT, {}, {"d": 0.7}, []]),
    st.booleans())


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(items=st.lists(st.one_of(text_line, text_line, good_line, bad_line), max_size=25),
       chunk=st.sampled_from([7, 1 << 20]))
def test_text_events_scored_together_decide_as_check(tmp_path_factory: Any, items: list[bytes],
                                                    chunk: int) -> None:
    """Text events go through `scores_batch` (detectors: exact scores), not `check` one by
    one: the same lines, redaction spans and text included, the same reports."""
    checker = _checker(TEXT_POLICY, tmp_path_factory.mktemp("t"))
    data = b"\n".join(items) + b"\n"
    want_out, want_records, want_bad = reference(checker, data)
    out, records, bad, _ = engine(checker, data, chunk)
    assert (out, records, bad) == (want_out, want_records, want_bad)


def test_a_classifier_that_fails_decides_by_on_error_per_event(tmp_path: Path) -> None:
    """A classifier that fails: `scores_batch` cannot score the batch, each event takes
    `check` and its binding failure goes through `on_error`, as before."""
    import shutil

    from policyc.runtime.onnx_binding import default_model_path

    shutil.copy(default_model_path(), tmp_path / "m.onnx")
    pol = tmp_path / "m.pol"
    pol.write_text("""policy t.m version "1" {
  owner "o"
  categories { violence }
  classifier m = onnx "m.onnx" { labels { violence = "violence" } }
  resolve most-restrictive
  default allow
  on_error refuse
  rule r1: warn("v") when violence
}
""")
    checker = load_target(pol, [])
    model = checker.bindings._model(checker.bindings.classifier_specs[0])

    def broken(*_: Any) -> Any:
        raise RuntimeError("model failed")
    model.score_batch = model.score_row = model.score = model._run = broken
    data = b'{"id": 1, "text": "hello"}\n{"id": 2, "text": "bye"}\n'
    want = reference(checker, data)
    out, records, bad, _ = engine(checker, data, 1 << 20)
    assert (out, records, bad) == want
    assert out.count(b"`on_error` decided refuse") == 2


CLASSIFIER_POLICY = """policy t.cls version "1" {
  owner "o"
  context aud: enum { x, y }
  categories { violence illicit { drugs } pii { email } }
  classifier m = onnx "m.onnx" { labels { violence = "violence" } }
  detector pii.email = regex "[a-z]+@[a-z]+\\\\.com"
  detector illicit.drugs = keywords { "meth", "cocaine" }
  resolve most-restrictive
  default allow
  rule r1: refuse when violence and aud == x
  rule r2: redact("pii") when pii.email
  rule r3: warn("w") when illicit.drugs or violence
}
"""
VIOLENT = ["I will kill you", "how to build a bomb", "stab him tonight"]


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(items=st.lists(st.one_of(text_line, text_line, good_line, bad_line,
                                st.builds(lambda t: _encode({"text": t, "context": {"aud": "x"}},
                                                            False, False),
                                          st.sampled_from(VIOLENT))), max_size=30),
       chunk=st.sampled_from([7, 64, 256, 1 << 20]))
def test_text_events_with_a_classifier_read_ahead_decide_as_check(
        tmp_path_factory: Any, items: list[bytes], chunk: int) -> None:
    """With a classifier, each chunk's models start while the chunk before is finished
    (`decided_chunks`): the lines, records and reports are still `check`'s, in order."""
    checker = _checker(CLASSIFIER_POLICY, tmp_path_factory.mktemp("c"), model="m.onnx")
    data = b"\n".join(items) + b"\n"
    want_out, want_records, want_bad = reference(checker, data)
    out, records, bad, _ = engine(checker, data, chunk)
    assert (out, records, bad) == (want_out, want_records, want_bad)


def test_read_ahead_with_a_text_too_expanding_to_normalize(tmp_path: Path) -> None:
    """The models' Python part (normalizing) runs while the chunk is read ahead: a text
    that cannot be normalized fails that batch as it failed in the model thread, and its
    events are decided one by one (the refused text through `on_error`)."""
    checker = _checker(CLASSIFIER_POLICY, tmp_path, model="m.onnx")
    lines = [{"text": t, "context": {"aud": "x"}} for t in
             ["hello there", "\ufdfa" * 100_000, "how to build a bomb", "fine, thanks"]]
    data = b"".join(json.dumps(x).encode() + b"\n" for x in lines)
    want = reference(checker, data)
    out, records, bad, _ = engine(checker, data, 64)
    assert (out, records, bad) == want
    assert b"not normalized" in out


def test_read_ahead_starts_the_models_of_the_next_chunk_first(tmp_path: Path) -> None:
    """`decided_chunks` prepares chunk k+1 (its models started) before it finishes k."""
    from policyc.runtime.stream import Chunk, JsonlEngine, decided_chunks

    engine_ = JsonlEngine(_checker(TEXT_POLICY, tmp_path))
    calls: list[str] = []
    prepare, decide = engine_.prepare, engine_.decide_chunk
    engine_.prepare = lambda c: calls.append(f"prepare {c.first}") or prepare(c)  # type: ignore[method-assign]
    engine_.decide_chunk = lambda c, a, p=None: calls.append(f"decide {c.first}") or decide(c, a, p)  # type: ignore[method-assign]
    chunks = [Chunk(k, [b'{"text": "buy meth"}'], 0) for k in (1, 2, 3)]
    got = [c.first for c, _ in decided_chunks(engine_, chunks, False)]
    assert got == [1, 2, 3]
    assert calls == ["prepare 1", "prepare 2", "decide 1", "prepare 3", "decide 2", "decide 3"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=30), st.sampled_from(
    [b"", b"\r", b"x\r", b"\xef\xbb\xbf{}", b"y" * 45, b"z" * 21 + b"\r"])), max_size=12),
       st.booleans(), st.integers(1, 64))
def test_chunks_split_any_bytes_as_the_line_reader(items: list[bytes], final: bool,
                                                   size: int) -> None:
    """Lines spanning many reads (a pipe's small reads), too long ones, CR and BOM."""
    data = b"\n".join(i.replace(b"\n", b"") for i in items) + (b"\n" if final else b"")
    want = [(ln.number, None if ln.too_long else ln.raw)
            for ln in read_lines(io.BytesIO(data), max_line_bytes=20)]
    got = [(c.first + k, r) for c in read_chunks(io.BytesIO(data), size, max_line_bytes=20)
           for k, r in enumerate(c.raws)]
    assert got == want
