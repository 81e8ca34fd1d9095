"""The bundle: one deterministic file the runtime loads without running any code.

Layout (a zip archive, entries sorted, fixed timestamps, stored uncompressed):

- ``manifest.json``: the :class:`Manifest` (schema ``policyc/bundle/v1``), canonical JSON;
- ``tables/*.npy``: numpy arrays, little-endian, loaded with ``allow_pickle=False``;
- ``models/<sha256>.onnx``: the ONNX models of the classifier bindings, pinned by hash;
  ``models/<sha256>.json``: a tokenizer-input model's tokenizer.json and config.json.

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
import zipfile
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
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
#: `MAX_DIRECTORY_BYTES` (an entry is 46 bytes and its name, at most 111 bytes).
MAX_MEMBERS = 16_384
MAX_DIRECTORY_BYTES = MAX_MEMBERS * 256
READ_CHUNK_BYTES = 1 << 20  # members are read and hashed this much at a time

Scalar = bool | float | str
_Hex64 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
#: the only member names a compiler writes (besides the manifest)
_MemberName = Annotated[str, StringConstraints(
    pattern=r"^(tables/[A-Za-z0-9_.-]{1,100}\.npy|models/[0-9a-f]{64}\.(onnx|json))$")]
_Index = Annotated[int, Field(ge=0)]
_Name = Annotated[str, StringConstraints(min_length=1)]


class BundleError(Exception):
    """A bundle that cannot be trusted or read: tampered, truncated, wrong schema.

    The message is one printable line: names read from a hostile bundle may hold line
    breaks or terminal escapes, shown escaped (``\\n``, ``\\x1b``). `help` is the fix
    the user should try; a command prints `RECOMPILE_HELP` when there is none.
    """

    def __init__(self, message: str, help: str | None = None):
        super().__init__(message if message.isprintable() else "".join(
            c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
            for c in message))
        self.help = help


#: the fix for a bundle that is damaged or from another version: build it again
RECOMPILE_HELP = "recompile the policy with `policyc compile`"


class _Model(BaseModel):
    # no NaN or infinity anywhere: the canonical JSON could not even carry them
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class VariableSpec(_Model):
    """One dimension of the event space, cut into pieces (see `semantics/regions/space.py`)."""

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


class TokenizerSpec(_Model):
    """A tokenizer-input classifier's tokenizer.json, its config.json and its options."""

    file: str  # entry name inside the bundle: models/<sha256>.json
    sha256: _Hex64
    source: str  # the path as written in the policy
    config_file: str | None = None  # config.json beside the model, if there was one
    config_sha256: _Hex64 | None = None
    config_source: str | None = None
    #: the checked `classifier { }` options (`classifier_options.OPTIONS`)
    options: dict[str, str | int] = {}


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
    #: a tokenizer-input model's tokenizer (None: a string-input model, key left out)
    tokenizer: TokenizerSpec | None = None

    @model_serializer(mode="wrap")
    def _leave_out_no_normalization(self, handler: Any) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            for key in ("normalize", "tokenizer"):
                if data.get(key) is None:
                    data.pop(key, None)
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
        #: id of the trusted key whose signature was verified (None: not verified)
        self.signer: str | None = None

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
