"""The bundle: one deterministic file the runtime loads without running any code.

Layout (a zip archive, entries sorted, fixed timestamps, stored uncompressed):

- ``manifest.json``: the :class:`Manifest` (schema ``policyc/bundle/v1``), canonical JSON;
- ``tables/*.npy``: numpy arrays, little-endian, loaded with ``allow_pickle=False``;
- ``models/<sha256>.onnx``: the ONNX models of the classifier bindings, pinned by hash.

The manifest lists every other entry with its sha256, and ``hash`` is the sha256 of
the canonical manifest JSON with ``hash`` set to ``""``: so it covers every byte of
the bundle except itself. Loading checks all of it and raises :class:`BundleError`
on any mismatch, so a tampered or truncated bundle never decides anything.

The hash proves integrity, not authorship: anyone can edit a table and recompute it.
So loading trusts nothing it reads. It is bounded before anything is inflated (the
zip's end records, then member names, count and declared sizes; the manifest at most
`MAX_MANIFEST_BYTES`, every other member at most ``max_member_bytes``, all of them
together at most twice that), reads each member once in chunks while hashing it, and
then checks every table's shape, range and cross-reference (`consistency.py`): a
bundle that loads decides every event without an exception.

This module is part of the runtime: it imports only the standard library, numpy
and pydantic (never the parser, the semantics or lint).
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
from typing import IO, Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_serializer,
)

SCHEMA = "policyc/bundle/v1"
MANIFEST = "manifest.json"
#: Fixed zip timestamp: the same content must give the same bytes.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)

#: Largest manifest accepted, in bytes (the largest compiled so far is about 35 KB).
MAX_MANIFEST_BYTES = 8 << 20
#: Default largest member once inflated, in bytes (a table or a model; a transformer
#: classifier in ONNX is a few hundred MB). Override: ``max_member_bytes`` or the
#: environment variable `MAX_MEMBER_ENV`.
DEFAULT_MAX_MEMBER_BYTES = 1 << 30
MAX_MEMBER_ENV = "POLICYC_MAX_MEMBER_BYTES"
#: Most members a bundle may have, the manifest included (a compiled bundle has one
#: table per group: a few dozen); its central directory is at most
#: `_MAX_DIRECTORY_BYTES` (an entry is 46 bytes and its name, at most 111 bytes).
MAX_MEMBERS = 16_384
_MAX_DIRECTORY_BYTES = MAX_MEMBERS * 256
_CHUNK = 1 << 20  # members are read and hashed this much at a time

Scalar = bool | float | str
_Hex64 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
#: the only member names a compiler writes (besides the manifest)
_MemberName = Annotated[str, StringConstraints(
    pattern=r"^(tables/[A-Za-z0-9_.-]{1,100}\.npy|models/[0-9a-f]{64}\.onnx)$")]
_Index = Annotated[int, Field(ge=0)]
_Name = Annotated[str, StringConstraints(min_length=1)]


class BundleError(Exception):
    """A bundle that cannot be trusted or read: tampered, truncated, wrong schema.

    The message is one printable line: names read from a hostile bundle may hold line
    breaks or terminal escapes, shown escaped (``\\n``, ``\\x1b``).
    """

    def __init__(self, message: str):
        super().__init__(message if message.isprintable() else "".join(
            c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
            for c in message))


class _Model(BaseModel):
    # no NaN or infinity anywhere: the canonical JSON could not even carry them
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class VariableSpec(_Model):
    """One dimension of the event space, cut into pieces (see `semantics/space.py`)."""

    name: _Name
    kind: Literal["score", "enum", "bool", "number"]
    cuts: list[float] = []
    values: list[bool | str] = []
    default: Scalar | None = None
    n_pieces: Annotated[int, Field(ge=1)]


class DecisionSpec(_Model):
    action: Literal["allow", "warn", "redact", "redirect", "refuse", "escalate"]
    argument: str | None = None


class RuleSpec(_Model):
    id: _Name
    decision: DecisionSpec
    priority: int
    locked: bool
    origin: str
    order: int
    #: the leaf categories the guard reads (redaction uses their detectors' spans)
    categories: list[str] = []


class GroupSpec(_Model):
    """A dense table over a few variables: cell -> best rank among the group's entries."""

    name: str
    vars: list[_Index]
    shape: list[Annotated[int, Field(ge=1)]]
    table: str  # entry name of the .npy
    #: score variables of the group; when all of them sit at score 0 and `skip_zero`
    #: is set, the group matches nothing and is skipped
    score_vars: list[_Index] = []
    skip_zero: bool = False


class BoxSpec(_Model):
    """An entry too wide for a dense table: matched piece by piece at run time."""

    rank: _Index
    masks: list[tuple[_Index, list[_Index]]]  # (variable index, allowed pieces)


class TableSetSpec(_Model):
    """Groups whose minimum over cells gives the best rank (``sentinel`` = no match)."""

    sentinel: Annotated[int, Field(ge=0, lt=1 << 31)]
    always: _Index | None = None  # best rank of entries with no constraint at all
    groups: list[GroupSpec] = []
    boxes: list[BoxSpec] = []


class ClassifierSpec(_Model):
    name: _Name
    file: str  # entry name inside the bundle
    sha256: _Hex64
    source: str  # the path as written in the policy
    labels: list[tuple[str, str]]  # (category leaf, model label)
    on_error: DecisionSpec | None = None
    #: the text normalization applied before the model, by version ("policyc-fold/1");
    #: None: the raw text (and the key is left out of the manifest, as bundles written
    #: before it existed have it)
    normalize: str | None = None

    @model_serializer(mode="wrap")
    def _leave_out_no_normalization(self, handler: Any) -> Any:
        data = handler(self)
        if isinstance(data, dict) and data.get("normalize") is None:
            data.pop("normalize", None)
        return data


class DetectorSpec(_Model):
    category: str
    kind: Literal["regex", "keywords"]
    pattern: str | None = None
    validator: str | None = None
    keywords: list[str] = []
    fingerprint: str


class TestSpec(_Model):
    name: str
    given: list[tuple[str, Scalar]] = []
    text: str | None = None
    expect: DecisionSpec | None = None
    expect_rule: str | None = None


class GateSpec(_Model):
    metric: str
    op: str
    value: float


class Manifest(_Model):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True,
                              allow_inf_nan=False)

    schema_: Literal["policyc/bundle/v1"] = Field(alias="schema")
    policy: str
    version: str
    hash: str
    compiler: str
    strategy: Literal["most-restrictive", "least-restrictive", "first-match", "priority",
                      "most-specific", "unique"]
    default: DecisionSpec | None
    on_error: DecisionSpec
    variables: list[VariableSpec]
    actions: list[str]
    rules: list[RuleSpec]
    #: rule indices best key first (key-ordered strategies) or flattened order
    rank: list[_Index]
    #: locked rule indices, best floor first
    floor_rank: list[_Index]
    decisions: list[DecisionSpec]  # distinct decisions; batch results index into it
    main: TableSetSpec | None = None
    floors: TableSetSpec | None = None
    n_entries: _Index
    entries: str  # .npy: bool [sum(n_pieces), n_entries], per variable blocks of rows
    entry_rule: str  # .npy: int32 [n_entries]
    contains: str | None = None  # .npy: bool [n_rules, n_rules] (most-specific only)
    classifiers: list[ClassifierSpec] = []
    detectors: list[DetectorSpec] = []
    tests: list[TestSpec] = []
    #: effective threshold of every leaf category (after inheritance), for `policyc eval`
    thresholds: dict[str, float] = {}
    gates: list[GateSpec] = []
    owner: str | None = None
    meta: dict[str, str] = {}
    lineage: list[str] = []
    #: entry name -> sha256 of its bytes (every entry but the manifest)
    files: dict[_MemberName, _Hex64] = {}

    def canonical(self, with_hash: bool = True) -> bytes:
        """Canonical JSON: sorted keys, no spaces, UTF-8; `with_hash=False` blanks `hash`."""
        data = self.model_dump(mode="json", by_alias=True)
        if not with_hash:
            data["hash"] = ""
        return json.dumps(data, sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False, allow_nan=False).encode()

    def content_hash(self) -> str:
        return "sha256:" + hashlib.sha256(self.canonical(with_hash=False)).hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def npy_bytes(array: np.ndarray) -> bytes:
    """A little-endian .npy serialization (deterministic header, no pickle)."""
    arr = np.ascontiguousarray(array)
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def write_container(manifest: Manifest, files: dict[str, bytes]) -> tuple[bytes, Manifest]:
    """Seal a manifest and its files into deterministic bundle bytes."""
    digests = {name: sha256_bytes(data) for name, data in sorted(files.items())}
    manifest = manifest.model_copy(update={"files": digests, "hash": ""})
    manifest = manifest.model_copy(update={"hash": manifest.content_hash()})
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zf:
        entries = [(MANIFEST, manifest.canonical())] + sorted(files.items())
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            zf.writestr(info, data)
    return out.getvalue(), manifest



# ---- loading ----------------------------------------------------------------------------


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
        data = fh.read(_CHUNK)
        digest = hashlib.sha256(data)
        if len(data) == _CHUNK:  # more to come
            out = io.BytesIO()
            out.write(data)
            del data
            while chunk := fh.read(_CHUNK):
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


class BundleData:
    """A verified bundle: the manifest, its tables as read-only arrays, its models' bytes.

    Nothing in it was executed. Model bytes are held once; `release` drops them once a
    session is built from them.
    """

    def __init__(self, manifest: Manifest, arrays: dict[str, np.ndarray],
                 blobs: dict[str, bytes], source: str):
        self.manifest = manifest
        self._arrays = arrays
        self._blobs = blobs
        self.source = source

    def array(self, name: str) -> np.ndarray:
        try:
            return self._arrays[name]
        except KeyError:
            raise BundleError(f"{self.source}: table `{name}` is missing") from None

    def blob(self, name: str) -> bytes:
        try:
            return self._blobs[name]
        except KeyError:
            raise BundleError(f"{self.source}: entry `{name}` is missing or was released") \
                from None

    def release(self, name: str) -> None:
        """Drop a model's bytes (its session holds what it needs)."""
        self._blobs.pop(name, None)


def _read_zip(fp: IO[bytes], size: int, source: str, limit: int) -> BundleData:
    """The loading steps, in order; every refusal is a `BundleError`."""
    from policyc.runtime import consistency

    count, directory = _end_records(fp, size, source)
    if count > MAX_MEMBERS or directory > _MAX_DIRECTORY_BYTES:
        raise BundleError(f"{source}: the zip declares {count} members in a "
                          f"{_size(directory)} directory (a bundle has at most {MAX_MEMBERS})")
    with zipfile.ZipFile(fp) as zf:
        infos = _member_infos(zf, source, limit)  # names, count, sizes: nothing inflated yet
        data, _ = _read_member(zf, infos[MANIFEST], source)
        manifest = _parse_manifest(data, source)
        del data
        # A signature over `manifest.hash` would be verified here: before any other member
        # is read, and `manifest.files` then pins every one of them.
        listed = set(manifest.files)
        if set(infos) - {MANIFEST} != listed:
            odd = sorted((set(infos) - {MANIFEST}) ^ listed)
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
    return BundleData(manifest, arrays, blobs, source)


def read_bundle(data: bytes, source: str = "<bytes>",
                max_member_bytes: int | None = None) -> BundleData:
    """Parse and verify bundle bytes (bounded; every hash; every table; see the module doc)."""
    limit = member_limit(max_member_bytes)
    return _guarded(lambda: _read_zip(io.BytesIO(data), len(data), source, limit), source)


def read_bundle_file(path: str | Path, max_member_bytes: int | None = None) -> BundleData:
    """`read_bundle` on a file, read member by member (the file is never held whole)."""
    limit = member_limit(max_member_bytes)
    try:
        fh = open(path, "rb")
    except OSError as err:
        raise BundleError(f"cannot read bundle {path}: {err.strerror or err}") from None
    with fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise BundleError(f"cannot read bundle {path}: not a regular file")
        return _guarded(lambda: _read_zip(fh, info.st_size, str(path), limit), str(path))


def _guarded(read: Callable[[], BundleData], source: str) -> BundleData:
    try:
        return read()
    except BundleError:
        raise
    except _ZIP_ERRORS as err:
        raise BundleError(f"{source}: not a readable policyc bundle ({err})") from None


class Bundle:
    """Public entry point: ``Bundle.load(path).check(text=..., context=..., scores=...)``.

    ``max_member_bytes``: the largest member (table or model) accepted once inflated;
    default `DEFAULT_MAX_MEMBER_BYTES` (1 GiB), or `MAX_MEMBER_ENV` when set.
    """

    @staticmethod
    def load(path: str | Path, max_member_bytes: int | None = None) -> Any:
        from policyc.runtime.checker import Checker

        return Checker(read_bundle_file(path, max_member_bytes))

    @staticmethod
    def from_bytes(data: bytes, source: str = "<bytes>",
                   max_member_bytes: int | None = None) -> Any:
        from policyc.runtime.checker import Checker

        return Checker(read_bundle(data, source, max_member_bytes))
