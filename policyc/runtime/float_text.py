"""Small floats written as `repr` writes them, a whole column at a time.

Decision lines write each score as `repr(float)` does (they are `json.dumps` output).
`repr` finds the shortest digits with a slow algorithm (~0.7 us a value below 1e-4,
where model scores often are); orjson finds the same shortest digits several times
faster but lays out values below 1e-4 its own way (``0.0000123``, ``5e-6``). This
module moves orjson's digits into `repr`'s layout (``1.23e-05``, ``5e-06``) with numpy
on a fixed-width byte matrix, with no Python step per value.
"""

from __future__ import annotations

import numpy as np
import orjson

__all__ = ["small_float_reprs"]

#: Widest orjson text of a value below 1e-4: 17 digits behind ``0.0000`` (23 bytes) or
#: ``d.dddddddddddddddde-308`` (23 bytes); `repr` adds at most 3 bytes (``e-05``).
_WIDTH = 32
_MINUS, _ZERO, _DOT = b"-0."


def small_float_reprs(values: np.ndarray) -> list[bytes]:
    """``repr(float(v)).encode()`` for each value, every one finite with 0 < v < 1e-4
    (the caller picks them)."""
    n = len(values)
    if not n:
        return []
    parts = orjson.dumps(values.tolist())[1:-1].split(b",")
    m = np.array(parts, dtype=f"S{_WIDTH}").view(np.uint8).reshape(n, _WIDTH)
    length = np.fromiter(map(len, parts), dtype=np.intp, count=n)
    out = m.copy()
    decimal = np.flatnonzero(m[:, 0] == _ZERO)  # 1e-5 <= v < 1e-4: "0.0000" + digits
    if decimal.size:
        d = m[decimal]
        digits = length[decimal] - 6
        o = np.zeros_like(d)
        o[:, 0] = d[:, 6]  # the first digit, then "." and the others if there are others
        o[:, 2:_WIDTH - 5] = d[:, 7:_WIDTH]
        o[:, 1] = np.where(digits > 1, _DOT, 0)
        at = np.where(digits > 1, digits + 1, 1)
        rows = np.arange(len(d))
        for offset, byte in enumerate(b"e-05"):
            o[rows, at + offset] = byte
        out[decimal] = o
    # "d[.ddd]e-N": repr writes the exponent with at least two digits
    exp = np.flatnonzero((m[:, 0] != _ZERO) & (m[np.arange(n), length - 2] == _MINUS))
    if exp.size:
        last = length[exp] - 1
        out[exp, last + 1] = m[exp, last]
        out[exp, last] = _ZERO
    return out.view(f"S{_WIDTH}").ravel().tolist()  # type: ignore[no-any-return]
