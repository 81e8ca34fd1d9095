"""The runtime checker: decides events from a verified bundle (LANGUAGE.md §4, §5, §7).

Two evaluation paths over the same compiled data, cross-checked by the tests:

- `check` (one event, pure Python): per variable and piece an int bitset of the
  entries allowing it; the matching entries are their AND (`events.py`). Entries
  are numbered best rank first, so for the key-ordered strategies the winner is
  the lowest set bit, and the bitset also gives `matched` (computed when read).
  The outcome of every winning entry is precomputed at load, so an ordinary event
  costs a few dict lookups, one `bisect` per nonzero score and a few int ANDs
  (for key-ordered bundles in a closure over the tables, `_specialized_check`);
  anything else (text, errors, floors, most-specific) takes the reference path.
- `check_batch` (numpy, no per-event Python loop; `batch.py`): the dense group
  tables, the minimum rank over groups, then the locked floors.

Events are validated first; an invalid event raises `InvalidEvent` and is never
decided by a guess.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from policyc.runtime.actions import RESTRICTIVENESS
from policyc.runtime.batch import BatchDecider
from policyc.runtime.bindings import Bindings, Failure
from policyc.runtime.bits import bits_of
from policyc.runtime.bundle import BundleData, DecisionSpec
from policyc.runtime.bundle_reader import read_bundle, read_bundle_file
from policyc.runtime.decision import (
    DECISION_SCHEMA,
    BatchResult,
    EntryDecision,
    Identity,
    RuntimeDecision,
    make_decision,
)
from policyc.runtime.events import EventEncoder, InvalidEvent

__all__ = ["DECISION_SCHEMA", "RESTRICTIVENESS", "BatchResult", "Bundle", "Checker",
           "InvalidEvent", "RuntimeDecision"]


_new_decision = object.__new__
_bisect = bisect.bisect_right

#: distinct entry masks whose matched ids `Checker` keeps (bounded: masks come from events)
MATCHED_MEMO = 4096


class Checker:
    """A loaded bundle, ready to decide (use `policyc.runtime.Bundle.load`)."""

    def __init__(self, data: BundleData):
        m = data.manifest
        self.data = data
        self.manifest = m
        self.policy, self.version, self.hash = m.policy, m.version, m.hash
        self.strategy = m.strategy
        self.key_ordered = m.strategy != "most-specific"
        self.rules = m.rules
        self.rule_ids = [r.id for r in m.rules]
        self.restr = [RESTRICTIVENESS[r.decision.action] for r in m.rules]
        self.decisions = list(m.decisions)
        self.bindings = Bindings(data)
        enc = self.encoder = EventEncoder(data)
        self.variables = enc.variables
        self.var_index = enc.var_index
        self.context_names, self.score_names = enc.context_names, enc.score_names
        self.bits, self.all_entries = enc.bits, enc.all_entries
        # shapes, ranges and cross-references were checked at load (`consistency.py`)
        self.entry_rule: list[int] = data.array(m.entry_rule).tolist()
        self.locked_entries = 0
        for e, r in enumerate(self.entry_rule):
            if m.rules[r].locked:
                self.locked_entries |= 1 << e
        self.floor_pos = {r: k for k, r in enumerate(m.floor_rank)}
        self.contains: np.ndarray | None = None
        if m.contains is not None:
            self.contains = data.array(m.contains)
        tables = {g.table: data.array(g.table)
                  for ts in (m.main, m.floors) if ts is not None for g in ts.groups}
        decision_index = {(d.action, d.argument): i for i, d in enumerate(self.decisions)}
        rule_decision = [decision_index[(r.decision.action, r.decision.argument)]
                         for r in m.rules]
        self.rule_decision = np.array(rule_decision, dtype=np.int32)
        self.default_index = (decision_index[(m.default.action, m.default.argument)]
                              if m.default else -1)
        self.on_error_index = decision_index[(m.on_error.action, m.on_error.argument)]
        self._batch = BatchDecider(enc, m, tables, rule_decision, self.default_index,
                                   self.on_error_index)
        self._matched_memo: dict[int, tuple[str, ...]] = {}
        self._identity = Identity(self.policy, self.version, self.hash, self._matched_ids)
        self._entry_outcome: list[EntryDecision] = [self._outcome(r, None) for r in self.entry_rule]
        self._floor_outcomes: dict[tuple[int, int | None], EntryDecision] = {}
        self._default_outcome: EntryDecision | None = None if m.default is None else (
            m.default.action, m.default.argument, None, None, None)
        if self.key_ordered and enc.ctx_key is not None:
            self.check = self._specialized_check()  # type: ignore[method-assign]

    def _specialized_check(self) -> Any:
        """`check` for this bundle as a closure over its tables (same results).

        The commonest event (no text, every attribute given, one score in (0, 1], no
        locked entry matching, decided by a rule or the default) costs a few lookups;
        reading the tables from closure cells instead of the instance saves about a
        tenth of the time. Anything else goes to the general `Checker.check`.
        """
        general = Checker.check.__get__(self)
        enc = self.encoder
        ctx_key, ctx_cache, ctx_typed = enc.ctx_key, enc.ctx_cache, enc.ctx_typed
        n_context, score_table, entry_outcome = len(enc.context_vars), enc.score_table, \
            self._entry_outcome
        locked, identity, new, cls, bisect_right = self.locked_entries, self._identity, \
            _new_decision, RuntimeDecision, _bisect
        default = self._default_outcome
        # one attribute of type bool or number (the usual case): checked without a loop
        typed_at, typed_as = ctx_typed[0] if len(ctx_typed) == 1 else (-1, frozenset())
        typed_bool = bool if bool in typed_as else None  # an identity test settles a bool

        def check(text: str | None = None, context: Mapping[str, Any] | None = None,
                  scores: Mapping[str, Any] | None = None) -> RuntimeDecision:
            if text is None:
                try:  # None for either (TypeError) takes the general path
                    if len(scores) == 1 and len(context) == n_context:  # type: ignore[arg-type]
                        key = ctx_key(context)  # type: ignore[arg-type, misc]
                        m = ctx_cache.get(key, -1)
                    else:
                        m = -1
                except (KeyError, TypeError):  # another attribute; an unhashable value
                    m = -1
                if m >= 0:
                    if typed_at >= 0:  # True == 1 == 1.0 in the cache
                        t = type(key[typed_at])
                        if t is not typed_bool and t not in typed_as:
                            return general(text, context, scores)
                    elif ctx_typed:
                        for k, types in ctx_typed:
                            if type(key[k]) not in types:
                                return general(text, context, scores)
                    for name in scores:  # type: ignore[union-attr]  # noqa: B007
                        break  # the cheapest way to the only key
                    x = scores[name]  # type: ignore[index]
                    s = score_table.get(name)
                    if s is not None and type(x) is float and 0.0 < x <= 1.0:
                        m &= s[2][bisect_right(s[0], x)]
                        if m:  # entries are numbered best rank first
                            outcome = None if m & locked else \
                                entry_outcome[(m & -m).bit_length() - 1]
                        else:
                            outcome = default
                        if outcome is not None:
                            # `make_decision`, inlined
                            d = new(cls)
                            d.action, d.argument, d.rule, _, _ = d._outcome = outcome
                            d._id = identity
                            d._mask = m
                            d._score_name = name  # `scores` is built when read
                            d._score_value = x
                            return d
            return general(text, context, scores)

        check.__doc__ = Checker.check.__doc__
        return check

    def _outcome(self, winner: int, floor: int | None) -> EntryDecision:
        rule = winner if floor is None else floor
        d = self.rules[rule].decision
        return (d.action, d.argument, self.rule_ids[rule],
                None if floor is None else self.rule_ids[floor], self.rule_ids[winner])

    def _matched_ids(self, m: int) -> tuple[str, ...]:
        """The matched rule ids of an entry mask, memoized (a server reads `matched` for
        every answer; few masks recur) up to `MATCHED_MEMO` masks."""
        got = self._matched_memo.get(m)
        if got is None:
            er, ids = self.entry_rule, self.rule_ids
            got = tuple(ids[r] for r in sorted({er[e] for e in bits_of(m)}))
            if len(self._matched_memo) < MATCHED_MEMO:
                self._matched_memo[m] = got
        return got

    def validate_scores(self, scores: Mapping[str, Any]) -> dict[str, float]:
        return self.encoder.validate_scores(scores)

    # ---- resolution (LANGUAGE.md §4-§5) ----------------------------------------------------------

    def _resolve(self, m: int) -> tuple[int | None, int | None, list[int]]:
        """(winner rule, floor rule or None, matched rules in flattened order)."""
        if not m:
            return None, None, []
        er = self.entry_rule
        matched = sorted({er[e] for e in bits_of(m)})
        if self.key_ordered:
            winner = er[(m & -m).bit_length() - 1]  # entries are numbered best rank first
        else:
            winner = self._most_specific(matched)
        return winner, self._floor(winner, m), matched

    def _floor(self, winner: int, m: int) -> int | None:
        """The locked rule whose floor overrides `winner`, if any."""
        lm = m & self.locked_entries
        if not lm:
            return None
        er, fp = self.entry_rule, self.floor_pos
        best = min({er[e] for e in bits_of(lm)}, key=fp.__getitem__)
        return best if self.restr[best] > self.restr[winner] else None

    def _most_specific(self, matched: list[int]) -> int:
        c = self.contains
        assert c is not None
        inside_all = [r for r in matched if all(c[s, r] for s in matched)]
        if inside_all:
            candidates = inside_all
        else:  # (a containment table sealed with a cycle leaves none: take them all)
            candidates = [r for r in matched if not any(
                s != r and c[r, s] and not c[s, r] for s in matched)] or matched
        return max(candidates, key=lambda i: (self.restr[i], -self.rules[i].order))

    # ---- one event ----------------------------------------------------------------------

    def check(self, text: str | None = None, context: Mapping[str, Any] | None = None,
              scores: Mapping[str, Any] | None = None) -> RuntimeDecision:
        """Decide one event. Raises `InvalidEvent` for an event that cannot be decided.

        A key-ordered bundle with context attributes replaces this method by
        `_specialized_check`, which decides its commonest events and hands the rest
        here. Here, ordinary events (plain values, scores in [0, 1]) are decided from
        the encoder's tables (`EventEncoder.fast_mask`); anything else takes the
        reference path (`_check`). A text's scores, when they are all its scores and no
        binding failed, are decided the same way.
        """
        if text is not None:
            if scores or type(text) is not str or not self.bindings.categories:
                return self._check(text, context, scores)
            computed = self.bindings.scores(text)
            if computed[1]:  # a binding failed: `on_error`
                return self._check(text, context, None, computed)
            scores = computed[0]
        nonzero: dict[str, float] = {}
        m = self.encoder.fast_mask(context, scores, nonzero)
        if m < 0:
            return (self._check(None, context, scores) if text is None
                    else self._check(text, context, None, computed))
        if m and self.key_ordered:
            low = m & -m  # entries are numbered best rank first
            if m & self.locked_entries:
                outcome = self._floored(self.entry_rule[low.bit_length() - 1], m)
            else:
                outcome = self._entry_outcome[low.bit_length() - 1]
        elif not m and self._default_outcome is not None:
            outcome = self._default_outcome
        else:  # most-specific, or `on_error` decides
            return self._decide(m, nonzero, [], text)
        if text is not None and outcome[0] == "redact":
            return self._decide(m, nonzero, [], text)  # with the spans and redacted text
        return make_decision(outcome, self._identity, m, nonzero)

    def _floored(self, winner: int, m: int) -> EntryDecision:
        floor = self._floor(winner, m)
        key = (winner, floor)
        outcome = self._floor_outcomes.get(key)
        if outcome is None:
            if len(self._floor_outcomes) > 4096:
                self._floor_outcomes.clear()
            outcome = self._floor_outcomes[key] = self._outcome(winner, floor)
        return outcome

    def _check(self, text: str | None, context: Mapping[str, Any] | None,
               scores: Mapping[str, Any] | None,
               computed: tuple[dict[str, float], list[Failure]] | None = None
               ) -> RuntimeDecision:
        """The reference path: precise errors, text bindings, `on_error`, redaction.

        `computed`: the text's scores and binding failures, if `check` already has them.
        """
        enc = self.encoder
        m = enc.context_mask(context or {})
        given = enc.validate_scores(scores) if scores else {}
        failures: list[Failure] = []
        used = given
        if text is not None:
            if not isinstance(text, str):
                raise InvalidEvent(f"text must be a string, not {type(text).__name__}")
            if self.bindings.categories:
                from_text, failures = computed or self.bindings.scores(
                    text, given.keys())  # type: ignore[arg-type]
                used = {**from_text, **given}
        nonzero = {k: v for k, v in used.items() if v != 0.0}
        m &= enc.score_mask(nonzero)
        return self._decide(m, nonzero, failures, text)

    def _decide(self, m: int, nonzero: dict[str, float], failures: list[Failure],
                text: str | None) -> RuntimeDecision:
        """Resolution, `on_error` and redaction for an event's entry mask."""
        winner, floor, matched = self._resolve(m)
        errors = [f.message for f in failures]
        rule = floor if floor is not None else winner
        decision: DecisionSpec
        if rule is not None:
            decision = self.rules[rule].decision
        elif self.manifest.default is not None:
            decision = self.manifest.default
        else:
            decision = self.manifest.on_error
            errors.append("no rule matched and the policy has no default: `on_error` decided")
        rule_id = None if rule is None else self.rule_ids[rule]
        if failures:
            fallback = self.manifest.on_error
            for f in failures:
                d = f.on_error or self.manifest.on_error
                if RESTRICTIVENESS[d.action] > RESTRICTIVENESS[fallback.action] or f is failures[0]:
                    fallback = d
            if RESTRICTIVENESS[decision.action] <= RESTRICTIVENESS[fallback.action]:
                decision, rule_id = fallback, None
                errors.append(f"`on_error` decided {fallback.action}")
        ids = self.rule_ids
        out = make_decision(
            (decision.action, decision.argument, rule_id,
             None if floor is None else ids[floor], None if winner is None else ids[winner]),
            self._identity, m, nonzero)
        out.errors = errors
        if decision.action == "redact" and text is not None and self.bindings.detector_specs:
            # every matched redact rule's categories: a tie between two redact rules must
            # not let the loser's spans (say, an email next to a secret) leak
            cats: set[str] = set()
            for r in [*matched, *([] if rule is None else [rule])]:
                if self.rules[r].decision.action == "redact":
                    cats |= set(self.rules[r].categories)
            spans = self.bindings.spans(text, cats or None)
            from policyc.runtime.detectors import redact

            out.spans = spans
            out.redacted = redact(text, spans)
        return out

    # ---- many events (vectorized) ------------------------------------------------------------

    def check_batch(self, contexts: Mapping[str, Any] | None = None,
                    scores: Mapping[str, Any] | None = None) -> BatchResult:
        """Decide many events given as columns (attribute/category -> array).

        Enum columns hold the values (strings) or their indices in declaration order;
        a missing score column is all zeros. Text is not taken here: compute the
        scores first (`bindings.scores`) or use `check`. Raises `InvalidEvent` on
        the first invalid row.
        """
        if self.key_ordered:
            return self._batch.decide(contexts or {}, scores or {})
        n, pieces = self._batch.pieces(contexts or {}, scores or {})
        return self._batch_general(n, pieces)

    def _batch_general(self, n: int, cols: list[np.ndarray]) -> BatchResult:
        """most-specific: the containment test is per matching set, so one event at a time."""
        rule = np.full(n, -1, dtype=np.int32)
        for k in range(n):
            m = self.all_entries
            for i, col in enumerate(cols):
                m &= self.bits[i][int(col[k])]
            winner, floor, _ = self._resolve(m)
            r = floor if floor is not None else winner
            rule[k] = -1 if r is None else r
        none = rule < 0
        fallback = self.default_index if self.default_index >= 0 else self.on_error_index
        decision = np.where(none, fallback, self.rule_decision[np.maximum(rule, 0)]) \
            if len(self.rule_decision) else np.full(rule.shape, fallback, dtype=np.int32)
        error = none if self.default_index < 0 else np.zeros(rule.shape, dtype=np.bool_)
        return BatchResult(rule, decision.astype(np.int32), error, self.decisions)

    def decide_texts(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Scores of many texts from the bindings (convenience for callers of `check_batch`)."""
        return [self.bindings.scores(t)[0] for t in texts]


class Bundle:
    """Public entry point: ``Bundle.load(path).check(text=..., context=..., scores=...)``.

    ``max_member_bytes``: the largest member (table or model) accepted once inflated;
    default `DEFAULT_MAX_MEMBER_BYTES` (1 GiB), or `MAX_MEMBER_ENV` when set.
    ``verify_key``: trusted Ed25519 public keys (PEM files, or `signing.VerifyKeys`); a
    bundle not signed by one of them is refused. None (default): the keys of
    ``POLICYC_VERIFY_KEY`` when set; False: no signature check.
    """

    @staticmethod
    def load(path: str | Path, max_member_bytes: int | None = None,
             verify_key: Any = None) -> Checker:
        return Checker(read_bundle_file(path, max_member_bytes, verify_key))

    @staticmethod
    def from_bytes(data: bytes, source: str = "<bytes>",
                   max_member_bytes: int | None = None, verify_key: Any = None) -> Checker:
        return Checker(read_bundle(data, source, max_member_bytes, verify_key))
