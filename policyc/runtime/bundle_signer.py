"""Signing a bundle: verify it fully, then sign its content hash (`policyc sign`).

Apart from `signing.py` because reading a bundle (`bundle_reader.py`) verifies
signatures with `signing.py`, and signing needs a verified read: this module sits
above both.
"""

from __future__ import annotations

from typing import Any

from policyc.runtime.bundle_reader import read_bundle
from policyc.runtime.signing import sign_content


def sign_bundle(data: bytes, private_key: Any, source: str = "<bytes>") -> tuple[bytes, str]:
    """(the bundle's bytes with a signature by `private_key`, the key id).

    The bundle is fully verified first (a bundle that does not load is not signed)."""
    content_hash = read_bundle(data, source, verify_key=False).manifest.hash
    return sign_content(data, private_key, content_hash, source)
