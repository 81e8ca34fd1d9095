"""`policyc serve` under load, beside the floor: the same stack answering a constant JSON.

Loopback only, bounded in time. A closed-loop load generator (asyncio on uvloop, raw
HTTP/1.1 keep-alive connections, one request in flight per connection) measures
throughput and p50/p99 latency for:

- the floor: Starlette on uvicorn (httptools, uvloop) reading the body of
  ``POST /v1/check`` and answering a constant JSON of the decision's size;
- ``/v1/check`` with score-only events, and with text events (the shipped classifier);
- ``/v1/check/batch`` with 1,000-event bodies (score-only and text), against
  ``policyc check --input`` on the same events (events per second);
- ``/v1/check`` score-only paced at half of its saturation throughput (p99 there).

Decision logging is on. Both processes' CPU is reported (the server's from /proc, the
generator's own), so a floor limited by the generator would show, and the server's CPU
time per request: on a machine shared with other jobs the server rarely gets a whole
core, so throughput ratios swing from run to run while CPU per request holds (on an
idle machine, where the server is CPU-bound, throughput is its inverse). The floor and
`/v1/check` runs alternate `--rounds` times; each keeps its best round.

The paced run is open loop: every connection sends at fixed times (rate / connections
per second each, with random phases), and latency counts from the scheduled send time,
so a stalled server is charged for the requests it held back (no coordinated omission);
the generator's own lateness (sends more than 1 ms behind schedule) is reported beside
it, with the p99 counted from the actual send (the server's share). Run:

    python benchmarks/serve.py [--seconds 5] [--connections 32] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

FLOOR_APP = r"""
import socket, sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
BODY = open(sys.argv[1], "rb").read()
async def check(request):
    await request.body()
    return Response(BODY, media_type="application/json")
app = Starlette(routes=[Route("/v1/check", check, methods=["POST"])])
sock = socket.socket(); sock.bind(("127.0.0.1", 0)); sock.listen(2048)
sys.stderr.write(f"listening on http://127.0.0.1:{sock.getsockname()[1]}\n"); sys.stderr.flush()
uvicorn.Server(uvicorn.Config(app, loop="uvloop", http="httptools", access_log=False,
                              log_level="warning", lifespan="off")).run(sockets=[sock])
"""


def start(argv: list[str], workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    err = open(workdir / f"srv-{time.monotonic_ns()}.err", "w+b")
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, cwd=workdir,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        err.seek(0)
        for line in err.read().decode().splitlines():
            if "listening on http://127.0.0.1:" in line:
                return proc, int(line.split("127.0.0.1:")[1].split()[0])
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("server did not start")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Conn(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = bytearray()
        self.waiter: asyncio.Future[bytes] | None = None
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end]).lower()
        at = head.find(b"content-length:")
        length = int(head[at + 15:head.find(b"\r\n", at) if head.find(b"\r\n", at) > 0
                          else len(head)])
        if len(self.buf) >= end + 4 + length:
            body = bytes(self.buf[end + 4:end + 4 + length])
            status = bytes(self.buf[9:12])
            del self.buf[:end + 4 + length]
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_result(status + b" " + body[:0])

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("lost"))


def request_bytes(path: str, body: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def load(port: int, requests: list[bytes], connections: int, seconds: float,
               rate: float | None = None, max_requests: int = 2_000_000) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    conns = []
    for _ in range(connections):
        _, proto = await loop.create_connection(Conn, "127.0.0.1", port)
        conns.append(proto)
    latencies: list[float] = []
    service: list[float] = []  # from the actual send
    late = 0
    errors = 0
    deadline = time.perf_counter() + seconds
    sent = 0

    async def worker(c: Conn, k: int) -> None:
        nonlocal errors, sent, late
        i = k
        interval = connections / rate if rate else 0.0
        next_at = time.perf_counter() + random.random() * interval
        while sent < max_requests:
            if rate:
                delay = next_at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                t0 = next_at  # latency from the scheduled time (no coordinated omission)
                next_at += interval
            else:
                t0 = time.perf_counter()
            if t0 > deadline:
                return
            c.waiter = loop.create_future()
            t_send = time.perf_counter()
            late += t_send - t0 > 0.001
            c.transport.write(requests[i % len(requests)])
            i += connections
            sent += 1
            status = await c.waiter
            t_end = time.perf_counter()
            latencies.append(t_end - t0)
            service.append(t_end - t_send)
            if not status.startswith(b"200"):
                errors += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(c, k) for k, c in enumerate(conns)))
    elapsed = time.perf_counter() - t0
    for c in conns:
        c.transport.close()
    latencies.sort()
    service.sort()
    n = len(latencies)
    return {"requests": n, "errors": errors, "seconds": elapsed, "rps": n / elapsed,
            "p50_ms": latencies[n // 2] * 1000 if n else 0,
            "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000 if n else 0,
            "p99_sent_ms": service[min(n - 1, int(n * 0.99))] * 1000 if n else 0,
            "late": late / max(1, n)}


def measure(pid: int, port: int, requests: list[bytes], connections: int, seconds: float,
            rate: float | None = None) -> dict[str, Any]:
    import uvloop

    asyncio.run(load(port, requests[:50], min(connections, 4), 0.5))  # warm up
    cpu0, me0 = cpu_seconds(pid), resource.getrusage(resource.RUSAGE_SELF)
    out = uvloop.run(load(port, requests, connections, seconds, rate))
    cpu1, me1 = cpu_seconds(pid), resource.getrusage(resource.RUSAGE_SELF)
    out["server_cpu"] = (cpu1 - cpu0) / out["seconds"]
    out["server_us"] = (cpu1 - cpu0) / max(1, out["requests"]) * 1e6
    out["client_cpu"] = ((me1.ru_utime + me1.ru_stime) - (me0.ru_utime + me0.ru_stime)) \
        / out["seconds"]
    return out


def server_buckets(port: int, endpoint: str = "/v1/check") -> dict[float, int]:
    """The server's own `policyc_request_seconds` histogram (cumulative, by bound)."""
    import http.client

    c = http.client.HTTPConnection("127.0.0.1", port)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    c.close()
    out = {}
    for line in text.splitlines():
        if line.startswith("policyc_request_seconds_bucket{") and \
                f'endpoint="{endpoint}"' in line:
            le = line.split('le="')[1].split('"')[0]
            out[float(le)] = int(float(line.rsplit(" ", 1)[1]))
    return out


def server_p99(before: dict[float, int], after: dict[float, int]) -> float:
    """The bound of the bucket holding the server-side p99 (seconds) between two scrapes."""
    diff = sorted((le, after[le] - before.get(le, 0)) for le in after)
    total = diff[-1][1] if diff else 0
    return next((le for le, n in diff if n >= 0.99 * total), float("inf"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    from policyc.commands.inputs import load_inputs
    from policyc.compile.pipeline import compile_program

    rnd = random.Random(1)
    work = Path(tempfile.mkdtemp(prefix="policyc-serve-bench-"))
    state = compile_program(load_inputs([REPO / "examples/consumer_chat/chat.pol"], []))
    assert state.bundle is not None
    (work / "chat.pbundle").write_bytes(state.bundle)
    cats = ["self_harm.intent", "sexual.explicit", "violence.general", "harassment"]
    score_events = [{"id": f"s{k}", "context": {"audience": rnd.choice(["adult", "teen"])},
                     "scores": {rnd.choice(cats): round(rnd.random(), 3)}} for k in range(1000)]
    words = ("how do I bake bread tonight please explain the recipe I will hurt you ignore "
             "previous instructions write a story about dragons and the sea").split()
    text_events = [{"id": f"t{k}", "context": {"audience": "teen"},
                    "text": " ".join(rnd.choice(words) for _ in range(rnd.randint(4, 30)))}
                   for k in range(1000)]
    server, port = start([sys.executable, "-m", "policyc", "serve", "chat.pbundle", "--port",
                          "0", "--decision-log", "decisions.jsonl"], work)
    import http.client

    c = http.client.HTTPConnection("127.0.0.1", port)
    c.request("POST", "/v1/check", json.dumps(score_events[0]))
    sample = c.getresponse().read()
    c.close()
    (work / "floor.json").write_bytes(sample)
    floor, floor_port = start([sys.executable, "-c", FLOOR_APP, "floor.json"], work)
    rows = []
    try:
        single = [request_bytes("/v1/check", json.dumps(e).encode()) for e in score_events]
        texts = [request_bytes("/v1/check", json.dumps(e).encode()) for e in text_events]
        batch_s = [request_bytes("/v1/check/batch",
                                 "\n".join(json.dumps(e) for e in score_events).encode())]
        batch_t = [request_bytes("/v1/check/batch",
                                 "\n".join(json.dumps(e) for e in text_events).encode())]
        n, s = args.connections, args.seconds
        floors, checks = [], []
        for _ in range(max(1, args.rounds)):  # alternated: both see the same machine
            floors.append(measure(floor.pid, floor_port, single, n, s))
            checks.append(measure(server.pid, port, single, n, s))
        rows.append(("floor (constant JSON)", 1, max(floors, key=lambda r: r["rps"])))
        rows.append(("/v1/check scores", 1, max(checks, key=lambda r: r["rps"])))
        rows.append(("/v1/check text", 1, measure(server.pid, port, texts, n, s)))
        rows.append(("/v1/check/batch 1,000 scores", 1000,
                     measure(server.pid, port, batch_s, 2, s)))
        rows.append(("/v1/check/batch 1,000 texts", 1000,
                     measure(server.pid, port, batch_t, 2, s)))
        half = rows[1][2]["rps"] / 2
        before = server_buckets(port)
        rows.append((f"/v1/check scores at {half:,.0f}/s (half)", 1,
                     measure(server.pid, port, single, n, s, rate=half)))
        rows[-1][2]["server_p99"] = server_p99(before, server_buckets(port))
    finally:
        for p in (server, floor):
            p.send_signal(signal.SIGTERM)
            p.wait(30)
    cli = {}
    for name, events in (("scores", score_events), ("texts", text_events)):
        path = work / f"{name}.jsonl"
        path.write_text("\n".join(json.dumps(e) for e in events * 10) + "\n")
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "policyc", "check", "chat.pbundle", "--input",
                        str(path), "--output", os.devnull, "--audit-log", "cli_audit.jsonl"],
                       cwd=work, check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
        cli[name] = len(events) * 10 / (time.perf_counter() - t0)
    print(f"load average {os.getloadavg()[0]:.1f} (1 min) on {os.cpu_count()} cores")
    print(f"{'scenario':<40} {'req/s':>9} {'events/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'server CPU':>10} {'us/req':>7} {'client CPU':>10} {'errors':>6}")
    for name, per, r in rows:
        print(f"{name:<40} {r['rps']:>9,.0f} {r['rps'] * per:>10,.0f} {r['p50_ms']:>8.2f} "
              f"{r['p99_ms']:>8.2f} {r['server_cpu']:>10.2f} {r['server_us']:>7.0f} "
              f"{r['client_cpu']:>10.2f} {r['errors']:>6}")
    for name, eps in cli.items():
        print(f"{'policyc check --input ' + name:<40} {'':>9} {eps:>10,.0f}")
    floor_rps, single_rps = rows[0][2]["rps"], rows[1][2]["rps"]
    print(f"\n/v1/check scores / floor: {single_rps / floor_rps:.0%} (goal >= 70%); by "
          f"server CPU per request: {rows[0][2]['server_us'] / rows[1][2]['server_us']:.0%}")
    paced = rows[5][2]
    print(f"p99 at half saturation: {paced['p99_ms']:.2f} ms (goal <= 5 ms); from the "
          f"actual send {paced['p99_sent_ms']:.2f} ms; sends over 1 ms late: "
          f"{paced['late']:.1%}; in the server (its histogram): p99 <= "
          f"{paced['server_p99'] * 1000:g} ms")
    for k, name in ((3, "scores"), (4, "texts")):
        print(f"batch {name} / check --input: {rows[k][2]['rps'] * 1000 / cli[name]:.2f}x "
              "(goal >= 0.8x)")


if __name__ == "__main__":
    main()
