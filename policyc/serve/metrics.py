"""Prometheus metrics of the service (`GET /metrics`), in a registry of their own.

| metric | labels |
|---|---|
| `policyc_decisions_total` | policy, action, rule (`""`: the default or `on_error` decided) |
| `policyc_decision_seconds` (histogram) | policy, endpoint (`check`, `batch`): per event |
| `policyc_request_seconds` (histogram) | endpoint: whole requests |
| `policyc_binding_failures_total` | policy, classifier (a classifier's or a detector's name) |
| `policyc_reloads_total`, `policyc_reload_failures_total` | policy |
| `policyc_requests_total` | endpoint, status |
| `policyc_bundle_info` (gauge, 1) | policy, version, hash, signer |

Labelled children are cached in plain dicts: an increment on the request path is a dict
lookup and a locked add.
"""

from __future__ import annotations

import re
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from policyc.runtime.decision import RuntimeDecision

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

_LATENCY_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                    0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
#: "classifier `x` failed: …", "detector `pii.email` failed: …" (`runtime/bindings.py`)
_FAILED = re.compile(r"^(?:classifier|detector) `([^`]+)`")


class Metrics:
    def __init__(self) -> None:
        disable_created_metrics()  # the `_created` series only double the exposition
        r = self.registry = CollectorRegistry()
        self.decisions = Counter("policyc_decisions", "Decisions made",
                                 ("policy", "action", "rule"), registry=r)
        self.decision_seconds = Histogram(
            "policyc_decision_seconds", "Time to decide one event (batch: per event)",
            ("policy", "endpoint"), buckets=_LATENCY_BUCKETS, registry=r)
        self.request_seconds = Histogram(
            "policyc_request_seconds", "Time to answer a request", ("endpoint",),
            buckets=_LATENCY_BUCKETS, registry=r)
        self.binding_failures = Counter("policyc_binding_failures",
                                        "Binding failures (on_error applied)",
                                        ("policy", "classifier"), registry=r)
        self.reloads = Counter("policyc_reloads", "Bundles (re)loaded", ("policy",),
                               registry=r)
        self.reload_failures = Counter("policyc_reload_failures",
                                       "Bundle loads refused (the old bundle kept serving)",
                                       ("policy",), registry=r)
        self.requests = Counter("policyc_requests", "HTTP requests answered",
                                ("endpoint", "status"), registry=r)
        self.bundle_info = Gauge("policyc_bundle_info", "The bundle each policy serves",
                                 ("policy", "version", "hash", "signer"), registry=r)
        self._children: dict[tuple[Any, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        c = self._children.get(key)
        if c is None:
            c = self._children[key] = metric.labels(*labels)
        return c

    def decided(self, name: str, d: RuntimeDecision, seconds: float, endpoint: str) -> None:
        self._child(self.decisions, name, d.action, d.rule or "").inc()
        self._child(self.decision_seconds, name, endpoint).observe(seconds)
        errors = d.errors
        if errors:
            for message in errors:
                m = _FAILED.match(message)
                if m:
                    self._child(self.binding_failures, name, m[1]).inc()

    def request(self, endpoint: str, status: int, seconds: float) -> None:
        self._child(self.requests, endpoint, str(status)).inc()
        self._child(self.request_seconds, endpoint).observe(seconds)

    def loaded(self, name: str, version: str, hash: str, signer: str | None,
               previous: tuple[str, str, str] | None) -> None:
        self.reloads.labels(name).inc()
        if previous is not None:
            self.bundle_info.remove(name, *previous)
        self.bundle_info.labels(name, version, hash, signer or "").set(1)

    def load_failed(self, name: str) -> None:
        self.reload_failures.labels(name).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
