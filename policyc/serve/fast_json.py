"""Parse a request body with orjson when it gives the value the strict reader gives.

The strict reader (`runtime.jsonl.parse_line`, the one `policyc check --input` uses) is
the standard library's decoder with Python hooks on every object and number: ~7 µs for
a small event, the largest cost of a `/v1/check` request after the HTTP stack's own.
orjson parses it in ~0.5 µs but is more lenient in three ways, each guarded here, and
any body that orjson refuses or a guard doubts is left to the strict reader (so every
error message stays the CLI's):

- duplicate keys (orjson keeps the last): a body's `:` bytes are the objects' pairs
  plus the colons inside strings (``\\u003a`` escapes counted apart), so when the parsed
  value has as many pairs (and string colons) as the body has colons, no key was dropped;
- integers of 19 digits or more (orjson turns those past 64 bits into floats): any run
  of 19 digits in the body goes to the strict reader;
- nesting (the strict reader stops near Python's recursion limit): deeper than
  `MAX_DEPTH` goes to the strict reader.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

#: Containers nested deeper than this are left to the strict reader.
MAX_DEPTH = 64
MISS: Any = object()
_loads, _Error = orjson.loads, orjson.JSONDecodeError
_LONG_INT = re.compile(rb"\d{19}")
_DIGITS = b"0123456789"
_ESCAPED_COLON = re.compile(rb"\\u003[aA]")


class _Deep(Exception):
    pass


def _pairs(v: Any, depth: int) -> int:
    """The pairs of every object inside `v` (a dict or a list)."""
    if depth > MAX_DEPTH:
        raise _Deep
    if type(v) is dict:
        n = len(v)
        items: Any = v.values()
    else:
        n, items = 0, v
    for x in items:
        t = type(x)
        if t is dict or t is list:
            n += _pairs(x, depth + 1)
    return n


def _shallow_pairs(v: dict[str, Any]) -> int:
    """`_pairs` of an object whose values hold no container below one level (an
    event: `context` and `scores` hold scalars); -1 for anything deeper."""
    n = len(v)
    for x in v.values():
        t = type(x)
        if t is dict:
            n += len(x)
            for y in x.values():
                t = type(y)
                if t is dict or t is list:
                    return -1
        elif t is list:
            return -1
    return n


def _colons(v: Any) -> int:
    """The pairs of every object in `v`, plus the `:` in its strings (keys included)."""
    t = type(v)
    if t is str:
        return v.count(":")  # type: ignore[no-any-return]
    if t is dict:
        return len(v) + sum(k.count(":") + _colons(x) for k, x in v.items())
    if t is list:
        return sum(_colons(x) for x in v)
    return 0


def loads(body: bytes) -> Any:
    """The body's JSON value, or `MISS` when the strict reader must decide."""
    try:
        value = _loads(body)
    except _Error:
        return MISS
    # a run of 19 digits needs 19 digits: the regex only where there are that many
    if len(body) - len(body.translate(None, _DIGITS)) >= 19 and _LONG_INT.search(body):
        return MISS
    if type(value) is not dict and type(value) is not list:
        return value
    colons = body.count(b":")
    if b"\\u" in body:
        colons += len(_ESCAPED_COLON.findall(body))
    pairs = _shallow_pairs(value) if type(value) is dict else -1
    if pairs < 0:
        try:
            pairs = _pairs(value, 0)
        except _Deep:
            return MISS
    # a dropped duplicate makes the value's count smaller than the body's (see above)
    if pairs == colons or (pairs < colons and _colons(value) == colons):
        return value
    return MISS
