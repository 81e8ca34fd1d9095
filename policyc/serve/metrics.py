"""Prometheus metrics of the service (`GET /metrics`).

| metric | labels |
|---|---|
| `policyc_decisions_total` | policy, action, rule (`""`: the default or `on_error` decided) |
| `policyc_decision_seconds` (histogram) | policy, endpoint (`check`, `batch`): per event |
| `policyc_request_seconds` (histogram) | endpoint: whole requests |
| `policyc_binding_failures_total` | policy, classifier (a classifier's or a detector's name) |
| `policyc_reloads_total`, `policyc_reload_failures_total` | policy |
| `policyc_requests_total` | endpoint, status |
| `policyc_bundle_info` (gauge, 1) | policy, version, hash, signer |

The request path only appends a tuple to a list; `_fold` adds `FOLD_AT` of them at
a time into plain dicts (an increment is a dict update; a histogram observation a
`bisect` and two adds), when the list is long or the metrics are scraped: ~3 µs a
request less than folding each in the middle of its request, with cold caches.
prometheus-client's own metric objects take a lock and loop over the buckets in Python,
several µs a request; it only turns the dicts into its exposition format (`collect`).
All on the event loop's thread but the reload counters (the watcher's: plain dict
updates under the GIL).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from policyc.runtime.decision import RuntimeDecision

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
           0.25, 0.5, 1.0, 2.5)
#: Fold the queued observations into the tables once this many wait.
FOLD_AT = 512
#: "classifier `x` failed: …", "detector `pii.email` failed: …" (`runtime/bindings.py`)
_FAILED = re.compile(r"^(?:classifier|detector) `([^`]+)`")


class _Histogram:
    __slots__ = ("counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)  # the last one: above every bound
        self.sum = 0.0


def _observe(table: dict[Any, _Histogram], key: Any, seconds: float,
             _find: Any = bisect.bisect_left) -> None:
    h = table.get(key)
    if h is None:
        h = table[key] = _Histogram()
    h.counts[_find(BUCKETS, seconds)] += 1
    h.sum += seconds


class Metrics:
    def __init__(self) -> None:
        self.decisions: dict[tuple[str, str, str], int] = {}
        self.decision_seconds: dict[tuple[str, str], _Histogram] = {}
        self.request_seconds: dict[tuple[str], _Histogram] = {}
        self.requests: dict[tuple[str, str], int] = {}
        self.binding_failures: dict[tuple[str, str], int] = {}
        self.reloads: dict[tuple[str], int] = {}
        self.reload_failures: dict[tuple[str], int] = {}
        self.bundle_info: dict[str, tuple[str, str, str]] = {}
        self._decided: list[tuple[str, RuntimeDecision, float, str]] = []
        self._requests: list[tuple[str, int, float]] = []
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)  # type: ignore[arg-type]

    # ---- the request path ------------------------------------------------------------------

    def decided(self, name: str, d: RuntimeDecision, seconds: float, endpoint: str) -> None:
        pending = self._decided
        pending.append((name, d, seconds, endpoint))
        if len(pending) >= FOLD_AT:
            self._fold()

    def request(self, endpoint: str, status: int, seconds: float) -> None:
        pending = self._requests
        pending.append((endpoint, status, seconds))
        if len(pending) >= FOLD_AT:
            self._fold()

    def _fold(self) -> None:
        decided, self._decided = self._decided, []
        requests, self._requests = self._requests, []
        table, failures, seconds_of = self.decisions, self.binding_failures, \
            self.decision_seconds
        for name, d, seconds, endpoint in decided:
            key = (name, d.action, d.rule or "")
            table[key] = table.get(key, 0) + 1
            _observe(seconds_of, (name, endpoint), seconds)
            errors = d.error_messages()
            if errors:
                for message in errors:
                    m = _FAILED.match(message)
                    if m:
                        k = (name, m[1])
                        failures[k] = failures.get(k, 0) + 1
        counts = self.requests
        for endpoint, status, seconds in requests:
            k2 = (endpoint, str(status))
            counts[k2] = counts.get(k2, 0) + 1
            _observe(self.request_seconds, (endpoint,), seconds)

    # ---- reloads (the watcher thread) ------------------------------------------------------

    def loaded(self, name: str, version: str, hash: str, signer: str | None) -> None:
        self.reloads[(name,)] = self.reloads.get((name,), 0) + 1
        self.bundle_info[name] = (version, hash, signer or "")

    def load_failed(self, name: str) -> None:
        self.reload_failures[(name,)] = self.reload_failures.get((name,), 0) + 1

    # ---- scraping --------------------------------------------------------------------------

    def collect(self) -> Iterator[Any]:
        self._fold()
        def counter(name: str, doc: str, labels: list[str], table: dict[Any, int]) -> Any:
            family = CounterMetricFamily(name, doc, labels=labels)
            for key, value in sorted(dict(table).items()):
                family.add_metric(list(key), value)
            return family

        def histogram(name: str, doc: str, labels: list[str],
                      table: dict[Any, _Histogram]) -> Any:
            family = HistogramMetricFamily(name, doc, labels=labels)
            for key, h in sorted(dict(table).items()):
                running, buckets = 0, []
                for bound, count in zip([*map(str, BUCKETS), "+Inf"], list(h.counts),
                                        strict=True):
                    running += count
                    buckets.append((bound, running))
                family.add_metric(list(key), buckets, h.sum)
            return family

        yield counter("policyc_decisions", "Decisions made", ["policy", "action", "rule"],
                      self.decisions)
        yield histogram("policyc_decision_seconds", "Time to decide one event (batch: per "
                        "event)", ["policy", "endpoint"], self.decision_seconds)
        yield histogram("policyc_request_seconds", "Time to answer a request", ["endpoint"],
                        self.request_seconds)
        yield counter("policyc_requests", "HTTP requests answered", ["endpoint", "status"],
                      self.requests)
        yield counter("policyc_binding_failures", "Binding failures (on_error applied)",
                      ["policy", "classifier"], self.binding_failures)
        yield counter("policyc_reloads", "Bundles (re)loaded", ["policy"], self.reloads)
        yield counter("policyc_reload_failures", "Bundle loads refused (the old bundle kept "
                      "serving)", ["policy"], self.reload_failures)
        info = GaugeMetricFamily("policyc_bundle_info", "The bundle each policy serves",
                                 labels=["policy", "version", "hash", "signer"])
        for name, (version, hash, signer) in sorted(dict(self.bundle_info).items()):
            info.add_metric([name, version, hash, signer], 1)
        yield info

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
