"""A small client of `policyc serve` (standard library only).

    >>> from policyc.serve.client import Client               # doctest: +SKIP
    >>> guard = Client("http://127.0.0.1:8321")               # doctest: +SKIP
    >>> guard.check(text="hi", context={"audience": "teen"})["action"]  # doctest: +SKIP
    'allow'

`check` and `check_batch` return the decision objects (`policyc/decision/v1` plus
`id`, `decision_id`, `latency_ms`); any answer but 200 raises `ServeError` with the
server's message. One `Client` keeps one connection alive; use one per thread.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from typing import Any


class ServeError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}")
        self.status, self.message = status, message


class Client:
    def __init__(self, url: str = "http://127.0.0.1:8321", token: str | None = None,
                 timeout: float = 10.0):
        u = urllib.parse.urlsplit(url)
        self._host, self._port = u.hostname or "127.0.0.1", u.port or 80
        self._headers = {"Content-Type": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        for attempt in (0, 1):  # a kept-alive connection the server closed: once more
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self._host, self._port,
                                                        timeout=self._timeout)
            try:
                self._conn.request(method, path, body=data, headers=self._headers)
                r = self._conn.getresponse()
                raw = r.read()
                break
            except (ConnectionError, http.client.HTTPException):
                self._conn.close()
                self._conn = None
                if attempt:
                    raise
        out = json.loads(raw) if r.headers.get_content_type() == "application/json" \
            else raw.decode()
        if r.status != 200:
            message = out["error"]["message"] if isinstance(out, dict) and "error" in out \
                else str(out)
            raise ServeError(r.status, message)
        return out

    def check(self, text: str | None = None, context: dict[str, Any] | None = None,
              scores: dict[str, float] | None = None, id: Any = None,
              policy: str | None = None) -> dict[str, Any]:
        event = {k: v for k, v in (("id", id), ("text", text), ("context", context),
                                   ("scores", scores)) if v is not None}
        path = "/v1/check" if policy is None else \
            f"/v1/policies/{urllib.parse.quote(policy, safe='')}/check"
        return self._request("POST", path, event)  # type: ignore[no-any-return]

    def check_batch(self, events: list[dict[str, Any]], policy: str | None = None
                    ) -> list[dict[str, Any]]:
        path = "/v1/check/batch" if policy is None else \
            f"/v1/policies/{urllib.parse.quote(policy, safe='')}/check/batch"
        return self._request("POST", path, events)["decisions"]  # type: ignore[no-any-return]

    def policies(self) -> list[dict[str, Any]]:
        return self._request("GET", "/v1/policies")["policies"]  # type: ignore[no-any-return]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
