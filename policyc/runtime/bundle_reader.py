"""Reading a bundle: bounded before anything is inflated, then verified.

Every step of `bundle.py`'s module docstring, in order: the zip's end records, member
names, count and declared sizes; each member read once in chunks while it is hashed;
the manifest parsed in its exact canonical form; every table's header checked before
allocation; then `consistency.py` checks shapes, ranges and cross-references. Every
refusal is a `BundleError`. The format itself (manifest models, limits, the writer)
stays in `bundle.py`, which imports nothing of this module.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np
from pydantic import ValidationError

from policyc.runtime import consistency, signing
from policyc.runtime.bundle import (
    DEFAULT_MAX_MEMBER_BYTES,
    MANIFEST,
    MAX_DIRECTORY_BYTES,
    MAX_MANIFEST_BYTES,
    MAX_MEMBER_ENV,
    MAX_MEMBERS,
    READ_CHUNK_BYTES,
    SCHEMA,
    BundleData,
    BundleError,
    Manifest,
    sha256_bytes,
)


def _size(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.1f} {unit}"
    return f"{n} bytes"


def parse_size(text: str) -> int | None:
    """A byte count: ``536870912``, ``512M``, ``512MiB``, ``2G`` (binary units); None if not."""
    raw = text.strip().lower().removesuffix("b").removesuffix("i")
    scale = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}.get(raw[-1:], 1)
    digits = raw[:-1].strip() if scale > 1 else raw
    return int(digits) * scale if digits.isascii() and digits.isdigit() else None


def member_limit(max_member_bytes: int | None = None) -> int:
    """The member cap: the argument, else `MAX_MEMBER_ENV`, else the default."""
    if max_member_bytes is not None:
        if max_member_bytes < 1:
            raise BundleError(f"the member size limit must be positive, not {max_member_bytes}")
        return max_member_bytes
    raw = os.environ.get(MAX_MEMBER_ENV, "")
    if not raw.strip():
        return DEFAULT_MAX_MEMBER_BYTES
    limit = parse_size(raw)
    if not limit:
        raise BundleError(f"{MAX_MEMBER_ENV}={raw!r} is not a size in bytes "
                          "(write e.g. 536870912, 512M or 2G)")
    return limit


#: What a corrupt or hostile zip makes `zipfile` and `zlib` raise.
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
               NotImplementedError, RuntimeError, zlib.error, struct.error)


def _end_records(fp: IO[bytes], size: int, source: str) -> tuple[int, int]:
    """(members, central directory bytes) as the zip's end records declare them.

    Read before `zipfile` reads the central directory (which it trusts, all of it):
    a directory of millions of entries is refused without being parsed.
    """
    tail_size = min(size, 22 + 0xFFFF + 20)  # end record, the longest comment, zip64 locator
    fp.seek(size - tail_size)
    tail = fp.read(tail_size)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        raise BundleError(f"{source}: not a policyc bundle (not a zip archive)")
    count, directory = struct.unpack("<10xHL6x", tail[at:at + 22])
    if count == 0xFFFF or directory == 0xFFFFFFFF:  # zip64: the real figures are elsewhere
        locator = tail[at - 20:at] if at >= 20 else b""
        if locator[:4] != b"PK\x06\x07":
            raise BundleError(f"{source}: not a readable policyc bundle (bad zip64 records)")
        fp.seek(struct.unpack("<8xQ4x", locator)[0])
        record = fp.read(56)
        if len(record) < 56 or record[:4] != b"PK\x06\x06":
            raise BundleError(f"{source}: not a readable policyc bundle (bad zip64 records)")
        count, directory = struct.unpack("<32xQQ8x", record)
    return count, directory


def _member_infos(zf: zipfile.ZipFile, source: str, limit: int) -> dict[str, zipfile.ZipInfo]:
    """Members by name, refused on anything a compiler never writes, before inflating any."""
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise BundleError(f"{source}: {len(infos)} members (a bundle has at most {MAX_MEMBERS})")
    by_name: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        if info.filename in by_name:
            raise BundleError(f"{source}: member `{info.filename}` appears twice (tampered?)")
        by_name[info.filename] = info
    if MANIFEST not in by_name:
        raise BundleError(f"{source}: not a policyc bundle (no {MANIFEST})")
    total = 0  # every member but the manifest
    for info in infos:
        name = info.filename
        if info.flag_bits & 0x1:
            raise BundleError(f"{source}: member `{name}` is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise BundleError(f"{source}: member `{name}` uses compression method "
                              f"{info.compress_type} (bundles are stored or deflated)")
        cap = MAX_MANIFEST_BYTES if name == MANIFEST else limit
        if info.file_size > cap:
            hint = "" if name == MANIFEST else \
                f"; a larger limit: `max_member_bytes` or {MAX_MEMBER_ENV}"
            raise BundleError(f"{source}: member `{name}` inflates to {_size(info.file_size)}, "
                              f"over the limit of {_size(cap)}{hint}")
        total += 0 if name == MANIFEST else info.file_size
    if total > 2 * limit:
        raise BundleError(f"{source}: the members inflate to {_size(total)} together, over "
                          f"the limit of {_size(2 * limit)} (twice the member limit; a larger "
                          f"one: `max_member_bytes` or {MAX_MEMBER_ENV})")
    return by_name


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, source: str) -> tuple[bytes, str]:
    """(bytes, sha256) of a member, read once in chunks; never more than its declared size.

    `zipfile` stops at the declared size and checks the CRC there; the bytes are held
    once (a `BytesIO` grows in place and `getvalue` hands its buffer over).
    """
    with zf.open(info) as fh:
        data = fh.read(READ_CHUNK_BYTES)
        digest = hashlib.sha256(data)
        if len(data) == READ_CHUNK_BYTES:  # more to come
            out = io.BytesIO()
            out.write(data)
            del data
            while chunk := fh.read(READ_CHUNK_BYTES):
                digest.update(chunk)
                out.write(chunk)
            data = out.getvalue()
            del out
    if len(data) != info.file_size:
        raise BundleError(f"{source}: member `{info.filename}` holds {len(data)} bytes, not "
                          f"the {info.file_size} its header declares (truncated?)")
    return data, digest.hexdigest()


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _parse_manifest(data: bytes, source: str) -> Manifest:
    """The manifest, schema-checked, its content hash verified, in canonical form."""
    try:
        raw: Any = json.loads(data, parse_constant=_no_constant)
    except RecursionError:
        raise BundleError(f"{source}: the manifest is nested too deeply to be a "
                          "policyc manifest") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise BundleError(f"{source}: the manifest is not valid JSON ({err})") from None
    if not isinstance(raw, dict) or raw.get("schema") != SCHEMA:
        got = raw.get("schema") if isinstance(raw, dict) else type(raw).__name__
        raise BundleError(f"{source}: unsupported bundle schema {got!r} (expected {SCHEMA!r})")
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise BundleError(f"{source}: invalid manifest at `{where}`: {first['msg']}") from None
    content = manifest.canonical(with_hash=False)
    computed = "sha256:" + sha256_bytes(content)
    if computed != manifest.hash:
        raise BundleError(f"{source}: content hash mismatch: the manifest says {manifest.hash} "
                          f"but its content hashes to {computed} (tampered?)")
    # the very bytes read are the canonical form, so the hash covers them (a wrong first
    # match of the pattern can only make this comparison fail)
    if data.replace(f'"hash":"{manifest.hash}"'.encode(), b'"hash":""', 1) != content:
        raise BundleError(f"{source}: the manifest is not in the canonical form the compiler "
                          "writes (edited?)")
    return manifest


#: The header `np.save` writes for a table (parsed without `ast.literal_eval`).
_NPY_HEADER = re.compile(rb"\{'descr': '([<|][biu][1248])', 'fortran_order': False, "
                         rb"'shape': \(((?:\d+, )*\d+,?|)\), \} *\n")


def _npy_header(data: bytes) -> tuple[tuple[int, ...], bool, np.dtype[Any], int]:
    """(shape, Fortran order, dtype, data offset) of a .npy file's bytes."""
    if data[:8] == b"\x93NUMPY\x01\x00" and len(data) >= 10:
        end = 10 + int.from_bytes(data[8:10], "little")
        match = _NPY_HEADER.fullmatch(data, 10, end)
        if match:
            shape = tuple(int(n) for n in match[2].split(b",") if n.strip())
            return shape, False, np.dtype(match[1].decode()), end
    fh = io.BytesIO(data)  # any other header numpy writes
    version = np.lib.format.read_magic(fh)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
        np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read(fh)
    return shape, fortran, dtype, fh.tell()


def _npy(data: bytes, name: str, source: str) -> np.ndarray:
    """A .npy member as a read-only array over its bytes (no copy), sizes checked first.

    `np.load` allocates what the header declares before reading: a 100-byte table
    declaring a terabyte would be a bomb. Only bool and integer arrays are tables.
    """
    try:
        shape, fortran, dtype, offset = _npy_header(data)
    except (ValueError, SyntaxError, TypeError, struct.error) as err:
        raise BundleError(f"{source}: table `{name}` cannot be read: {err}") from None
    if dtype.kind not in "biu" or dtype.fields is not None or dtype.str[0] not in "<|":
        raise BundleError(f"{source}: table `{name}` holds {dtype.str} values (tables hold "
                          "little-endian booleans or integers)")
    count = 1
    for n in shape:
        count *= n
    if count * dtype.itemsize != len(data) - offset:
        raise BundleError(f"{source}: table `{name}` declares shape {list(shape)} but holds "
                          f"{len(data) - offset} bytes of data")
    array = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    return array.reshape(shape, order="F" if fortran else "C")


def _read_zip(fp: IO[bytes], size: int, source: str, limit: int, keys: Any = None
              ) -> BundleData:
    """The loading steps, in order; every refusal is a `BundleError`."""
    count, directory = _end_records(fp, size, source)
    if count > MAX_MEMBERS or directory > MAX_DIRECTORY_BYTES:
        raise BundleError(f"{source}: the zip declares {count} members in a "
                          f"{_size(directory)} directory (a bundle has at most {MAX_MEMBERS})")
    with zipfile.ZipFile(fp) as zf:
        infos = _member_infos(zf, source, limit)  # names, count, sizes: nothing inflated yet
        data, _ = _read_member(zf, infos[MANIFEST], source)
        manifest = _parse_manifest(data, source)
        del data
        # ---- signature (`signing.py`): before any other member is read; the signed
        # `manifest.hash` and then `manifest.files` pin every one of them
        signer = signing.verify(signing.read_signature(
            zf, infos.get(signing.SIGNATURE_MEMBER), source), manifest.hash, keys, source)
        # ---- end of signature
        listed = set(manifest.files)
        if set(infos) - {MANIFEST, signing.SIGNATURE_MEMBER} != listed:
            odd = sorted((set(infos) - {MANIFEST, signing.SIGNATURE_MEMBER}) ^ listed)
            more = f" and {len(odd) - 5} more" if len(odd) > 5 else ""
            raise BundleError(f"{source}: entries do not match the manifest: "
                              f"{', '.join(odd[:5])}{more}")
        consistency.check_manifest(manifest, source)  # before reading the large members
        arrays: dict[str, np.ndarray] = {}
        blobs: dict[str, bytes] = {}
        for name, digest in sorted(manifest.files.items()):
            blob, got = _read_member(zf, infos[name], source)
            if got != digest:
                raise BundleError(f"{source}: entry `{name}` does not match its sha256 "
                                  "(tampered?)")
            if name.startswith("tables/"):
                arrays[name] = _npy(blob, name, source)
            else:
                blobs[name] = blob
            del blob
    consistency.check_tables(manifest, arrays, source)
    verified = BundleData(manifest, arrays, blobs, source)
    verified.signer = signer
    return verified


def read_bundle(data: bytes, source: str = "<bytes>",
                max_member_bytes: int | None = None, verify_key: Any = None) -> BundleData:
    """Parse and verify bundle bytes (bounded; every hash; every table; see the module doc).

    `verify_key`: the trusted signing keys (`signing.resolve`: None takes
    `POLICYC_VERIFY_KEY` when set, False never verifies)."""
    limit, keys = member_limit(max_member_bytes), signing.resolve(verify_key)
    return _guarded(lambda: _read_zip(io.BytesIO(data), len(data), source, limit, keys),
                    source)


def read_bundle_file(path: str | Path, max_member_bytes: int | None = None,
                     verify_key: Any = None) -> BundleData:
    """`read_bundle` on a file, read member by member (the file is never held whole)."""
    limit, keys = member_limit(max_member_bytes), signing.resolve(verify_key)
    try:
        fh = open(path, "rb")
    except OSError as err:
        raise BundleError(f"cannot read bundle {path}: {err.strerror or err}") from None
    with fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise BundleError(f"cannot read bundle {path}: not a regular file")
        return _guarded(lambda: _read_zip(fh, info.st_size, str(path), limit, keys),
                        str(path))


def _guarded(read: Callable[[], BundleData], source: str) -> BundleData:
    try:
        return read()
    except BundleError:
        raise
    except _ZIP_ERRORS as err:
        raise BundleError(f"{source}: not a readable policyc bundle ({err})") from None
