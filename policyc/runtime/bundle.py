"""The bundle: one deterministic file the runtime loads without running any code.

Layout (a zip archive, entries sorted, fixed timestamps, stored uncompressed):

- ``manifest.json``: the :class:`Manifest` (schema ``policyc/bundle/v1``), canonical JSON;
- ``tables/*.npy``: numpy arrays, little-endian, loaded with ``allow_pickle=False``;
- ``models/<sha256>.onnx``: the ONNX models of the classifier bindings, pinned by hash.

The manifest lists every other entry with its sha256, and ``hash`` is the sha256 of
the canonical manifest JSON with ``hash`` set to ``""``: so it covers every byte of
the bundle except itself. Loading checks all of it and raises :class:`BundleError`
on any mismatch, so a tampered or truncated bundle never decides anything.

This module is part of the runtime: it imports only the standard library, numpy
and pydantic (never the parser, the semantics or lint).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

SCHEMA = "policyc/bundle/v1"
MANIFEST = "manifest.json"
#: Fixed zip timestamp: the same content must give the same bytes.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)

Scalar = bool | float | str


class BundleError(Exception):
    """A bundle that cannot be trusted or read: tampered, truncated, wrong schema."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VariableSpec(_Model):
    """One dimension of the event space, cut into pieces (see `semantics/space.py`)."""

    name: str
    kind: Literal["score", "enum", "bool", "number"]
    cuts: list[float] = []
    values: list[bool | str] = []
    default: Scalar | None = None
    n_pieces: int


class DecisionSpec(_Model):
    action: Literal["allow", "warn", "redact", "redirect", "refuse", "escalate"]
    argument: str | None = None


class RuleSpec(_Model):
    id: str
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
    vars: list[int]
    shape: list[int]
    table: str  # entry name of the .npy
    #: score variables of the group; when all of them sit at score 0 and `skip_zero`
    #: is set, the group matches nothing and is skipped
    score_vars: list[int] = []
    skip_zero: bool = False


class BoxSpec(_Model):
    """An entry too wide for a dense table: matched piece by piece at run time."""

    rank: int
    masks: list[tuple[int, list[int]]]  # (variable index, allowed pieces)


class TableSetSpec(_Model):
    """Groups whose minimum over cells gives the best rank (``sentinel`` = no match)."""

    sentinel: int
    always: int | None = None  # best rank of entries with no constraint at all
    groups: list[GroupSpec] = []
    boxes: list[BoxSpec] = []


class ClassifierSpec(_Model):
    name: str
    file: str  # entry name inside the bundle
    sha256: str
    source: str  # the path as written in the policy
    labels: list[tuple[str, str]]  # (category leaf, model label)
    on_error: DecisionSpec | None = None


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
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

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
    rank: list[int]
    #: locked rule indices, best floor first
    floor_rank: list[int]
    decisions: list[DecisionSpec]  # distinct decisions; batch results index into it
    main: TableSetSpec | None = None
    floors: TableSetSpec | None = None
    n_entries: int
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
    files: dict[str, str] = {}  # entry name -> sha256 of its bytes (all but the manifest)

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


class BundleData:
    """A verified bundle: the manifest plus its arrays and model bytes, nothing executed."""

    def __init__(self, manifest: Manifest, files: dict[str, bytes], source: str):
        self.manifest = manifest
        self._files = files
        self.source = source

    def array(self, name: str) -> np.ndarray:
        try:
            return np.load(io.BytesIO(self._files[name]), allow_pickle=False)
        except (KeyError, ValueError, OSError) as err:
            raise BundleError(f"{self.source}: table `{name}` cannot be read: {err}") from None

    def blob(self, name: str) -> bytes:
        try:
            return self._files[name]
        except KeyError:
            raise BundleError(f"{self.source}: entry `{name}` is missing") from None


def read_bundle(data: bytes, source: str = "<bytes>") -> BundleData:
    """Parse and verify bundle bytes (schema, every file's sha256, the content hash)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = zf.namelist()
            if MANIFEST not in names:
                raise BundleError(f"{source}: not a policyc bundle (no {MANIFEST})")
            contents = {n: zf.read(n) for n in names}
    except BundleError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, zipfile.LargeZipFile) as err:
        raise BundleError(f"{source}: not a readable policyc bundle ({err})") from None
    try:
        raw: Any = json.loads(contents.pop(MANIFEST))
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
    if manifest.content_hash() != manifest.hash:
        raise BundleError(f"{source}: content hash mismatch: the manifest says {manifest.hash} "
                          f"but its content hashes to {manifest.content_hash()} (tampered?)")
    if set(contents) != set(manifest.files):
        extra = sorted(set(contents) ^ set(manifest.files))
        raise BundleError(f"{source}: entries do not match the manifest: {', '.join(extra)}")
    for name, digest in manifest.files.items():
        if sha256_bytes(contents[name]) != digest:
            raise BundleError(f"{source}: entry `{name}` does not match its sha256 (tampered?)")
    return BundleData(manifest, contents, source)


def read_bundle_file(path: str | Path) -> BundleData:
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise BundleError(f"cannot read bundle {path}: {err.strerror or err}") from None
    return read_bundle(data, str(path))


class Bundle:
    """Public entry point: ``Bundle.load(path).check(text=..., context=..., scores=...)``."""

    @staticmethod
    def load(path: str | Path) -> Any:
        from policyc.runtime.checker import Checker

        return Checker(read_bundle_file(path))

    @staticmethod
    def from_bytes(data: bytes, source: str = "<bytes>") -> Any:
        from policyc.runtime.checker import Checker

        return Checker(read_bundle(data, source))
