"""Bundle signatures (`policyc/runtime/signing.py`, `policyc sign`, `--verify-key`,
POLICYC_VERIFY_KEY): a re-sealed bundle is refused wherever a bundle loads."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from helpers.bundle_craft import reseal, unpack

from policyc.runtime import Bundle, BundleError
from policyc.runtime.bundle_signer import sign_bundle
from policyc.runtime.signing import (
    SIGNATURE_MEMBER,
    VERIFY_KEY_ENV,
    generate_key,
    load_private_key,
)

REPO = Path(__file__).resolve().parents[2]


def _compile(pol: Path) -> bytes:
    from policyc.commands.inputs import load_inputs
    from policyc.compile.pipeline import compile_program

    state = compile_program(load_inputs([pol], []))
    assert state.bundle is not None
    return state.bundle


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("keys")
    a, a_pub, _ = generate_key(d / "a.pem")
    b, b_pub, _ = generate_key(d / "b.pem")
    return {"a": a, "a.pub": a_pub, "b": b, "b.pub": b_pub}


@pytest.fixture(scope="module")
def bundle() -> bytes:
    return _compile(REPO / "examples" / "diff" / "v1.pol")


def test_signed_bundle_loads_with_its_key_and_keeps_its_hash(bundle: bytes, keys: dict[str, Path]
                                                              ) -> None:
    signed, kid = sign_bundle(bundle, load_private_key(keys["a"]))
    plain = Bundle.from_bytes(bundle, verify_key=False)
    checker = Bundle.from_bytes(signed, verify_key=keys["a.pub"])
    assert checker.hash == plain.hash and checker.data.signer == kid
    # without keys a signature is read, not trusted
    assert Bundle.from_bytes(signed, verify_key=False).data.signer is None
    # deterministic: the same key signs the same bytes; a second key adds a signature
    assert sign_bundle(bundle, load_private_key(keys["a"]))[0] == signed
    both, kid_b = sign_bundle(signed, load_private_key(keys["b"]))
    assert Bundle.from_bytes(both, verify_key=keys["b.pub"]).data.signer == kid_b
    assert Bundle.from_bytes(both, verify_key=keys["a.pub"]).data.signer == kid
    # signing did not change the compiled content (compile stays byte-deterministic)
    with zipfile.ZipFile(io.BytesIO(signed)) as zf:
        assert zf.namelist()[-1] == SIGNATURE_MEMBER
        for info in zipfile.ZipFile(io.BytesIO(bundle)).infolist():
            assert zf.read(info.filename) == zipfile.ZipFile(io.BytesIO(bundle)).read(info)


def test_unsigned_wrong_key_resealed_and_forged_are_refused(bundle: bytes,
                                                           keys: dict[str, Path]) -> None:
    with pytest.raises(BundleError, match="not signed, and a verify key is set"):
        Bundle.from_bytes(bundle, verify_key=keys["a.pub"])
    signed, _ = sign_bundle(bundle, load_private_key(keys["a"]))
    with pytest.raises(BundleError, match="not signed by a trusted key"):
        Bundle.from_bytes(signed, verify_key=keys["b.pub"])
    # re-sealed: a loosened threshold with every hash recomputed, the signature kept
    manifest, files = unpack(signed)
    sig = files.pop(SIGNATURE_MEMBER)
    manifest["thresholds"] = dict.fromkeys(manifest["thresholds"], 0.99)
    resealed = reseal(manifest, files)
    Bundle.from_bytes(resealed, verify_key=False)  # whole, by its own hashes
    with pytest.raises(BundleError, match="signature is for content .* re-sealed"):
        Bundle.from_bytes(zf_bytes(resealed, sig), verify_key=keys["a.pub"])
    # a forged signature over the right hash
    doc = json.loads(sig)
    doc["hash"] = unpack(resealed)[0]["hash"]
    doc["signatures"][0]["signature"] = doc["signatures"][0]["signature"][::-1]
    with pytest.raises(BundleError, match="does not verify"):
        Bundle.from_bytes(zf_bytes(resealed, json.dumps(doc).encode()),
                          verify_key=keys["a.pub"])


def zf_bytes(data: bytes, sig: bytes) -> bytes:
    out = io.BytesIO(data)
    with zipfile.ZipFile(out, "a") as zf:
        zf.writestr(SIGNATURE_MEMBER, sig)
    return out.getvalue()


def test_hostile_signature_members_are_refused(bundle: bytes, keys: dict[str, Path]) -> None:
    for junk, message in ((b"not json", "not valid JSON"), (b"[]", "not a policyc/signature"),
                          (b" " * (70 << 10), "bytes \\(at most")):
        with pytest.raises(BundleError, match=message):
            Bundle.from_bytes(zf_bytes(bundle, junk), verify_key=False)


def _cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "policyc", *args], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
                          cwd=cwd, timeout=120)


def test_cli_sign_and_verify_key_env(tmp_path: Path, bundle: bytes) -> None:
    r = _cli("sign", "--generate-key", str(tmp_path / "k.pem"))
    assert r.returncode == 0, r.stderr
    assert "key id" in r.stderr and (tmp_path / "k.pem.pub").exists()
    assert (tmp_path / "k.pem").stat().st_mode & 0o077 == 0
    path = tmp_path / "b.pbundle"
    path.write_bytes(bundle)
    env = {VERIFY_KEY_ENV: str(tmp_path / "k.pem.pub")}
    refused = _cli("check", str(path), "--score", "harassment=0.95", env=env)
    assert refused.returncode == 2 and "not signed" in refused.stderr
    assert "Traceback" not in refused.stderr
    r = _cli("sign", str(path), "--key", str(tmp_path / "k.pem"))
    assert r.returncode == 0 and "signed" in r.stderr
    ok = _cli("check", str(path), "--score", "harassment=0.95", env=env)
    assert ok.returncode == 0 and ok.stdout.startswith('warn("be_kind")')
    # source compiled in the process is not a bundle: the key does not apply
    src = _cli("check", str(REPO / "examples" / "diff" / "v1.pol"), "--score",
               "harassment=0.95", env=env)
    assert src.returncode == 0, src.stderr
    bad = _cli("sign", str(path), "--key", str(tmp_path / "k.pem.pub"))
    assert bad.returncode == 2 and "not an unencrypted private key" in bad.stderr



def test_cli_verify_key_flag_wherever_a_bundle_loads(tmp_path: Path, bundle: bytes,
                                                     keys: dict[str, Path]) -> None:
    """`--verify-key` on check, explain, eval, replay and diff (issue 16): a signed bundle
    passes; an unsigned or re-sealed one exits 2 with the signing error, no traceback."""
    signed, _ = sign_bundle(bundle, load_private_key(keys["a"]))
    manifest, files = unpack(signed)
    sig = files.pop(SIGNATURE_MEMBER)
    manifest["thresholds"] = dict.fromkeys(manifest["thresholds"], 0.99)
    paths = {}
    for name, data in (("signed", signed), ("unsigned", bundle),
                       ("resealed", zf_bytes(reseal(manifest, files), sig))):
        paths[name] = tmp_path / f"{name}.pbundle"
        paths[name].write_bytes(data)
    events = tmp_path / "events.jsonl"
    events.write_text('{"text": "hi", "scores": {"harassment": 0.95}, "label": "harmful"}\n')
    key = ("--verify-key", str(keys["a.pub"]))
    ev = ("--score", "harassment=0.95")
    commands = {
        "check": lambda b: ("check", b, *ev),
        "explain": lambda b: ("explain", b, *ev),
        "eval": lambda b: ("eval", b, str(events)),
        "replay": lambda b: ("replay", b, str(events)),
        "diff": lambda b: ("diff", str(paths["signed"]), b),
    }
    no_env = {VERIFY_KEY_ENV: ""}
    for cmd, args in commands.items():
        ok = _cli(*args(str(paths["signed"])), *key, env=no_env)
        assert ok.returncode in (0, 1), (cmd, ok.stderr)
        assert "Traceback" not in ok.stderr
        for bad, message in (("unsigned", "not signed, and a verify key is set"),
                             ("resealed", "re-sealed")):
            r = _cli(*args(str(paths[bad])), *key, env=no_env)
            assert r.returncode == 2, (cmd, bad, r.stdout, r.stderr)
            assert message in r.stderr and "Traceback" not in r.stderr, (cmd, bad, r.stderr)
            # the fix is signing (or the signer's key), never recompiling
            assert "help: sign the bundle with `policyc sign" in r.stderr, (cmd, r.stderr)
            assert "recompile" not in r.stderr, (cmd, bad, r.stderr)
        # without the flag (and no POLICYC_VERIFY_KEY) the re-sealed bundle is whole
        assert _cli(*args(str(paths["resealed"])), env=no_env).returncode in (0, 1), cmd
    # a key of another signer refuses, two keys (repeatable) accept
    other = ("--verify-key", str(keys["b.pub"]))
    assert _cli("check", str(paths["signed"]), *ev, *other, env=no_env).returncode == 2
    assert _cli("check", str(paths["signed"]), *ev, *other, *key, env=no_env).returncode == 0
    # replay --against: both sides are verified
    r = _cli("replay", str(paths["signed"]), str(events), "--against", str(paths["unsigned"]),
             *key, env=no_env)
    assert r.returncode == 2 and "not signed" in r.stderr
    # source compiled in the command is not a bundle; the flag still wants a readable key
    src = str(REPO / "examples" / "diff" / "v1.pol")
    assert _cli("check", src, *ev, *key, env=no_env).returncode == 0
    for cmd in ("check", "eval", "replay", "diff"):
        target = src if cmd != "diff" else str(paths["signed"])
        args = {"check": ("check", target, *ev), "eval": ("eval", target, str(events)),
                "replay": ("replay", target, str(events)),
                "diff": ("diff", target, target)}[cmd]
        r = _cli(*args, "--verify-key", str(tmp_path / "missing.pem"), env=no_env)
        assert r.returncode == 2, (cmd, r.stderr)
        assert "--verify-key: cannot read verify key" in r.stderr, (cmd, r.stderr)
        assert "Traceback" not in r.stderr
