"""Bundle signatures: Ed25519 over the content hash, kept beside the content.

The content hash proves that a bundle is whole, not who sealed it: anyone can edit a
table and recompute every hash. A signature by a key the loader trusts does.

- **What is signed**: the bytes ``policyc/signature/v1\\n`` followed by the bundle's
  content hash (``sha256:…``, which pins the manifest and through it every member).
- **Where it is kept**: a zip member `SIGNATURE_MEMBER` outside the hashed content, so
  `policyc compile` stays byte-deterministic and a signed bundle is still one file
  (swapped atomically with one rename). It holds one JSON object::

      {"schema": "policyc/signature/v1", "hash": "sha256:…",
       "signatures": [{"algorithm": "ed25519", "key_id": "…", "signature": "<base64>"}]}

  Several signatures may be listed (co-signing, key rotation); signing again with the
  same key replaces its signature. Ed25519 is deterministic: the same bundle signed
  with the same key gives the same bytes.
- **When it is checked**: whenever verify keys are given (``verify_key=`` of
  `Bundle.load` / `Bundle.from_bytes`, ``policyc serve --verify-key``) or set for the
  whole process with the environment variable `VERIFY_KEY_ENV` (public key files in
  PEM, separated by ``os.pathsep``): then a bundle without a valid signature by one
  of them is refused (`BundleError`), before any other member is read. Without keys
  a signature is read (bounded) but not trusted: ``BundleData.signer`` stays None.

Keys are the PEM files ``openssl genpkey -algorithm ed25519`` writes, or
``policyc sign --generate-key FILE`` (FILE private, FILE.pub public).
This module imports `cryptography` only when a key is read or a signature checked.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policyc.runtime.bundle import MANIFEST, ZIP_EPOCH, BundleError

SIGNATURE_MEMBER = "signature.json"
SIGNATURE_SCHEMA = "policyc/signature/v1"
VERIFY_KEY_ENV = "POLICYC_VERIFY_KEY"
#: The signature member is small (about 170 bytes per signature).
MAX_SIGNATURE_BYTES = 64 << 10
MAX_SIGNATURES = 64
#: fixes for a refused signature: recompiling would not help, signing or the right key does
KEY_HELP = ("check the `--verify-key` files (or `POLICYC_VERIFY_KEY`): PEM files of "
            "Ed25519 public keys")
SIGN_HELP = ("sign the bundle with `policyc sign BUNDLE --key KEY`, or verify it with the "
             "key that signed it")


def message(content_hash: str) -> bytes:
    """The bytes a signature covers (domain-separated from any other use of the key)."""
    return f"{SIGNATURE_SCHEMA}\n{content_hash}".encode()


def key_id(raw_public: bytes) -> str:
    """A public key's id: the first 16 hex digits of the sha256 of its 32 raw bytes."""
    return hashlib.sha256(raw_public).hexdigest()[:16]


@dataclass(frozen=True)
class VerifyKeys:
    """Trusted public keys by id (load them once, with `load_verify_keys`)."""

    keys: dict[str, Any]  # key id -> Ed25519PublicKey
    origin: str  # where they came from, for messages

    @property
    def ids(self) -> list[str]:
        return sorted(self.keys)


def _raw_public(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.Raw,  # type: ignore[no-any-return]
                            serialization.PublicFormat.Raw)


def load_public_key(path: str | Path) -> Any:
    """An Ed25519 public key from a PEM file (a private key file gives its public key)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise BundleError(f"cannot read verify key {path}: {err.strerror or err}",
                          KEY_HELP) from None
    key: Any
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        try:
            key = serialization.load_pem_private_key(data, password=None).public_key()
        except (ValueError, TypeError):
            raise BundleError(f"verify key {path} is not an Ed25519 key in PEM",
                              KEY_HELP) from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise BundleError(f"verify key {path} is not an Ed25519 key "
                          f"(it is {type(key).__name__.removeprefix('_')})", KEY_HELP)
    return key


def load_verify_keys(paths: str | Path | Sequence[str | Path]) -> VerifyKeys:
    """Public keys from PEM files (one path, or several; a string may list several
    separated by `os.pathsep`, as `VERIFY_KEY_ENV` does)."""
    if isinstance(paths, (str, Path)):
        paths = [p for p in str(paths).split(os.pathsep) if p.strip()]
    keys = {}
    for p in paths:
        key = load_public_key(p)
        keys[key_id(_raw_public(key))] = key
    if not keys:
        raise BundleError("no verify key given", KEY_HELP)
    return VerifyKeys(keys, ", ".join(str(p) for p in paths))


def resolve(verify_key: Any) -> VerifyKeys | None:
    """The keys a load must check (None: no verification). `verify_key`: None (the
    keys of `VERIFY_KEY_ENV`, if set), False (never verify), key files, or `VerifyKeys`."""
    if verify_key is None:
        raw = os.environ.get(VERIFY_KEY_ENV, "")
        if not raw.strip():
            return None
        try:
            return load_verify_keys(raw)
        except BundleError as err:
            raise BundleError(f"{VERIFY_KEY_ENV}: {err}", err.help) from None
    if verify_key is False:
        return None
    if isinstance(verify_key, VerifyKeys):
        return verify_key
    if verify_key is True:
        raise BundleError("verify_key=True: give the key files (or None for "
                          f"{VERIFY_KEY_ENV})")
    return load_verify_keys(verify_key)


def _parse(data: bytes, source: str) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BundleError(f"{source}: `{SIGNATURE_MEMBER}` is not valid JSON") from None
    sigs = doc.get("signatures") if isinstance(doc, dict) else None
    if not isinstance(doc, dict) or doc.get("schema") != SIGNATURE_SCHEMA \
            or not isinstance(doc.get("hash"), str) or not isinstance(sigs, list) \
            or len(sigs) > MAX_SIGNATURES or not all(
                isinstance(s, dict) and isinstance(s.get("key_id"), str)
                and isinstance(s.get("signature"), str) and s.get("algorithm") == "ed25519"
                for s in sigs):
        raise BundleError(f"{source}: `{SIGNATURE_MEMBER}` is not a {SIGNATURE_SCHEMA} "
                          "document")
    return doc


def read_signature(zf: zipfile.ZipFile, info: zipfile.ZipInfo | None, source: str
                   ) -> dict[str, Any] | None:
    """The signature document of a bundle (None: unsigned), size-checked before reading."""
    if info is None:
        return None
    if info.file_size > MAX_SIGNATURE_BYTES:
        raise BundleError(f"{source}: `{SIGNATURE_MEMBER}` is {info.file_size} bytes "
                          f"(at most {MAX_SIGNATURE_BYTES})")
    with zf.open(info) as fh:
        data = fh.read(MAX_SIGNATURE_BYTES + 1)
    return _parse(data, source)


def verify(doc: dict[str, Any] | None, content_hash: str, keys: VerifyKeys | None,
           source: str) -> str | None:
    """The id of the trusted key whose signature holds (None when `keys` is None).

    Raises `BundleError` when keys are given and no signature by one of them verifies.
    """
    if keys is None:
        return None
    trusted = ", ".join(keys.ids)
    if doc is None:
        raise BundleError(f"{source}: the bundle is not signed, and a verify key is set "
                          f"(trusted: {trusted})", SIGN_HELP)
    if doc["hash"] != content_hash:
        raise BundleError(f"{source}: the signature is for content {doc['hash']}, not this "
                          f"bundle's {content_hash} (edited and re-sealed?)", SIGN_HELP)
    from cryptography.exceptions import InvalidSignature

    signers = [s["key_id"] for s in doc["signatures"]]
    for sig in doc["signatures"]:
        key = keys.keys.get(sig["key_id"])
        if key is None:
            continue
        try:
            key.verify(base64.b64decode(sig["signature"], validate=True),
                       message(content_hash))
        except (InvalidSignature, ValueError):
            raise BundleError(f"{source}: the signature by key {sig['key_id']} does not "
                              "verify (tampered or re-sealed?)", SIGN_HELP) from None
        return str(sig["key_id"])
    by = ", ".join(signers) if signers else "no key"
    raise BundleError(f"{source}: not signed by a trusted key (signed by {by}; trusted: "
                      f"{trusted})", SIGN_HELP)


# ---- signing (`policyc sign`) ---------------------------------------------------------------


def load_private_key(path: str | Path) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise BundleError(f"cannot read signing key {path}: {err.strerror or err}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as err:
        raise BundleError(f"signing key {path} is not an unencrypted private key in PEM "
                          f"({err})") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise BundleError(f"signing key {path} is not an Ed25519 key")
    return key


def generate_key(path: str | Path) -> tuple[Path, Path, str]:
    """Write a new private key (PEM, mode 0600) to `path` and its public key to
    `path`.pub; returns both paths and the key id. Refuses to overwrite."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    private = Path(path)
    public = private.with_name(private.name + ".pub")
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    pub = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    for p in (private, public):
        if p.exists():
            raise BundleError(f"{p} exists (not overwritten)")
    try:
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        public.write_bytes(pub)
    except OSError as err:
        raise BundleError(f"cannot write the key: {err.strerror or err}") from None
    return private, public, key_id(_raw_public(key.public_key()))


def _info(zf: zipfile.ZipFile, name: str) -> zipfile.ZipInfo | None:
    try:
        return zf.getinfo(name)
    except KeyError:
        return None


def sign_content(data: bytes, private_key: Any, content_hash: str,
                 source: str = "<bytes>") -> tuple[bytes, str]:
    """(the bundle's bytes with a signature by `private_key` over `content_hash`, the key
    id). The caller has verified the bundle and read its hash (`bundle_signer.py`): every
    member is copied byte for byte, the signature member written last."""
    kid = key_id(_raw_public(private_key.public_key()))
    sig = base64.b64encode(private_key.sign(message(content_hash))).decode()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        old = read_signature(zf, _info(zf, SIGNATURE_MEMBER), source)
        kept = [] if old is None or old["hash"] != content_hash else \
            [s for s in old["signatures"] if s["key_id"] != kid]
        doc = {"schema": SIGNATURE_SCHEMA, "hash": content_hash,
               "signatures": [*kept, {"algorithm": "ed25519", "key_id": kid,
                                      "signature": sig}]}
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as new:
            for info in zf.infolist():
                if info.filename != SIGNATURE_MEMBER:
                    new.writestr(info, zf.read(info))
            info = zipfile.ZipInfo(SIGNATURE_MEMBER, date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            new.writestr(info, json.dumps(doc, sort_keys=True, separators=(",", ":"))
                         .encode() + b"\n")
    return out.getvalue(), kid


__all__ = ["MANIFEST", "SIGNATURE_MEMBER", "SIGNATURE_SCHEMA", "VERIFY_KEY_ENV", "VerifyKeys",
           "generate_key", "load_private_key", "load_verify_keys", "resolve",
           "sign_content", "verify"]
