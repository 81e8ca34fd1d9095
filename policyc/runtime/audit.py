"""The audit record `policyc/audit/v1`: one decision, why it was made, and by what.

`policyc check --audit-log` writes one a line, and a service's decision log is meant to
write the same records (docs/cli.md, *Audit log*). A record carries everything the
decision does except user content (no text, no redaction): the rule that decided, the
rule the strategy picked before floors (`winner`) and the locked floor that raised it
(`floor`), every matched rule, the errors (a binding failure, `on_error` deciding:
what tells a fail-closed `refuse` from any other), the scores used, and the policy's
name, version and bundle hash; plus the event's `id`, the `time` of the decision (UTC,
milliseconds) and a random `decision_id` (a UUID4 string, unique per decision). `time` and
`decision_id` are `VOLATILE`: leave them out when comparing decisions (`comparable`).
"""

from __future__ import annotations

import random
import time as _time
from typing import Any

from policyc.runtime.decision import RuntimeDecision

AUDIT_SCHEMA = "policyc/audit/v1"
#: every key of a record, in the order written
FIELDS = ("schema", "decision_id", "time", "id", "policy", "version", "hash", "action",
          "argument", "rule", "winner", "floor", "matched", "errors", "scores")
#: keys that differ between two records of the same decision
VOLATILE = frozenset({"decision_id", "time"})

_str_or_null = {"type": ["string", "null"]}
#: JSON Schema (draft 2020-12) of one record
JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": AUDIT_SCHEMA,
    "type": "object",
    "additionalProperties": False,
    "required": list(FIELDS),
    "properties": {
        "schema": {"const": AUDIT_SCHEMA},
        "decision_id": {"type": "string", "pattern": "^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$"},
        "time": {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"},
        "id": {"type": ["string", "number", "null"]},
        "policy": {"type": "string"},
        "version": {"type": "string"},
        "hash": {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"},
        "action": {"enum": ["allow", "warn", "redact", "redirect", "refuse", "escalate"]},
        "argument": _str_or_null,
        "rule": _str_or_null,
        "winner": _str_or_null,
        "floor": _str_or_null,
        "matched": {"type": "array", "items": {"type": "string"}},
        "errors": {"type": "array", "items": {"type": "string"}},
        "scores": {"type": "object",
                   "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1}},
    },
}


_last: list[Any] = [-1, ""]  # (millisecond, its text): a batch decides many per ms


def now() -> str:
    """The current UTC time as the record writes it: `2025-01-31T12:00:00.000Z`."""
    ms = int(_time.time() * 1000)
    if ms != _last[0]:
        sec, frac = divmod(ms, 1000)
        _last[:] = ms, _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(sec)) + f".{frac:03d}Z"
    return _last[1]  # type: ignore[no-any-return]


_V4, _V4_BITS = ~((0xF << 76) | (0x3 << 62)), (4 << 76) | (0x2 << 62)  # version, variant


def new_decision_id() -> str:
    """A random UUID4 string (not a secret: `random`, reseeded in each forked process;
    a quarter of the cost of `uuid.uuid4()`, which reads the OS for every id)."""
    h = (random.getrandbits(128) & _V4 | _V4_BITS).to_bytes(16, "big").hex()
    return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]


def audit_record(d: RuntimeDecision, event_id: Any = None, *, time: str | None = None,
                 decision_id: str | None = None) -> dict[str, Any]:
    """The `policyc/audit/v1` record of decision `d` (keys in `FIELDS` order)."""
    return {"schema": AUDIT_SCHEMA,
            "decision_id": decision_id if decision_id is not None else new_decision_id(),
            "time": time if time is not None else now(), "id": event_id,
            "policy": d.policy, "version": d.version, "hash": d.hash,
            "action": d.action, "argument": d.argument, "rule": d.rule, "winner": d.winner,
            "floor": d.floor, "matched": list(d.matched), "errors": list(d.errors),
            "scores": dict(d.scores)}


def comparable(record: dict[str, Any]) -> dict[str, Any]:
    """The record without its `VOLATILE` keys: equal for equal decisions of one event."""
    return {k: v for k, v in record.items() if k not in VOLATILE}
