"""`POST /v1/check` as a raw ASGI route answers exactly as the Starlette route does.

`/v1/policies/{name}/check` goes through Starlette (`Service.check`); `/v1/check`
through `Service.check_asgi`. For the default policy both must give the same status,
headers and body (but the fresh `decision_id` and `latency_ms`), the same errors
byte for byte, and count into the metrics the same way.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from helpers.serve_process import REPO

TOKEN = "s3cret"
EVENTS = [b'{"id": "a", "context": {"audience": "teen"}, "scores": {"harassment": 0.9}}',
          b'{"context": {"audience": "adult"}, "scores": {"sexual.explicit": 0.42}}',
          b'{"id": 7, "context": {"audience": "teen"}, "text": "I will hurt you"}']
BAD = [b'{"context": {"audience": teen}}', b'[1, 2]', b'{"scores": {"nope": 0.5}}',
       b'{"context": {"audience": "teen"}, "text": "' + b"x" * 300 + b'"}', b"",
       b'{"context": {"audience": "teen"}, "scores": {"harassment": 0.9}, "x": 1}',
       b"x" * 5000]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from policyc.commands.inputs import load_inputs
    from policyc.compile.pipeline import compile_program
    from policyc.serve.app import Service
    from policyc.serve.config import ServeConfig

    state = compile_program(load_inputs([REPO / "examples/consumer_chat/chat.pol"], []))
    assert state.bundle is not None
    work = tmp_path_factory.mktemp("fast")
    (work / "chat.pbundle").write_bytes(state.bundle)
    config = ServeConfig(files={"chat": work / "chat.pbundle"}, default="chat",
                         max_body=4096, max_text=200, token=TOKEN,
                         decision_log=work / "d.jsonl")
    svc = Service(config)
    assert not svc.registry.load_all()
    yield svc
    svc.close()


def call(app: Any, path: str, body: bytes, headers: list[tuple[bytes, bytes]],
         chunks: int = 1, length: bytes | None = None
         ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """One request through the ASGI app; the body in `chunks` messages."""
    sent: list[dict[str, Any]] = []
    size = max(1, -(-len(body) // chunks))
    parts = [body[k:k + size] for k in range(0, len(body), size)] or [b""]
    messages = [{"type": "http.request", "body": p, "more_body": k < len(parts) - 1}
                for k, p in enumerate(parts)]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "server": ("127.0.0.1", 80),
             "client": ("127.0.0.1", 5000),
             "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                         (b"content-length", length or b"%d" % len(body)), *headers]}
    asyncio.run(app(scope, receive, send))
    start, out = sent[0], b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], list(start["headers"]), out


def both(service: Any, body: bytes, headers: list[tuple[bytes, bytes]], chunks: int = 1,
         length: bytes | None = None) -> tuple[Any, Any]:
    fast = call(service.app, "/v1/check", body, headers, chunks, length)
    slow = call(service.app, "/v1/policies/chat/check", body, headers, chunks, length)
    return fast, slow


AUTH = [(b"authorization", f"Bearer {TOKEN}".encode())]


@pytest.mark.parametrize("chunks", [1, 3])
def test_decisions_are_the_starlette_routes(service: Any, chunks: int) -> None:
    for body in EVENTS:
        (fs, fh, fb), (ss, sh, sb) = both(service, body, AUTH, chunks)
        assert fs == ss == 200 and fh[1:] == sh[1:] == [(b"content-type", b"application/json")]
        fast, slow = json.loads(fb), json.loads(sb)
        assert fast["decision_id"] != slow["decision_id"]
        for d in (fast, slow):
            del d["decision_id"], d["latency_ms"]
        assert fast == slow


@pytest.mark.parametrize("headers", [AUTH, [], [(b"authorization", b"Bearer wrong")],
                                     [(b"authorization", b"bearer s3cret")]])
def test_errors_are_the_starlette_routes_byte_for_byte(service: Any, headers: Any) -> None:
    for body in BAD:
        fast, slow = both(service, body, headers)
        assert fast == slow
        assert fast[0] in (400, 401, 413), fast
        if not headers or headers != AUTH:
            assert fast[0] == 401 and fast[1][0] == (b"www-authenticate", b"Bearer")


def test_declared_lengths(service: Any) -> None:
    for length in (b"99999", b"12x", b"-1"):
        fast, slow = both(service, b"{}", AUTH, length=length)
        assert fast == slow and fast[0] in (400, 413), fast
    # a second content-length: the first one counts, as `Headers.get` reads it
    fast, slow = both(service, EVENTS[0], AUTH + [(b"content-length", b"99999")])
    assert fast[0] == slow[0] == 200


def test_a_defect_is_a_500_without_a_traceback(service: Any,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*args: Any) -> bytes:
        raise RuntimeError("boom")

    monkeypatch.setattr(service, "_check", broken)
    fast, slow = both(service, EVENTS[0], AUTH)
    assert fast == slow and fast[0] == 500 and b"internal error (logged)" in fast[2]


def test_requests_are_counted_under_the_route(service: Any) -> None:
    before = dict(service.metrics.requests)
    service.metrics._fold()
    before = dict(service.metrics.requests)
    call(service.app, "/v1/check", EVENTS[0], AUTH)
    call(service.app, "/v1/check", BAD[0], AUTH)
    call(service.app, "/v1/check", EVENTS[0], [])
    service.metrics._fold()
    after = service.metrics.requests
    for status in ("200", "400", "401"):
        key = ("/v1/check", status)
        assert after.get(key, 0) - before.get(key, 0) == 1


def test_other_methods_and_paths_still_go_through_starlette(service: Any) -> None:
    status, _, body = call(service.app, "/v1/check/", EVENTS[0], AUTH)
    assert status in (307, 404)  # Starlette's redirect or its 404, never the raw route
    status, _, body = call(service.app, "/v1/checks", EVENTS[0], AUTH)
    assert status == 404 and b"no such endpoint" in body
