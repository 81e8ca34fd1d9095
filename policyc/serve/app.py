"""The Starlette application: routes, limits, authentication, logs and metrics.

Every answer is JSON (the metrics excepted); any status but 200 has the body
``{"error": {"status", "message", "line"?, "help"?}}``. Bad input is a 4xx with the
message `policyc check` prints for it, never a 500 or a traceback.

`POST /v1/check`, the hot path, is a raw ASGI route (`Service.check_asgi`) in front of
the Starlette app: the same checks, answers and metrics as the Starlette endpoint,
without its per-request objects (docs/serve.md, *Performance*).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from policyc.runtime.checker import InvalidEvent
from policyc.runtime.decision import RuntimeDecision
from policyc.runtime.jsonl import dumps_line
from policyc.serve.config import ServeConfig
from policyc.serve.deadline import BodyDeadlines
from policyc.serve.decide import Decider, Event, RequestError, parse_batch, parse_event
from policyc.serve.decision_log import DecisionLog
from policyc.serve.ids import DecisionIds
from policyc.serve.metrics import CONTENT_TYPE_LATEST, Metrics
from policyc.serve.registry import Loaded, Registry
from policyc.serve.schema import event_schema, openapi

log = logging.getLogger("policyc.serve")
_JSON = "application/json"
_CONTENT_TYPE = (b"content-type", b"application/json")
#: The status counted for a request whose client hung up before its body arrived (as
#: nginx's "client closed request"): not an error of the server, so no traceback.
CLIENT_GONE = 499
_perf = time.perf_counter
_orjson_dumps, _NEWLINE = orjson.dumps, orjson.OPT_APPEND_NEWLINE


def dumps(obj: Any) -> bytes:
    """One line of UTF-8 JSON. orjson: ~20x faster than `json.dumps` for a decision (the
    largest cost of a request after the stack's own, `benchmarks/serve.py`); the
    standard library's writer for what orjson refuses (a lone surrogate)."""
    try:
        return _orjson_dumps(obj, option=_NEWLINE)
    except TypeError:
        return dumps_line(obj)


class JSONBytes(Response):
    """An answer of JSON bytes with its two headers built directly (the general
    `Response.init_headers` costs about 1 µs, a few per cent of a `/v1/check`)."""

    media_type = _JSON

    def __init__(self, body: bytes, status_code: int = 200) -> None:
        self.status_code = status_code
        self.background = None
        self.body = body
        self.raw_headers = [(b"content-length", b"%d" % len(body)), _CONTENT_TYPE]


def json_response(obj: Any, status: int = 200) -> Response:
    return JSONBytes(dumps(obj), status)


def error_answer(err: RequestError) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The body and headers of an error answer (as Starlette's `Response` makes them)."""
    body = dumps(err.body())
    headers = [(b"content-length", b"%d" % len(body)), _CONTENT_TYPE]
    if err.status == 401:
        headers.insert(0, (b"www-authenticate", b"Bearer"))
    elif err.status == 408:  # the rest of the body may still come: not a request's start
        headers.append((b"connection", b"close"))
    return body, headers


def error_response(err: RequestError) -> Response:
    body, headers = error_answer(err)
    response = JSONBytes(body, err.status)
    response.raw_headers = headers
    return response


Handler = Callable[[Request], Awaitable[Response]]


class Service:
    """The service: its bundles, decision log, metrics and the ASGI app."""

    def __init__(self, config: ServeConfig, version: str = ""):
        self.config = config
        self.version = version
        self.metrics = Metrics()
        self.registry = Registry(config.files, config.folders, config.verify_keys,
                                 on_loaded=self._loaded, on_failed=self._failed,
                                 schema_of=event_schema)
        self.log = DecisionLog(config.decision_log, max_bytes=config.log_max_bytes,
                               backups=config.log_backups, log_text=config.log_text,
                               salt=config.log_salt) if config.decision_log else None
        self.pool = ThreadPoolExecutor(max(1, config.workers),
                                       thread_name_prefix="policyc-serve")
        self.decider = Decider(self.pool, config.timeout)
        self.deadlines = BodyDeadlines(config.body_timeout)
        self.new_decision_id = DecisionIds().next_id
        self._auth = None if not config.token else f"Bearer {config.token}".encode()
        self._openapi = dumps(openapi(version))
        self.app = self._build()

    # ---- registry callbacks -------------------------------------------------------------

    def _loaded(self, loaded: Loaded, previous: Loaded | None) -> None:
        c = loaded.checker
        self.metrics.loaded(loaded.name, c.version, c.hash, c.data.signer)

    def _failed(self, name: str, message: str) -> None:
        self.metrics.load_failed(name)

    # ---- plumbing ----------------------------------------------------------------------

    def _authorize(self, request: Request) -> None:
        if self._auth is not None:
            self._check_token(request.headers.get("authorization", "").encode("latin-1"))

    def _check_token(self, got: bytes) -> None:
        assert self._auth is not None
        if not hmac.compare_digest(got, self._auth):
            raise RequestError(401, "missing or wrong bearer token",
                               help="send `Authorization: Bearer <token>`")

    async def _body(self, request: Request) -> bytes:
        return await self._read_body(request.headers.get("content-length"), request.receive)

    async def _read_body(self, declared: str | None, receive: Receive) -> bytes:
        """The body, within `--max-body` bytes and `--body-timeout` seconds (408 past it:
        `deadline.py`)."""
        task = self.deadlines.begin()
        try:
            return await self._receive_body(declared, receive)
        except asyncio.CancelledError:
            if not self.deadlines.ended(task):
                raise
            raise RequestError(408, f"the request body did not arrive within "
                               f"{self.config.body_timeout:g} s",
                               help="send the whole body promptly, or raise "
                                    "`policyc serve --body-timeout`") from None
        finally:
            self.deadlines.end(task)

    async def _receive_body(self, declared: str | None, receive: Receive) -> bytes:
        limit = self.config.max_body
        if declared is not None:
            if not declared.isdigit():
                raise RequestError(400, "bad Content-Length")
            if int(declared) > limit:
                raise RequestError(413, f"the body is {declared} bytes, over the limit of "
                                   f"{limit}", help="raise it with `policyc serve --max-body`")
        message = await receive()  # most bodies come in one message
        if message["type"] != "http.request":
            raise ClientDisconnect()
        body: bytes = message.get("body", b"")
        if not message.get("more_body", False):
            if len(body) > limit:
                raise RequestError(413, f"the body is over the limit of {limit} bytes",
                                   help="raise it with `policyc serve --max-body`")
            return body
        chunks, size = [body], len(body)
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise ClientDisconnect()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise RequestError(413, f"the body is over the limit of {limit} bytes",
                                   help="raise it with `policyc serve --max-body`")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _policy(self, request: Request) -> Loaded:
        return self._policy_named(request.path_params.get("name", self.config.default))

    def _policy_named(self, name: str | None) -> Loaded:
        policies = self.registry.policies  # one snapshot for the whole request
        loaded = policies.get(name) if name is not None else None
        if loaded is None:
            if name in self.registry.status:
                raise RequestError(503, f"policy `{name}` is not loaded: "
                                   f"{self.registry.status[name].error}")
            known = ", ".join(sorted(policies)) or "(none)"
            what = f"unknown policy `{name}`" if name else "no default policy"
            raise RequestError(404, what, help=f"served: {known}")
        return loaded

    def _endpoint(self, label: str, handler: Handler, auth: bool = True) -> Handler:
        metrics = self.metrics

        async def endpoint(request: Request) -> Response:
            t0 = _perf()
            try:
                if auth:
                    self._authorize(request)
                response = await handler(request)
            except RequestError as err:
                response = error_response(err)
            except ClientDisconnect:  # gone before its body arrived: nobody to answer
                metrics.request(label, CLIENT_GONE, _perf() - t0)
                return Response(status_code=CLIENT_GONE)
            except Exception:  # a defect: logged, answered without a traceback
                log.exception("%s %s", request.method, request.url.path)
                response = error_response(RequestError(500, "internal error (logged)"))
            metrics.request(label, response.status_code, _perf() - t0)
            return response

        return endpoint

    # ---- endpoints -----------------------------------------------------------------------

    async def check_asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """`POST /v1/check` as a raw ASGI route: the endpoint `_endpoint(check)` makes
        (the same token check, body limits, answers, errors and metrics) without
        Starlette's routing, `Request`, `Response` and exception middleware, about a
        fifth of the server's CPU for a score-only event (`benchmarks/README.md`)."""
        t0 = _perf()
        try:
            declared = token = None
            for key, value in scope["headers"]:  # as `Headers.get`: the first one
                if key == b"content-length":
                    if declared is None:
                        declared = value.decode("latin-1")
                elif key == b"authorization" and token is None:
                    token = value
            if self._auth is not None:
                self._check_token(token if token is not None else b"")
            body = await self._read_body(declared, receive)
            t1 = _perf()
            answer = await self._check(self._policy_named(self.config.default), body, t1)
            status, headers = 200, [(b"content-length", b"%d" % len(answer)), _CONTENT_TYPE]
        except RequestError as err:
            status = err.status
            answer, headers = error_answer(err)
        except ClientDisconnect:  # gone before its body arrived: nobody to answer
            self.metrics.request("/v1/check", CLIENT_GONE, _perf() - t0)
            return
        except Exception:  # a defect: logged, answered without a traceback
            log.exception("%s %s", scope["method"], scope["path"])
            status = 500
            answer, headers = error_answer(RequestError(500, "internal error (logged)"))
        self.metrics.request("/v1/check", status, _perf() - t0)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    async def check(self, request: Request) -> Response:
        body = await self._body(request)
        t0 = _perf()
        return JSONBytes(await self._check(self._policy(request), body, t0))

    async def _check(self, loaded: Loaded, body: bytes, t0: float) -> bytes:
        """The answer to one event: at once when it needs no model, else from the pool."""
        event = parse_event(body, self.config.max_text)
        checker = loaded.checker
        try:
            if not self.decider.needs_models(checker, event[1]):
                d = checker.check(text=event[1], context=event[2], scores=event[3])
            else:  # model work: in the pool, under the timeout
                d = await self.decider.one(checker, event)
        except InvalidEvent as err:
            raise RequestError(400, f"invalid event: {err}") from None
        return self._answer(loaded, event, d, t0)

    def _answer(self, loaded: Loaded, event: Event, d: RuntimeDecision, t0: float) -> bytes:
        seconds = _perf() - t0
        decision_id = self.new_decision_id()
        latency_ms = round(seconds * 1000, 3)
        decided = d.to_dict()
        if self.log is not None:
            self.log.write(d, event[0], event[1], decision_id, latency_ms, decided)
        self.metrics.decided(loaded.name, d, seconds, "check")
        out = {"id": event[0], **decided, "decision_id": decision_id,
               "latency_ms": latency_ms}
        return dumps(out)

    async def batch(self, request: Request) -> Response:
        body = await self._body(request)
        t0 = _perf()
        loaded = self._policy(request)
        items = parse_batch(body, self.config.max_text, self.config.max_batch)
        events = [e for e, _ in items if e is not None]
        decided = await self.decider.many(loaded.checker, events)
        seconds = _perf() - t0
        per_event = seconds / max(1, len(items))
        latency_ms = round(per_event * 1000, 3)
        out: list[dict[str, Any]] = []
        it = iter(decided)
        n_ok = 0
        write = self.log.write if self.log is not None else None
        decided_metric = self.metrics.decided
        name = loaded.name
        for event, place in items:
            if event is None:
                out.append(place)
                continue
            d = next(it)
            if isinstance(d, str):
                out.append({"id": event[0], **place, "error": d})
                continue
            n_ok += 1
            decision_id = self.new_decision_id()
            answer = d.to_dict()
            if write is not None:
                write(d, event[0], event[1], decision_id, latency_ms, answer)
            decided_metric(name, d, per_event, "batch")
            out.append({"id": event[0], **answer, "decision_id": decision_id})
        return JSONBytes(dumps({"decisions": out, "summary": {
            "events": len(items), "decided": n_ok, "skipped": len(items) - n_ok},
            "latency_ms": round(seconds * 1000, 3)}))

    async def policies(self, request: Request) -> Response:
        return json_response({"default": self.config.default, "policies": [
            loaded.describe() for _, loaded in sorted(self.registry.policies.items())]})

    async def schema(self, request: Request) -> Response:
        return json_response(self._policy(request).schema)

    async def health(self, request: Request) -> Response:
        detail = self.registry.health()
        ok = all(v["status"] == "ok" for v in detail.values())
        return json_response({"status": "ok" if ok else "degraded", "policies": detail})

    async def ready(self, request: Request) -> Response:
        if self.registry.ready():
            return json_response({"status": "ready"})
        missing = sorted(set(self.registry.watched()) - set(self.registry.policies))
        return json_response({"status": "not ready", "not_loaded": missing}, 503)

    async def metrics_endpoint(self, request: Request) -> Response:
        return Response(self.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    async def openapi(self, request: Request) -> Response:
        return JSONBytes(self._openapi)

    # ---- the app ----------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.registry.start(self.config.watch_interval)
        self.deadlines.start()
        try:
            yield
        finally:
            self.deadlines.stop()
            self.close()

    def close(self) -> None:
        self.registry.stop()
        self.pool.shutdown(wait=False, cancel_futures=True)
        if self.log is not None:
            self.log.close()

    def _build(self) -> ASGIApp:
        e = self._endpoint
        routes = [
            Route("/v1/check", e("/v1/check", self.check), methods=["POST"]),
            Route("/v1/check/batch", e("/v1/check/batch", self.batch), methods=["POST"]),
            Route("/v1/policies", e("/v1/policies", self.policies), methods=["GET"]),
            Route("/v1/policies/{name}/check", e("/v1/policies/{name}/check", self.check),
                  methods=["POST"]),
            Route("/v1/policies/{name}/check/batch",
                  e("/v1/policies/{name}/check/batch", self.batch), methods=["POST"]),
            Route("/v1/policies/{name}/schema", e("/v1/policies/{name}/schema", self.schema),
                  methods=["GET"]),
            Route("/health", e("/health", self.health, auth=False), methods=["GET"]),
            Route("/ready", e("/ready", self.ready, auth=False), methods=["GET"]),
            Route("/metrics", e("/metrics", self.metrics_endpoint), methods=["GET"]),
            Route("/openapi.json", e("/openapi.json", self.openapi, auth=False),
                  methods=["GET"]),
        ]

        async def http_error(request: Request, exc: Exception) -> Response:
            status = exc.status_code if isinstance(exc, HTTPException) else 500
            message = {404: f"no such endpoint `{request.url.path}`",
                       405: f"`{request.method}` is not allowed on `{request.url.path}`"
                       }.get(status, str(getattr(exc, "detail", "error")))
            self.metrics.request("other", status, 0.0)
            return error_response(RequestError(status, message, help="see GET /openapi.json"
                                               if status in (404, 405) else None))

        starlette = Starlette(routes=routes, lifespan=self.lifespan,
                              exception_handlers={HTTPException: http_error})
        fast = self.check_asgi

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            """`POST /v1/check` straight to `check_asgi`; the rest through Starlette."""
            if scope["type"] == "http" and scope["path"] == "/v1/check" and \
                    scope["method"] == "POST" and not scope.get("root_path"):
                await fast(scope, receive, send)
            else:
                await starlette(scope, receive, send)

        app.starlette = starlette  # type: ignore[attr-defined]
        return app
