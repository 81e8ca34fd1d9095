"""`policyc serve` against clients that misbehave: a real server process over HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.serve_process import REPO, Server


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile-serve") / "v1.pbundle"
    r = subprocess.run([sys.executable, "-m", "policyc", "compile",
                        str(REPO / "examples/diff/v1.pol"), "-o", str(path)],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    return path


@pytest.fixture(scope="module")
def server(bundle: Path) -> Iterator[Server]:
    srv = Server([str(bundle)], bundle.parent)
    try:
        yield srv
    finally:
        srv.stop()


def _hang_up_mid_body(srv: Server, path: str) -> None:
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{{".encode())
    time.sleep(0.2)
    s.close()


def test_a_client_gone_mid_body_is_no_traceback(server: Server) -> None:
    """A client that hangs up before its body arrived was logged as an ERROR with a
    traceback (`ClientDisconnect`), one per connection: a flood of them filled the log.
    It is counted as status 499 and the server keeps answering."""
    for path in ("/v1/check", "/v1/check/batch", "/v1/policies/v1/check"):
        _hang_up_mid_body(server, path)
    status, body = server.post("/v1/check", {"scores": {"harassment": 0.1}})
    assert status == 200 and body["action"] == "allow"
    time.sleep(0.5)
    err = server.stderr()
    assert "Traceback" not in err and "ERROR" not in err, err
    _, metrics = server.get("/metrics")
    for endpoint in ("/v1/check", "/v1/check/batch", "/v1/policies/{name}/check"):
        assert any(line.startswith("policyc_requests_total{") and 'status="499"' in line
                   and f'endpoint="{endpoint}"' in line for line in metrics.splitlines()), \
            (endpoint, [x for x in metrics.splitlines() if "requests_total" in x])


def test_slow_clients_do_not_stall_others(server: Server) -> None:
    """Connections that dribble their bodies hold no worker: others are answered."""
    socks = []
    try:
        for _ in range(50):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            s.sendall(b"POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{")
            socks.append(s)
        t0 = time.monotonic()
        status, _ = server.post("/v1/check", {"scores": {"harassment": 0.1}})
        assert status == 200 and time.monotonic() - t0 < 5
    finally:
        for s in socks:
            s.close()


def test_a_byte_order_mark_is_ignored_and_an_empty_body_named(server: Server) -> None:
    """`check --input` ignores a UTF-8 BOM (and so does RFC 8259 allow): a body that
    starts with one was a 400 `Expecting value`; an empty body read "blank line"."""
    bom = b"\xef\xbb\xbf"
    status, body = server.post("/v1/check", bom + b'{"scores": {"harassment": 0.9}}')
    assert status == 200 and body["action"] == "warn", body
    status, body = server.post("/v1/check/batch", bom + b'[{"scores": {"harassment": 0.9}}]')
    assert status == 200 and body["summary"]["decided"] == 1, body
    for empty in (b"", b" \r\n", bom):
        status, body = server.post("/v1/check", empty)
        assert status == 400
        assert body["error"]["message"] == "the body is empty: an event is a JSON object"


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_a_port_out_of_range_is_a_usage_error(port: str, bundle: Path) -> None:
    """`bind` raised OverflowError, a traceback; checked with the other flags now."""
    r = subprocess.run([sys.executable, "-m", "policyc", "serve", str(bundle), "--port", port],
                       capture_output=True, text=True, cwd=REPO, timeout=60)
    assert "Traceback" not in r.stderr
    assert r.returncode == 2
    assert f"error: `--port {port}` is not a TCP port" in r.stderr


def _answer(s: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    return data


@pytest.mark.parametrize("path", ["/v1/check", "/v1/check/batch"])
def test_a_body_that_never_arrives_is_a_408_and_the_connection_closes(bundle: Path,
                                                                       path: str) -> None:
    """Headers, part of the body, then nothing: past `--body-timeout` the server answers
    408 with `Connection: close` and hangs up (it held the handler forever before)."""
    srv = Server([str(bundle), "--body-timeout", "0.5"], bundle.parent)
    try:
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        t0 = time.monotonic()
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{{".encode())
        answer = _answer(s)
        waited = time.monotonic() - t0
        s.close()
        head = answer.split(b"\r\n\r\n", 1)[0].lower()
        assert head.startswith(b"http/1.1 408"), answer
        assert b"connection: close" in head and b"--body-timeout" in answer
        assert 0.5 <= waited < 5, waited
        status, body = srv.post("/v1/check", {"scores": {"harassment": 0.1}})
        assert status == 200 and body["action"] == "allow"
        assert "Traceback" not in srv.stderr()
    finally:
        srv.stop()


def test_a_body_timeout_must_be_positive(bundle: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "policyc", "serve", str(bundle), "--port", "0",
                        "--body-timeout", "0"], capture_output=True, text=True, cwd=REPO,
                       timeout=60)
    assert r.returncode == 2 and "--body-timeout" in r.stderr and "Traceback" not in r.stderr
