"""A real `policyc serve` in a subprocess on a loopback port, and a small HTTP client.

The tests of `policyc serve` and `benchmarks/serve.py` start it this way: port 0, the
port read from the one line `listening on http://127.0.0.1:PORT` of its stderr (which
goes to a file, so the pipe never fills).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


class Server:
    def __init__(self, args: list[str], workdir: Path, env: dict[str, str] | None = None,
                 start_timeout: float = 30.0):
        self.stderr_path = workdir / f"serve-{time.monotonic_ns()}.err"
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "policyc", "serve", "--port", "0", *args],
            stdout=subprocess.DEVNULL, stderr=self._err, cwd=workdir,
            env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})
        deadline = time.monotonic() + start_timeout
        while True:
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", self.stderr())
            if m:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"serve did not start:\n{self.stderr()}")
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def connection(self, timeout: float = 30.0) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method: str, path: str, body: bytes | str | None = None,
                headers: dict[str, str] | None = None,
                conn: http.client.HTTPConnection | None = None) -> tuple[int, Any]:
        """(status, JSON body, or the text if not JSON)."""
        own = conn is None
        c = conn or self.connection()
        try:
            data = body.encode() if isinstance(body, str) else body
            c.request(method, path, body=data, headers=headers or {})
            r = c.getresponse()
            raw = r.read()
        finally:
            if own:
                c.close()
        try:
            return r.status, json.loads(raw)
        except ValueError:
            return r.status, raw.decode("utf-8", "replace")

    def post(self, path: str, obj: Any, **kw: Any) -> tuple[int, Any]:
        body = obj if isinstance(obj, (bytes, str)) else json.dumps(obj)
        return self.request("POST", path, body, **kw)

    def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        return self.request("GET", path, **kw)

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0  # pragma: no cover

    def terminate(self, timeout: float = 30.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:  # pragma: no cover
                self.proc.kill()
                self.proc.wait(5)
        self._err.close()
