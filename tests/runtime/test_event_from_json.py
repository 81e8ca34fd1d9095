"""`event_from_json` keeps its messages and their order (checked against a plain
rendering of the contract: the old implementation, kept here as the reference)."""

from __future__ import annotations

import itertools
from typing import Any

from policyc.runtime.events import EVENT_KEYS, InvalidEvent, describe, event_from_json


def reference(obj: Any) -> tuple[Any, str | None, dict[str, Any], dict[str, Any]]:
    if not isinstance(obj, dict):
        raise InvalidEvent(f"expected a JSON object, not {describe(obj)}")
    unknown = [k for k in obj if k not in EVENT_KEYS]
    if unknown:
        raise InvalidEvent(f"unknown key(s) {', '.join(describe(k) for k in unknown)} "
                           "(an event has `id`, `text`, `context`, `scores`)")
    if "text" not in obj and "context" not in obj and "scores" not in obj:
        raise InvalidEvent("an event needs one of `text`, `context`, `scores`")
    event_id = obj.get("id")
    if "id" in obj and (not isinstance(event_id, (str, int, float)) or event_id is True
                        or event_id is False):
        raise InvalidEvent(f"`id` must be a string or a number, not {describe(event_id)}")
    text = obj.get("text")
    if "text" in obj and not isinstance(text, str):
        raise InvalidEvent(f"`text` must be a string, not {describe(text)}")
    context, scores = obj.get("context", {}), obj.get("scores", {})
    for key, value in (("context", context), ("scores", scores)):
        if not isinstance(value, dict):
            raise InvalidEvent(f"`{key}` must be an object, not {describe(value)}")
    return event_id, text, context, scores


def outcome(fn: Any, obj: Any) -> Any:
    try:
        return fn(obj)
    except InvalidEvent as err:
        return str(err)


VALUES = [None, True, False, 0, 1.5, "x", "", [], {}, {"a": 1}, [1]]


def _objects() -> Any:
    yield from VALUES
    keys = [*EVENT_KEYS, "extra", "Text"]
    for n in range(1, 4):
        for combo in itertools.combinations(keys, n):
            for vals in itertools.product(VALUES[:9], repeat=n):
                yield dict(zip(combo, vals, strict=True))


def test_same_answers_as_the_reference() -> None:
    n = 0
    for obj in _objects():
        assert outcome(event_from_json, obj) == outcome(reference, obj), obj
        n += 1
    assert n > 10_000


def test_absent_objects_are_fresh() -> None:
    a, b = event_from_json({"text": "x"}), event_from_json({"text": "x"})
    assert a[2] == a[3] == {} and a[2] is not b[2] and a[3] is not b[3]
