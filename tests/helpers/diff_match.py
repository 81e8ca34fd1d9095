"""Whether an event meets a diff row's printed constraints (`describe_box`'s JSON form)
and none of its exceptions (the `except` form): the check the diff property tests make
of every printed region."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def matches(region: dict[str, Any], event: dict[str, Any],
            exceptions: Iterable[dict[str, Any]] = ()) -> bool:
    """Whether an event is in a row: it meets the row's printed constraints
    (`describe_box`'s JSON) and not all the constraints of any of its exceptions."""
    return in_box(region, event) and not any(in_box(h, event) for h in exceptions)


def in_box(region: dict[str, Any], event: dict[str, Any]) -> bool:
    return all(meets(c, event[name]) for name, c in region.items())


def meets(c: dict[str, Any], value: Any) -> bool:
    if "in" in c:
        return value in c["in"]
    if "any_of" in c:
        return any(meets(x, value) for x in c["any_of"])
    ops = {"eq": value == c.get("eq"), "ge": value >= c.get("ge", value),
           "gt": "gt" not in c or value > c["gt"], "le": value <= c.get("le", value),
           "lt": "lt" not in c or value < c["lt"]}
    return all(ops[k] for k in c)
