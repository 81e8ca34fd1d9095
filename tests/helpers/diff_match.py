"""Whether an event meets a diff row's printed constraints (`describe_box`'s JSON form):
the check the diff property tests make of every printed region."""

from __future__ import annotations

from typing import Any


def matches(region: dict[str, Any], event: dict[str, Any]) -> bool:
    """Whether an event meets a row's printed constraints (`describe_box`'s JSON)."""
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
