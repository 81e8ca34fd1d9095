"""Hostile bundles for the loader's tests: re-sealed edits, zip bombs, odd zips.

The content hash proves integrity, not authorship: `reseal` recomputes it the way the
bundle writer does (`policyc.runtime.bundle.write_container`), so an edited bundle
passes every hash check and only the loader's own checks stand between it and the
checker. `raw_zip` writes a zip exactly as told (declared sizes, methods, flags,
duplicate names), which `zipfile` would not.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zipfile
import zlib
from typing import Any

import numpy as np

MANIFEST = "manifest.json"
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def unpack(data: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    """(manifest as plain JSON data, every other member's bytes) of a bundle."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    return json.loads(files.pop(MANIFEST)), files


def canonical(manifest: dict[str, Any]) -> bytes:
    """The writer's canonical JSON (`Manifest.canonical`), but NaN and Infinity are written
    rather than refused, so that the loader gets to see them."""
    return json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=True).encode()


def reseal(manifest: dict[str, Any], files: dict[str, bytes]) -> bytes:
    """Bundle bytes for an edited manifest and members, with `files` and `hash` recomputed
    as the writer computes them: every member's sha256, then the sha256 of the canonical
    manifest with `hash` blank."""
    manifest = {**manifest, "files": {n: hashlib.sha256(d).hexdigest()
                                      for n, d in sorted(files.items())}, "hash": ""}
    manifest["hash"] = "sha256:" + hashlib.sha256(canonical(manifest)).hexdigest()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in [(MANIFEST, canonical(manifest)), *sorted(files.items())]:
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            info.create_system = 3
            zf.writestr(info, data)
    return out.getvalue()


def npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def load_npy(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


# ---- raw zips ---------------------------------------------------------------------------------

STORED, DEFLATED, BZIP2 = 0, 8, 12


class Member:
    """One zip member as written: `payload` is the stored (maybe compressed) bytes."""

    def __init__(self, name: str, payload: bytes, *, method: int = STORED, crc: int | None = None,
                 size: int | None = None, flags: int = 0):
        self.name, self.payload, self.method, self.flags = name, payload, method, flags
        self.crc = zlib.crc32(payload) if crc is None else crc
        self.size = len(payload) if size is None else size


def members(data: bytes) -> list[Member]:
    """A bundle's members, stored, in order."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return [Member(n, zf.read(n)) for n in zf.namelist()]


def raw_zip(entries: list[Member]) -> bytes:
    """A zip of exactly these entries: no check on names, sizes, CRCs or methods."""
    out, central = bytearray(), bytearray()
    for m in entries:
        name, offset = m.name.encode(), len(out)
        out += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, m.flags, m.method, 0, 0x21, m.crc,
                           len(m.payload), m.size, len(name), 0) + name + m.payload
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, m.flags, m.method, 0, 0x21,
                               m.crc, len(m.payload), m.size, len(name), 0, 0, 0, 0, 0o644 << 16,
                               offset) + name
    n = len(entries)
    return bytes(out + central + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, n, n, len(central),
                                             len(out), 0))


_MIB = 1 << 20


def deflated_zeros(mib: int, crc: bool = True) -> tuple[bytes, int]:
    """(raw deflate stream of `mib` MiB of zeros, its CRC-32), made in milliseconds.

    One MiB is compressed once and its bytes repeated: after a full flush the
    compressor's output is byte-aligned and its history empty, so the same input gives
    the same bytes. About 1 KB per MiB: 2 GiB of zeros in 2.1 MB. The CRC of 2 GiB of
    zeros costs about a second; `crc=False` gives 0 instead.
    """
    block = bytes(_MIB)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    value = 0
    for _ in range(mib if crc else 0):
        value = zlib.crc32(block, value)
    return piece * mib + b"\x03\x00", value  # b"\x03\x00": a final empty block
