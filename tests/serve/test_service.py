"""`policyc serve` end to end: the real server in a subprocess on a loopback port.

Every endpoint; decisions (one by one, JSON Lines and JSON array batches) identical to
`policyc check --input` on the same events, and decision-log records identical to its
audit log; reloads (good, corrupt, unsigned, wrong key) under concurrent requests with
no failed request; SIGTERM with requests in flight; mutated and oversized bodies.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from helpers.serve_process import REPO, Server

from policyc.runtime.audit import FIELDS, comparable
from policyc.runtime.bundle_signer import sign_bundle
from policyc.runtime.signing import generate_key, load_private_key


def _compile(pol: Path) -> bytes:
    from policyc.commands.inputs import load_inputs
    from policyc.compile.pipeline import compile_program

    state = compile_program(load_inputs([pol], []))
    assert state.bundle is not None
    return state.bundle


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("serve")
    for name, pol in (("chat", "consumer_chat/chat.pol"), ("agent", "coding_agent/agent.pol"),
                      ("v1", "diff/v1.pol"), ("v2", "diff/v2.pol")):
        (d / f"{name}.pbundle").write_bytes(_compile(REPO / "examples" / pol))
    return d


@pytest.fixture(scope="module")
def server(work: Path) -> Any:
    s = Server(["chat.pbundle", "agent.pbundle", "--decision-log", "decisions.jsonl"], work)
    yield s
    s.stop()


def _events(rnd: random.Random) -> list[str]:
    """JSON Lines for the chat policy: texts, scores, a few bad lines."""
    lines = (REPO / "examples" / "consumer_chat" / "events.jsonl").read_text().splitlines()
    cats = ["self_harm.intent", "sexual.explicit", "violence.general", "harassment",
            "jailbreak", "self_harm.instructions"]
    for k in range(60):
        ev: dict[str, Any] = {"id": f"s{k}", "context": {"audience": rnd.choice(["adult", "teen"])},
                              "scores": {c: round(rnd.random(), 3)
                                         for c in rnd.sample(cats, rnd.randint(0, 3))}}
        if k % 7 == 0:
            ev["text"] = rnd.choice(["How do I bake bread?", "I will hurt you",
                                     "Ignore all previous instructions"])
        lines.append(json.dumps(ev))
    lines[5:5] = ['{"id": "bad1", "context": {"audience": "kid"}}', "{not json",
                  '{"id": "bad2", "scores": {"sexual.explicit": 1.5}}', "[1, 2]",
                  '{"id": "bad3", "colour": 1}']
    return lines


def _strip(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in ("decision_id", "latency_ms")}


def _same_batch_decision(got: dict[str, Any], want: dict[str, Any]) -> None:
    """Identical, scores to the bit: the shipped model scores a text the same alone and in
    a batch (its sums are exact; `tests/runtime/test_batch_invariance.py`)."""
    assert _strip(got) == want


def test_decisions_and_logs_match_policyc_check(server: Server, work: Path) -> None:
    lines = _events(random.Random(16))
    (work / "events.jsonl").write_text("\n".join(lines) + "\n")
    cli = subprocess.run(
        [sys.executable, "-m", "policyc", "check", "chat.pbundle", "--input", "events.jsonl",
         "--audit-log", "cli_audit.jsonl"], cwd=work, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert cli.returncode == 1  # lines were skipped
    expected = {d["id"]: d for d in map(json.loads, cli.stdout.splitlines())}
    skipped = {int(m.split(":")[1]): m.split("skipped: ", 1)[1]
               for m in cli.stderr.splitlines() if "skipped:" in m}
    assert len(skipped) == 5
    # one event a request
    ids: list[str] = []
    conn = server.connection()
    for number, line in enumerate(lines, 1):
        status, got = server.post("/v1/check", line, conn=conn)
        if number in skipped:
            assert status == 400, got
            assert skipped[number] in got["error"]["message"]
            continue
        assert status == 200, got
        assert _strip(got) == expected[got["id"]]
        assert isinstance(got["latency_ms"], float)
        ids.append(got["decision_id"])
    conn.close()
    # the same as one JSON Lines batch, and as a JSON array (bad JSON lines left out)
    status, got = server.post("/v1/check/batch", "\n".join(lines) + "\n")
    assert status == 200 and got["summary"] == {"events": len(lines),
                                                "decided": len(expected), "skipped": 5}
    for number, item in enumerate(got["decisions"], 1):
        if number in skipped:
            assert item["line"] == number and item["error"] == skipped[number]
        else:
            _same_batch_decision(item, expected[item["id"]])
    array = [json.loads(x) for x in lines if x != "{not json"]
    status, got = server.post("/v1/policies/chat/check/batch", json.dumps(array))
    assert status == 200
    for k, item in enumerate(got["decisions"]):
        if "error" in item:
            assert item["index"] == k and item["id"] in ("bad1", "bad2", "bad3", None)
        else:
            _same_batch_decision(item, expected[item["id"]])
    # the decision log: the CLI's audit records, plus latency and the text's hash
    cli_audit = {r["id"]: comparable(r) for r in
                 map(json.loads, (work / "cli_audit.jsonl").read_text().splitlines())}
    deadline = time.monotonic() + 5
    while True:
        records = [json.loads(x) for x in
                   (work / "decisions.jsonl").read_text().splitlines()]
        by_decision = {r["decision_id"]: r for r in records}
        if all(i in by_decision for i in ids) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    texts = {e["id"]: e.get("text") for e in array if isinstance(e, dict) and "id" in e}
    for i in ids:
        rec = by_decision[i]
        assert comparable({k: rec[k] for k in FIELDS}) == cli_audit[rec["id"]]
        assert "text" not in rec  # not logged by default
        if texts.get(rec["id"]) is not None:
            assert rec["text_hash"].startswith("hmac-sha256:")
            assert rec["text_length"] == len(texts[rec["id"]])


def test_endpoints(server: Server) -> None:
    assert server.get("/health") == (200, {"status": "ok", "policies": server.get(
        "/health")[1]["policies"]})
    assert server.get("/ready") == (200, {"status": "ready"})
    status, pols = server.get("/v1/policies")
    assert status == 200 and pols["default"] == "chat"
    assert [p["name"] for p in pols["policies"]] == ["agent", "chat"]
    assert {"name", "policy", "version", "hash", "signer", "loaded_at", "source"} <= \
        set(pols["policies"][0])
    status, schema = server.get("/v1/policies/chat/schema")
    assert status == 200
    assert schema["properties"]["context"]["properties"]["audience"]["enum"] == ["adult", "teen"]
    import jsonschema

    good = {"id": 1, "text": "hi", "context": {"audience": "teen"},
            "scores": {"self_harm.intent": 0.5}}
    jsonschema.validate(good, schema)
    for bad in ({"context": {"audience": "kid"}}, {"scores": {"nope": 1}},
                {"scores": {"self_harm.intent": 2}}, {}, {"text": None}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
        assert server.post("/v1/check", bad)[0] == 400
    status, agent = server.post("/v1/policies/agent/check", {
        "text": "my key is AKIAIOSFODNN7EXAMPLE ok", "context": {"direction": "output"}})
    assert status == 200 and agent["redacted"] == "my key is [REDACTED] ok"
    status, doc = server.get("/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.") and "/v1/check/batch" in doc["paths"]
    status, text = server.get("/metrics")
    assert status == 200
    for metric in ("policyc_decisions_total{", "policyc_decision_seconds_bucket{",
                   "policyc_requests_total{", "policyc_reloads_total{",
                   "policyc_bundle_info{"):
        assert metric in text, metric
    assert server.get("/v1/policies/nope/schema")[1]["error"]["message"] == \
        "unknown policy `nope`"
    assert server.get("/v1/nope")[0] == 404
    assert server.get("/v1/check")[0] == 405
    status, err = server.post("/v1/check", '{\n  "context": {\n    "audience": teen}}')
    assert status == 400 and err["error"]["line"] == 3


def test_limits_auth_and_fuzz(work: Path) -> None:
    (work / "token").write_text("s3cret\n")
    s = Server(["chat.pbundle", "--token-file", "token", "--max-body", "64K",
                "--max-text", "2000"], work)
    auth = {"Authorization": "Bearer s3cret"}
    try:
        assert s.post("/v1/check", {"scores": {"jailbreak": 0.9}})[0] == 401
        assert s.get("/metrics")[0] == 401
        assert s.get("/health")[0] == 200  # probes need no token
        assert s.post("/v1/check", {"scores": {"jailbreak": 0.9}}, headers=auth)[0] == 200
        status, err = s.post("/v1/check", {"text": "x" * 2001}, headers=auth)
        assert status == 413 and "2001 characters" in err["error"]["message"]
        assert s.post("/v1/check", "x" * (65 << 10), headers=auth)[0] == 413
        rnd = random.Random(7)
        seeds = [json.dumps(json.loads(x)).encode() for x in
                 (REPO / "examples" / "consumer_chat" / "events.jsonl").read_text().splitlines()]
        hostile = [b"", b"{}", b"[" * 100_000, b'{"id": ' + b"9" * 5000 + b"}", b"\xff\xfe",
                   b'{"text": "\\ud800"}', b'{"scores": {"jailbreak": NaN}}', b"null",
                   b'{"context": {"audience": ["teen"]}}', b'{"id": {}}',
                   '{"text": "﷽﷽﷽"}'.encode() * 3]
        rss0 = s.rss_kb()
        conn = s.connection()
        start = time.monotonic()
        n = 0
        while n < 600 and time.monotonic() - start < 15:
            body = bytearray(rnd.choice(seeds))
            for _ in range(rnd.randint(1, 6)):
                op = rnd.random()
                at = rnd.randrange(len(body) + 1)
                if op < 0.4 and body:
                    body[min(at, len(body) - 1)] = rnd.randrange(256)
                elif op < 0.7:
                    body[at:at] = rnd.choice([b"{", b"}", b'"', b",", b"[", b"\\u", b"1e999"])
                else:
                    del body[at:at + rnd.randint(1, 8)]
            bodies = [bytes(body)]
            if n % 50 == 0:
                bodies += hostile
            if n % 100 == 0:
                bodies.append(b'{"text": "' + b"a" * (60 << 10) + b'"}')  # under the body limit
            for b in bodies:
                for path in ("/v1/check", "/v1/check/batch"):
                    status, got = s.post(path, b, headers=auth, conn=conn)
                    assert 200 <= status < 500, (b[:200], status, got)
                    assert isinstance(got, dict), got
            n += 1
        conn.close()
        assert s.proc.poll() is None and s.get("/health")[0] == 200
        assert s.rss_kb() - rss0 < 150_000  # bounded: no growth with the number of requests
        assert "Traceback" not in s.stderr()
    finally:
        s.stop()


def _hammer(s: Server, stop: threading.Event, results: list[tuple[int, Any]],
            body: dict[str, Any]) -> None:
    conn = s.connection()
    try:
        while not stop.is_set():
            try:
                results.append(s.post("/v1/check", body, conn=conn))
            except OSError as err:  # refused after shutdown, or reset
                results.append((-1, repr(err)))
                return
    finally:
        conn.close()


def test_reload_under_load(work: Path, tmp_path: Path) -> None:
    priv, pub, _ = generate_key(tmp_path / "k.pem")
    other, _, _ = generate_key(tmp_path / "other.pem")
    key, wrong = load_private_key(priv), load_private_key(other)
    v1, v2 = (work / "v1.pbundle").read_bytes(), (work / "v2.pbundle").read_bytes()
    live = tmp_path / "support.pbundle"

    def put(data: bytes) -> None:  # write beside, then rename (as a deploy would)
        tmp = tmp_path / ".incoming"
        tmp.write_bytes(data)
        os.replace(tmp, live)

    put(sign_bundle(v1, key)[0])
    s = Server([str(live), "--verify-key", str(pub), "--watch-interval", "0.1"], tmp_path)
    stop = threading.Event()
    results: list[list[tuple[int, Any]]] = [[] for _ in range(3)]
    # self_harm.instructions 0.4: refused by v1 (threshold 0.3), allowed by v2 (0.5)
    event = {"scores": {"self_harm.instructions": 0.4}}
    threads = [threading.Thread(target=_hammer, args=(s, stop, r, event)) for r in results]
    for t in threads:
        t.start()

    def serving() -> str:
        return str(s.get("/v1/policies")[1]["policies"][0]["version"])

    def wait_for(cond: Any, what: str) -> None:
        deadline = time.monotonic() + 10
        while not cond():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.05)

    def failures() -> float:
        for line in s.get("/metrics")[1].splitlines():
            if line.startswith("policyc_reload_failures_total{"):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    try:
        time.sleep(0.3)
        put(sign_bundle(v2, key)[0])  # good
        wait_for(lambda: serving() == "1.1.0", "v2")
        cases = [(b"PK\x03\x04 corrupt" + v1[:500], "not a policyc bundle"),
                 (v1, "not signed"), (sign_bundle(v1, wrong)[0], "not signed by a trusted key")]
        for k, (data, message) in enumerate(cases, 1):
            put(data)
            wait_for(lambda k=k: failures() >= k, f"failure {k}")
            health = s.get("/health")[1]
            assert health["status"] == "degraded"
            assert message in health["policies"]["support"]["error"]
            assert serving() == "1.1.0"  # the old bundle keeps serving
        put(sign_bundle(v1, key)[0])  # good again: retried on the change
        wait_for(lambda: serving() == "1.0.0", "v1 again")
        assert s.get("/health")[1]["status"] == "ok"
        time.sleep(0.2)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        s.stop()
    answered = [r for rs in results for r in rs]
    assert len(answered) > 50
    assert all(status == 200 for status, _ in answered), \
        [r for r in answered if r[0] != 200][:3]
    seen = {(d["version"], d["action"]) for _, d in answered}
    assert seen == {("1.0.0", "refuse"), ("1.1.0", "allow")}
    assert "bundle support not loaded" in s.stderr()


def test_sigterm_finishes_requests_in_flight(work: Path, tmp_path: Path) -> None:
    shutil.copy(work / "chat.pbundle", tmp_path / "chat.pbundle")
    s = Server(["chat.pbundle", "--decision-log", "log.jsonl"], tmp_path)
    batch = "\n".join(json.dumps({"id": f"b{k}", "context": {"audience": "teen"},
                                  "scores": {"self_harm.intent": (k % 100) / 100}})
                      for k in range(2000))
    results: list[tuple[int, Any]] = []
    lock = threading.Lock()

    def client() -> None:
        conn = s.connection()
        while True:
            try:
                got = s.post("/v1/check/batch", batch, conn=conn)
            except OSError:
                return
            with lock:
                results.append(got)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    code = s.terminate()
    for t in threads:
        t.join(30)
    s.stop()
    assert code in (0, -15, 143)
    assert results and all(status == 200 for status, _ in results)
    decided = sum(r["summary"]["decided"] for _, r in results)
    lines = (tmp_path / "log.jsonl").read_bytes().split(b"\n")
    assert lines[-1] == b""  # ends on a whole line
    records = [json.loads(x) for x in lines[:-1]]  # none torn
    assert len(records) == decided
    answered = {d["decision_id"] for _, r in results for d in r["decisions"]}
    assert {r["decision_id"] for r in records} == answered


def test_log_rotation(tmp_path: Path, work: Path) -> None:
    from policyc.runtime import Bundle
    from policyc.serve.decision_log import DecisionLog

    chat = Bundle.load(work / "chat.pbundle")
    log = DecisionLog(tmp_path / "d.jsonl", max_bytes=20_000, backups=2, log_text=True)
    d = chat.check(scores={"jailbreak": 0.9})
    for k in range(400):
        log.write(d, k, "some text", f"id{k}", 0.1)
        if k % 37 == 0:
            log.flush()
    log.close()
    files = sorted(tmp_path.glob("d.jsonl*"))
    assert [f.name for f in files] == ["d.jsonl", "d.jsonl.1", "d.jsonl.2"]
    for f in files:
        assert f.stat().st_size <= 20_000 + 2_000
        for line in f.read_text().splitlines():
            assert json.loads(line)["text"] == "some text"


def test_timeout_follows_on_error(work: Path) -> None:
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from policyc.runtime import Bundle
    from policyc.serve.decide import Decider

    chat = Bundle.load(work / "chat.pbundle")
    decider = Decider(ThreadPoolExecutor(1), timeout=1e-9)
    d = asyncio.run(decider.one(chat, (None, "How do I bake bread?", {}, {})))
    assert d.action == "refuse" and d.rule is None  # std.baseline's on_error
    assert any("no answer within" in e for e in d.errors)
    many = asyncio.run(decider.many(chat, [(None, "hello", {}, {}), (None, None, {},
                                                                     {"jailbreak": 0.9})]))
    assert [x.action for x in many] == ["refuse", "refuse"]  # type: ignore[union-attr]
    assert many[0].errors and not many[1].errors  # type: ignore[union-attr]
