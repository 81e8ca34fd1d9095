"""`serve.fast_json`: orjson's value is taken only when it is the strict reader's."""

from __future__ import annotations

import json
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policyc.runtime.jsonl import BadLine, Line, parse_line
from policyc.serve.fast_json import MISS, loads


def strict(body: bytes) -> object:
    try:
        return parse_line(Line(1, body, len(body)))
    except BadLine:
        return BadLine


def same(a: object, b: object) -> bool:
    """Equal with the same types throughout (1 is not 1.0, -0.0 is not 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)  # type: ignore[index]
    if isinstance(a, list):
        return len(a) == len(b) and all(map(same, a, b))  # type: ignore[arg-type]
    if isinstance(a, float):
        return math.copysign(1, a) == math.copysign(1, b) and a == b  # type: ignore[arg-type]
    return a == b


def agrees(body: bytes) -> None:
    fast, slow = loads(body), strict(body)
    if fast is not MISS:
        assert slow is not BadLine, body
        assert same(fast, slow), body


TRICKY = [
    b'{"a": 1, "a": 2}', b'{"scores": {"x": 0.1, "x": 0.2}}', b'[{"a": 1}, {"b": 1, "b": 1}]',
    b'{"a:": 1, "a:": 2}', b'{"t": "x:y", "a": 1, "a": 2}', b'{"t": "\\u003a", "a": 1, "a": 2}',
    b'{"t": "\\\\u003a", "a": 1, "a": 2}', b'{"a": 1, "a": "\\u003A"}',
    b'{"\\u0061": 1, "a": 2}', b'18446744073709551616', b'{"id": 18446744073709551616}',
    b'{"id": 9223372036854775808}', b'{"id": -9223372036854775809}', b'1e400',
    b'{"x": -1e400}', b'1.5e-400', b'NaN', b'{"x": Infinity}', b'"\\ud800"',
    b'{"t": "\\udc00x"}', b'\xef\xbb\xbf{}', b'{"t": "\xed\xa0\x80"}', b'{"t": "\xff"}',
    b'{"a": "\x01"}', b'"\x7f"', b"", b" ", b"{} {}", b"[1,]", b"-0", b"-0.0", b"0.1e1",
    b"1E5", b"[" * 70 + b"]" * 70, b"[" * 2000 + b"]" * 2000, b'{"a": ' * 70 + b"1" + b"}" * 70,
    b'{"id": "s1", "context": {"audience": "teen"}, "scores": {"harassment": 0.7}}',
    b'{"text": "note: see http://x", "context": {}}', b'0.12345678901234567890',
]
#: one level of objects (the shallow count), deeper ones (the general count), digits
NESTED = [
    b'{"context": {"a": 1, "a": 2}}', b'{"context": {"a": [1]}, "x": 1, "x": 2}',
    b'{"context": {"a": {"b": 1, "b": 2}}}', b'{"s": [{"a": 1, "a": 2}]}',
    b'{"id": 12345678901234567890123}', b'{"a": 1234567890, "b": 123456789}',
]


@pytest.mark.parametrize("body", TRICKY + NESTED)
def test_tricky_bodies(body: bytes) -> None:
    agrees(body)


def test_duplicates_are_never_taken() -> None:
    for body in TRICKY[:9] + NESTED[:4]:
        assert loads(body) is MISS


def test_plain_events_take_the_fast_path() -> None:
    assert loads(TRICKY[-3]) == json.loads(TRICKY[-3])
    assert loads(TRICKY[-2]) == json.loads(TRICKY[-2])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(1 << 70), 1 << 70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(alphabet="ab:\\\"\u00e9\U0001f600"),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(alphabet="ab:", max_size=3), inner, max_size=4),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(json_values, st.booleans(), st.integers(0, 2**32))
def test_random_values_and_mutations(value: object, ascii_only: bool, seed: int) -> None:
    body = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    agrees(body)
    rnd = random.Random(seed)
    for _ in range(5):  # mutated bodies: duplicated spans, dropped and changed bytes
        b = bytearray(body)
        k = rnd.randrange(len(b) + 1)
        op = rnd.randrange(3)
        if op == 0:
            j = rnd.randrange(k, len(b) + 1)
            b[k:k] = b[k:j]
        elif op == 1 and b:
            del b[k:k + rnd.randint(1, 3)]
        elif b:
            b[min(k, len(b) - 1)] = rnd.choice(b'{}[],:"\\0123456789e-.au ')
        agrees(bytes(b))
