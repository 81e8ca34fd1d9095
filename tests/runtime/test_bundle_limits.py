"""Bundle loading is bounded (issue 13, A6): bombs, huge or deep manifests, odd zips.

Every hostile bundle is refused with a `BundleError` (the CLI: exit 2, one clear
line, no traceback) before it costs much time or memory: sizes are checked as the
zip declares them, before inflating, and reading never goes past them. The bombs
are made here in milliseconds (`bundle_craft.deflated_zeros`); time and memory are
measured in a subprocess (`resource.getrusage`) whose data segment is capped, so a
loader that does inflate them fails fast instead of taking the machine's memory.
"""

from __future__ import annotations

import bz2
import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers.bundle_craft import DEFLATED, Member, deflated_zeros, members, raw_zip, reseal, unpack
from helpers.fresh_process import run_fresh

from policyc.compile.pipeline import compile_file
from policyc.runtime import Bundle, BundleError
from policyc.runtime.bundle import MAX_MANIFEST_BYTES, MAX_MEMBER_ENV
from policyc.runtime.bundle_reader import parse_size

ROOT = Path(__file__).resolve().parents[2]
GIB = 1 << 30


@pytest.fixture(scope="module")
def chat() -> bytes:
    state = compile_file(ROOT / "examples/acme/chat.pol")
    assert state.bundle is not None
    return state.bundle


def refused(data: bytes, match: str, **kwargs: int) -> str:
    with pytest.raises(BundleError, match=match) as info:
        Bundle.from_bytes(data, "b.pbundle", **kwargs)
    return str(info.value)


def with_member(data: bytes, member: Member) -> bytes:
    return raw_zip([*members(data), member])


def replaced(data: bytes, name: str, member: Member) -> bytes:
    return raw_zip([member if m.name == name else m for m in members(data)])


def member_bomb(data: bytes) -> bytes:
    """A 2.1 MB member that inflates to 2 GiB of zeros, its size declared honestly."""
    stream, crc = deflated_zeros(2048, crc=False)
    return with_member(data, Member("tables/zz.npy", stream, method=DEFLATED, crc=crc,
                                    size=2 * GIB))


def manifest_bomb(data: bytes) -> bytes:
    """The manifest deflated to 300 KB from 300 MiB (valid JSON: spaces, then the manifest)."""
    original = next(m for m in members(data) if m.name == "manifest.json")
    stream, _ = deflated_zeros(300, crc=False)
    return replaced(data, "manifest.json", Member("manifest.json", stream, method=DEFLATED,
                                                  crc=0, size=(300 << 20) + original.size))


def nested_manifest(data: bytes) -> bytes:
    deep = b"[" * 200_000 + b"]" * 200_000
    return replaced(data, "manifest.json", Member("manifest.json", deep))


def duplicate_member(data: bytes) -> bytes:
    """The same table twice: `zipfile` keeps the last copy, the loader keeps none."""
    last = members(data)[-1]
    return with_member(data, Member(last.name, last.payload))


# ---- in process ---------------------------------------------------------------------------------


def test_reseal_gives_the_writers_bytes(chat: bytes) -> None:
    assert reseal(*unpack(chat)) == chat


def test_member_bomb_refused_by_its_declared_size(chat: bytes) -> None:
    message = refused(member_bomb(chat), "inflates to 2.0 GiB")
    assert "over the limit of 1.0 GiB" in message and MAX_MEMBER_ENV in message


def test_member_lying_about_its_size_stops_at_it(chat: bytes) -> None:
    """Declares the table's size but inflates to 64 MiB: reading stops at the declared size."""
    table = next(m for m in members(chat) if m.name == "tables/entries.npy")
    stream, _ = deflated_zeros(64, crc=False)
    bad = replaced(chat, table.name, Member(table.name, stream, method=DEFLATED, crc=table.crc,
                                            size=table.size))
    refused(bad, "not a readable policyc bundle")


def test_manifest_bomb_refused_by_its_declared_size(chat: bytes) -> None:
    message = refused(manifest_bomb(chat), "manifest.json` inflates to 300")
    assert f"{MAX_MANIFEST_BYTES >> 20}.0 MiB" in message


def test_deeply_nested_manifest_refused(chat: bytes) -> None:
    refused(nested_manifest(chat), "nested too deeply")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_manifest_nan_refused(chat: bytes, constant: str) -> None:
    manifest, files = unpack(chat)
    manifest["variables"][0]["cuts"][0] = float(constant.replace("Infinity", "inf"))
    refused(reseal(manifest, files), "not valid JSON")


def test_noncanonical_manifest_refused(chat: bytes) -> None:
    """Same content, same hash, other bytes (spaces): the hash must cover the bytes read."""
    data = json.dumps(unpack(chat)[0]).encode()
    refused(replaced(chat, "manifest.json", Member("manifest.json", data)), "canonical form")


def test_duplicate_member_refused(chat: bytes) -> None:
    refused(duplicate_member(chat), "appears twice")
    manifest = next(m for m in members(chat) if m.name == "manifest.json")
    refused(with_member(chat, Member("manifest.json", manifest.payload)), "appears twice")


def test_too_many_members_refused_before_parsing_them(chat: bytes) -> None:
    many = [Member(f"tables/x{i}.npy", b"") for i in range(20_000)]
    refused(raw_zip([*members(chat), *many]), f"declares {len(members(chat)) + 20_000} members")
    long = [Member(f"tables/{i:0100}.npy", b"") for i in range(30_000)]  # 4.6 MiB directory
    refused(raw_zip([*members(chat)[:1], *long]), "MiB directory")


def test_encrypted_and_exotic_members_refused(chat: bytes) -> None:
    table = next(m for m in members(chat) if m.name == "tables/entries.npy")
    refused(replaced(chat, table.name, Member(table.name, table.payload, flags=1)), "encrypted")
    packed = bz2.compress(table.payload)
    refused(replaced(chat, table.name, Member(table.name, packed, method=12, crc=table.crc,
                                              size=table.size)), "compression method 12")


def test_deflated_bundle_still_loads(chat: bytes) -> None:
    """A bundle re-zipped with deflate (a file store may do it) is the same bundle."""
    out = io.BytesIO()
    with zipfile_deflated(out) as zf:
        for m in members(chat):
            zf.writestr(m.name, m.payload)
    assert Bundle.from_bytes(out.getvalue()).hash == Bundle.from_bytes(chat).hash


def zipfile_deflated(out: io.BytesIO):  # type: ignore[no-untyped-def]
    import zipfile

    return zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED)


def test_table_header_bomb_refused(chat: bytes) -> None:
    """A .npy declaring a terabyte in a few bytes: `np.load` would allocate it first."""
    manifest, files = unpack(chat)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|b1", "fortran_order": False,
                                                  "shape": (1 << 40,)})
    files["tables/entries.npy"] = np.lib.format.magic(1, 0) + header.getvalue()[8:]
    refused(reseal(manifest, files), "declares shape")


def test_member_limit_argument(chat: bytes) -> None:
    sizes = [m.size for m in members(chat) if m.name != "manifest.json"]
    message = refused(chat, "over the limit of 1000 bytes", max_member_bytes=1000)
    assert max(sizes) > 1000
    assert Bundle.from_bytes(chat, max_member_bytes=max(max(sizes), sum(sizes) // 2 + 1)).policy
    # each member within the limit, together over twice it
    three = [Member(f"tables/t{i}.npy", bytes(1000)) for i in range(3)]
    refused(raw_zip([*members(chat)[:1], *three]), "together", max_member_bytes=1200)
    assert "max_member_bytes" in message


@pytest.mark.parametrize(("text", "size"), [("536870912", 1 << 29), ("512M", 1 << 29),
                                            ("512MiB", 1 << 29), ("2g", 2 * GIB), ("1 KB", 1024),
                                            ("x", None), ("-5", None), ("", None), ("1.5G", None)])
def test_parse_size(text: str, size: int | None) -> None:
    assert parse_size(text) == size


# ---- through subprocesses: time, memory, the CLI --------------------------------------------------

#: The loader in a child whose data segment is capped at 1.5 GiB: a loader that inflated
#: the bombs would fail fast there (MemoryError) instead of taking the machine's memory.
PROBE = """
import resource, sys, time
resource.setrlimit(resource.RLIMIT_DATA, (3 << 29, 3 << 29))
from policyc.runtime import Bundle, BundleError
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
try:
    Bundle.load(sys.argv[1])
    outcome = "loaded"
except BundleError as err:
    outcome = "refused: " + str(err)
elapsed = time.perf_counter() - start
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(f"{elapsed:.3f} {grown} {outcome}")
"""


def probe(path: Path) -> tuple[float, int, str]:
    """(seconds, KiB of peak RSS growth, outcome) of loading `path` in a fresh process."""
    result = run_fresh(PROBE, str(path), cwd=ROOT, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-2000:]
    seconds, grown, outcome = result.stdout.strip().split(" ", 2)
    return float(seconds), int(grown), outcome


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "policyc", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=120,
                          env={**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT),
                               **(env or {})})


@pytest.mark.parametrize(("make", "says"), [
    (member_bomb, "inflates to 2.0 GiB"),
    (manifest_bomb, "manifest.json` inflates to 300"),
    (nested_manifest, "nested too deeply"),
    (duplicate_member, "appears twice"),
])
def test_hostile_bundle_refused_fast_small_and_cleanly(tmp_path: Path, chat: bytes, make,  # type: ignore[no-untyped-def]
                                                       says: str) -> None:
    path = tmp_path / "hostile.pbundle"
    path.write_bytes(make(chat))
    seconds, grown_kib, outcome = probe(path)
    assert outcome.startswith("refused: ") and says in outcome, outcome
    assert seconds < 2.0, seconds
    assert grown_kib < 64 << 10, f"peak RSS grew by {grown_kib} KiB"
    result = cli("check", str(path), "--score", "pii.email=0.9")
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("error: ") and says in result.stderr
    assert "Traceback" not in result.stderr


def fake_model_bundle(data: bytes, blob: bytes) -> bytes:
    """`data` plus a classifier whose model is `blob` (not ONNX: sessions are built lazily)."""
    manifest, files = unpack(data)
    sha = hashlib.sha256(blob).hexdigest()
    files[f"models/{sha}.onnx"] = blob
    score = next(v["name"] for v in manifest["variables"] if v["kind"] == "score")
    manifest["classifiers"] = [{"name": "big", "file": f"models/{sha}.onnx", "sha256": sha,
                                "source": "big.onnx", "labels": [[score, "x"]],
                                "on_error": None}]
    return reseal(manifest, files)


def test_model_member_is_held_once(tmp_path: Path, chat: bytes) -> None:
    """A 64 MiB model: the load's peak memory grows by about its size, not twice it."""
    size = 64 << 20
    path = tmp_path / "model.pbundle"
    path.write_bytes(fake_model_bundle(chat, bytes(size)))
    seconds, grown_kib, outcome = probe(path)
    assert outcome == "loaded", outcome
    assert grown_kib < 1.4 * (size >> 10), f"peak RSS grew by {grown_kib} KiB for a 64 MiB model"


def test_member_limit_environment_variable(tmp_path: Path, chat: bytes) -> None:
    path = tmp_path / "chat.pbundle"
    path.write_bytes(fake_model_bundle(chat, bytes(2 << 20)))
    small = cli("check", str(path), "--score", "pii.email=0.9", env={MAX_MEMBER_ENV: "1M"})
    assert small.returncode == 2 and "over the limit of 1.0 MiB" in small.stderr, small.stderr
    assert MAX_MEMBER_ENV in small.stderr and "Traceback" not in small.stderr
    ok = cli("check", str(path), "--score", "pii.email=0.9", env={MAX_MEMBER_ENV: "4M"})
    assert ok.returncode == 0 and ok.stdout.startswith("redact"), ok.stdout + ok.stderr
    bad = cli("check", str(path), "--score", "pii.email=0.9", env={MAX_MEMBER_ENV: "lots"})
    assert bad.returncode == 2 and "is not a size in bytes" in bad.stderr, bad.stderr


def test_model_bytes_released_once_its_session_is_built() -> None:
    """After the first text the session holds the model: the bundle's copy is dropped.
    Threads deciding the first texts together all get the model, none a failure."""
    from concurrent.futures import ThreadPoolExecutor

    state = compile_file(ROOT / "examples/consumer_chat/chat.pol")
    assert state.bundle is not None
    checker = Bundle.from_bytes(state.bundle)
    model = checker.manifest.classifiers[0].file
    assert checker.data.blob(model)
    texts = ["I want to hurt myself", "hello", "how do I bake bread?", "write a threat"] * 4
    with ThreadPoolExecutor(4) as pool:
        decisions = list(pool.map(lambda t: checker.check(text=t, context={}), texts))
    assert not any(d.errors for d in decisions), [d.errors for d in decisions]
    with pytest.raises(BundleError, match="released"):
        checker.data.blob(model)


def test_zip64_end_records_are_read(chat: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """A zip whose member count is in zip64 end records (a writer for huge models makes
    them) is bounded the same way, from those records."""
    import zipfile

    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 1)  # zip64 end records from 2 members
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for m in members(chat):
            zf.writestr(m.name, m.payload)
    data = out.getvalue()
    assert b"PK\x06\x06" in data  # zip64 end records; say so in the end record's counts
    data = data[:-14] + b"\xff\xff\xff\xff" + data[-10:]
    assert Bundle.from_bytes(data).hash == Bundle.from_bytes(chat).hash
    monkeypatch.setattr("policyc.runtime.bundle_reader.MAX_MEMBERS", 3)  # where it is read
    refused(data, f"declares {len(members(chat))} members")
