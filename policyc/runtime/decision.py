"""What a check returns: one `RuntimeDecision` or a vectorized `BatchResult`.

`RuntimeDecision` is on the per-event latency budget, so it is a `__slots__` object
and the fields most callers never read (`matched`, `errors`, the redaction) are
computed or allocated only when read: building it costs a few attribute stores. On
the checker's fastest path even `scores` (one category) is kept as its name and value
and made a dict when read, and `_extra` is left unset (read as None).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from policyc.runtime.bundle import DecisionSpec

DECISION_SCHEMA = "policyc/decision/v1"

#: (action, argument, rule, floor, winner): everything the winning entry fixes
EntryDecision = tuple[str, "str | None", "str | None", "str | None", "str | None"]

_FIELDS = ("action", "argument", "rule", "matched", "policy", "version", "hash", "scores",
           "errors", "redacted", "spans", "floor", "winner")


class Identity:
    """The policy a checker decides for (shared by all of its decisions)."""

    __slots__ = ("policy", "version", "hash", "matched_of")

    def __init__(self, policy: str, version: str, hash: str,
                 matched_of: Callable[[int], tuple[str, ...]]):
        self.policy, self.version, self.hash = policy, version, hash
        self.matched_of = matched_of  # entry mask -> matched rule ids, flattened order


class _Extra:
    """The fields of a decision most callers never read, allocated on first use."""

    __slots__ = ("matched", "errors", "redacted", "spans")

    def __init__(self, matched: tuple[str, ...] | None, errors: list[str] | None,
                 redacted: str | None, spans: list[tuple[int, int]] | None):
        self.matched, self.errors, self.redacted, self.spans = matched, errors, redacted, spans


class RuntimeDecision:
    """One decision, with the identity of the policy that made it.

    `rule` is None when `default` (or `on_error`) decided; `floor` is the locked
    rule whose floor decided, `winner` the rule the strategy picked before floors.
    """

    __slots__ = ("action", "argument", "rule", "_scores", "_score_name", "_score_value",
                 "_outcome", "_id", "_mask", "_extra")
    _score_name: str  # set instead of `_scores` by the checker's fast path
    _score_value: float

    def __init__(self, action: str, argument: str | None, rule: str | None,
                 matched: tuple[str, ...], policy: str, version: str, hash: str,
                 scores: dict[str, float], errors: list[str] | None = None,
                 redacted: str | None = None, spans: list[tuple[int, int]] | None = None,
                 floor: str | None = None, winner: str | None = None):
        self.action, self.argument, self.rule = action, argument, rule
        self._scores = scores
        self._outcome = (action, argument, rule, floor, winner)
        self._id = Identity(policy, version, hash, lambda _: ())
        self._mask = 0
        self._extra = _Extra(tuple(matched), errors, redacted, spans)

    # ---- identity and the lazily built fields ----------------------------------------------

    @property
    def policy(self) -> str:
        return self._id.policy

    @property
    def version(self) -> str:
        return self._id.version

    @property
    def hash(self) -> str:
        return self._id.hash

    @property
    def scores(self) -> dict[str, float]:
        """The nonzero scores the decision used, by leaf category."""
        try:
            return self._scores
        except AttributeError:  # the fast path's one score, as a dict on first read
            s = self._scores = {self._score_name: self._score_value}
            if self._extra_or_none() is None:
                self._extra = None  # type: ignore[assignment]  # `to_dict` reads `_scores` now
            return s

    @property
    def floor(self) -> str | None:
        """The locked rule whose floor decided (None: no floor applied)."""
        return self._outcome[3]

    @property
    def winner(self) -> str | None:
        """The rule the strategy picked, before any floor."""
        return self._outcome[4]

    def _extra_or_none(self) -> _Extra | None:
        try:
            return self._extra
        except AttributeError:  # left unset by the fast path
            return None

    def _x(self) -> _Extra:
        x = self._extra_or_none()
        if x is None:
            x = self._extra = _Extra(None, None, None, None)
        return x

    @property
    def matched(self) -> tuple[str, ...]:
        """Every rule whose guard holds, in flattened order."""
        x = self._x()
        if x.matched is None:
            x.matched = self._id.matched_of(self._mask)
        return x.matched

    @property
    def errors(self) -> list[str]:
        x = self._x()
        if x.errors is None:
            x.errors = []
        return x.errors

    @errors.setter
    def errors(self, value: list[str]) -> None:
        self._x().errors = value

    def error_messages(self) -> list[str] | tuple[()]:
        """`errors` to read, allocating nothing when there are none (a server's metrics
        read them for every decision; `errors` makes the decision its own list)."""
        x = self._extra_or_none()
        return () if x is None or x.errors is None else x.errors

    @property
    def redacted(self) -> str | None:
        x = self._extra_or_none()
        return None if x is None else x.redacted

    @redacted.setter
    def redacted(self, value: str | None) -> None:
        self._x().redacted = value

    @property
    def spans(self) -> list[tuple[int, int]]:
        x = self._x()
        if x.spans is None:
            x.spans = []
        return x.spans

    @spans.setter
    def spans(self, value: list[tuple[int, int]]) -> None:
        self._x().spans = value

    # ---- value semantics (as the dataclass it replaces) -----------------------------------

    def _astuple(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f) for f in _FIELDS)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RuntimeDecision):
            return NotImplemented
        return self._astuple() == other._astuple()

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass was

    def __repr__(self) -> str:
        inner = ", ".join(f"{f}={getattr(self, f)!r}" for f in _FIELDS)
        return f"RuntimeDecision({inner})"

    def to_dict(self) -> dict[str, Any]:
        """The CLI.md `policyc/decision/v1` object (errors/redaction only when present)."""
        ident = self._id
        try:
            x = self._extra
        except AttributeError:  # the checker's fastest path, nothing read yet: one score
            return {"schema": DECISION_SCHEMA, "action": self.action,
                    "argument": self.argument, "rule": self.rule, "policy": ident.policy,
                    "version": ident.version, "hash": ident.hash,
                    "matched": list(ident.matched_of(self._mask)),
                    "scores": {self._score_name: self._score_value}}
        if x is None:  # `make_decision`'s: `matched` still a mask
            return {"schema": DECISION_SCHEMA, "action": self.action,
                    "argument": self.argument, "rule": self.rule, "policy": ident.policy,
                    "version": ident.version, "hash": ident.hash,
                    "matched": list(ident.matched_of(self._mask)), "scores": dict(self.scores)}
        out: dict[str, Any] = {
            "schema": DECISION_SCHEMA, "action": self.action, "argument": self.argument,
            "rule": self.rule, "policy": ident.policy, "version": ident.version,
            "hash": ident.hash, "matched": list(self.matched), "scores": dict(self.scores)}
        if x.errors:
            out["errors"] = list(x.errors)
        if x.redacted is not None:
            out["redacted"] = x.redacted
            out["spans"] = [list(s) for s in self.spans]
        return out

    def to_json(self) -> str:
        """`to_dict()` as one line of JSON (UTF-8 text kept as is), as `policyc check --json` prints it."""
        return json.dumps(self.to_dict(), ensure_ascii=False)


@dataclass
class BatchResult:
    """Vectorized decisions: indices into `Checker.rules` (-1: default) and `decisions`."""

    rule: np.ndarray  # int32
    decision: np.ndarray  # int32 index into `decisions`
    error: np.ndarray  # bool: no rule matched and no default, `on_error` decided
    decisions: list[DecisionSpec]


def make_decision(outcome: EntryDecision, identity: Identity, mask: int, scores: dict[str, float],
                  _new: Any = object.__new__, _cls: type = RuntimeDecision) -> RuntimeDecision:
    """The hot-path constructor (~4x cheaper than `__init__`): `matched` stays a mask."""
    d = _new(_cls)
    d.action, d.argument, d.rule, _, _ = d._outcome = outcome
    d._id = identity
    d._mask = mask
    d._scores = scores
    d._extra = None
    return d
