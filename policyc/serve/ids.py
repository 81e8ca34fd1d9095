"""Decision ids for the server: random UUID4 strings, made 512 at a time.

The same kind of id as `runtime.audit.new_decision_id` (random, not secret: `random`,
reseeded in each forked process). Made one at a time in the middle of a request it
costs ~2.5 µs on the server's hot path; a block of 512 made in one loop, ~0.5 µs each.
"""

from __future__ import annotations

import random

BLOCK = 512
#: the variant nibble (RFC 9562: 10xx) from any hex digit's low two bits
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


class DecisionIds:
    """`next_id()`: a fresh UUID4 string. One thread (the event loop's) draws ids."""

    def __init__(self) -> None:
        self._ids: list[str] = []

    def next_id(self) -> str:
        ids = self._ids
        if not ids:
            ids = self._ids = _block(BLOCK)
        return ids.pop()


def _block(n: int) -> list[str]:
    h = random.getrandbits(128 * n).to_bytes(16 * n, "big").hex()
    v = _VARIANT
    return [f"{h[k:k + 8]}-{h[k + 8:k + 12]}-4{h[k + 13:k + 16]}-{v[h[k + 16]]}"
            f"{h[k + 17:k + 20]}-{h[k + 20:k + 32]}" for k in range(0, 32 * n, 32)]
