"""The decision map: exact answers to "which rules match, and what decides, where".

Rules become **entries** (one per box of their guard). For each variable and piece,
an int bitset says which entries allow that piece, so the entries matching a cell
are an AND of one bitset per variable. For the key-ordered strategies
(most-/least-restrictive, first-match, priority, and unique, whose runtime
choice is most-restrictive) entries are numbered best key first, so the winner is
the lowest set bit. Questions about regions ("where does this rule decide?") are
answered by the search over this map (`search.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from policyc.runtime.bits import bits_of
from policyc.semantics.model import Decision, FlatPolicy, FlatRule
from policyc.semantics.regions.boxes import Box, build_space, formula_boxes, witness
from policyc.semantics.regions.space import Space

KEY_ORDERED = ("most-restrictive", "least-restrictive", "first-match", "priority", "unique")


def rule_key(rule: FlatRule, strategy: str) -> tuple[int, ...]:
    """Larger wins. Ties of equal restrictiveness go to the earlier rule (LANGUAGE.md §4)."""
    r = rule.decision.restrictiveness
    if strategy == "least-restrictive":
        return (-r, -rule.order)
    if strategy == "first-match":
        return (-rule.order,)
    if strategy == "priority":
        return (rule.priority, r, -rule.order)
    return (r, -rule.order)  # most-restrictive, unique (and ambiguity fallbacks)


def floor_key(rule: FlatRule) -> tuple[int, int]:
    return (rule.decision.restrictiveness, -rule.order)


@dataclass(frozen=True)
class Resolution:
    """What the policy decides at one event (LANGUAGE.md §4–§5)."""

    decision: Decision | None  # None: no rule matched and there is no default (a gap)
    rule: str | None  # None when `default` decided
    matched: tuple[str, ...]  # in flattened order
    ambiguous: tuple[str, ...] = ()  # the tied rules, when the strategy was ambiguous
    floor: str | None = None  # the locked rule whose floor overrode the strategy
    overridden: str | None = None  # the strategy's pick, when a floor decided over it

    def key(self) -> tuple[str, str | None] | None:
        return None if self.decision is None else (self.decision.action, self.decision.argument)


class DecisionMap:
    def __init__(self, policy: FlatPolicy, space: Space | None = None):
        self.policy = policy
        self.space = space or build_space([policy])
        self.strategy = policy.strategy
        self.rules = policy.rules
        self.key_ordered = self.strategy in KEY_ORDERED
        n = len(self.rules)
        if self.key_ordered:
            self.rank = sorted(range(n), key=lambda i: rule_key(self.rules[i], self.strategy),
                               reverse=True)
        else:
            self.rank = list(range(n))
        self.boxes: list[list[Box]] = [formula_boxes(r.formula, self.space) for r in self.rules]
        # entries, numbered in rank order
        self.entry_rule: list[int] = []
        self.entry_box: list[Box] = []
        self.rule_entries: list[int] = [0] * n
        for ri in self.rank:
            for box in self.boxes[ri]:
                e = len(self.entry_rule)
                self.entry_rule.append(ri)
                self.entry_box.append(box)
                self.rule_entries[ri] |= 1 << e
        self.n_entries = len(self.entry_rule)
        self.all_entries = (1 << self.n_entries) - 1
        nv = len(self.space)
        self.bits: list[list[int]] = []
        self.free: list[int] = []
        for v in range(nv):
            var = self.space.vars[v]
            constrained = 0
            per_piece = [0] * var.n_pieces
            for e, box in enumerate(self.entry_box):
                m = box.get(v)
                if m is None:
                    continue
                constrained |= 1 << e
                for p in range(var.n_pieces):
                    if (m >> p) & 1:
                        per_piece[p] |= 1 << e
            free = self.all_entries & ~constrained
            self.bits.append([pp | free for pp in per_piece])
            self.free.append(free)
        self.locked_entries = 0
        for ri, r in enumerate(self.rules):
            if r.locked:
                self.locked_entries |= self.rule_entries[ri]
        # per variable: piece mask -> union / intersection of its pieces' bitsets
        self._union: list[dict[int, int]] = [{} for _ in range(nv)]
        self._inter: list[dict[int, int]] = [{} for _ in range(nv)]
        # variables a box constrains -> entries free on every other variable (`containing`)
        self._free_outside: dict[tuple[int, ...], int] = {}
        self.position = {ri: k for k, ri in enumerate(self.rank)}
        # prefix[k]: entries of the k best-ranked rules (rules strictly above rank k)
        self._prefix = [0]
        for ri in self.rank:
            self._prefix.append(self._prefix[-1] | self.rule_entries[ri])
        # locked entries by restrictiveness, for floor questions
        self._locked_above_restr = [0] * 7
        for ri, r in enumerate(self.rules):
            if r.locked:
                for level in range(r.decision.restrictiveness):
                    self._locked_above_restr[level] |= self.rule_entries[ri]
        # for the search's greedy first try (search.py):
        # per variable, pieces from the one fewest entries allow to the most (greedy witness)
        self.escape_order = [sorted(range(len(b)), key=[x.bit_count() for x in b].__getitem__)
                              for b in self.bits]
        # the escape cell: per variable, its (in-domain) piece fewest entries accept
        self.escape_piece = []
        for v, var in enumerate(self.space.vars):
            self.escape_piece.append(next(p for p in self.escape_order[v]
                                           if (var.domain >> p) & 1))
        self.escape_bits = [self.bits[v][p] for v, p in enumerate(self.escape_piece)]
        self.escape_all = self.all_entries
        for b in self.escape_bits:
            self.escape_all &= b

    # ---- cells -------------------------------------------------------------------------------

    def point_of(self, event: dict[str, Any]) -> list[int]:
        """Pieces of a concrete event; absent scores are 0, absent attributes their default."""
        point = []
        for var in self.space.vars:
            if var.name in event:
                value = event[var.name]
            elif var.kind == "score":
                value = 0.0
            elif var.default is not None:
                value = var.default
            else:
                raise KeyError(var.name)
            point.append(var.piece_of(value))
        return point

    def matched_entries(self, point: list[int]) -> int:
        m = self.all_entries
        for v, p in enumerate(point):
            m &= self.bits[v][p]
            if not m:
                break
        return m

    def matched_rules(self, entries: int) -> list[int]:
        return sorted({self.entry_rule[e] for e in bits_of(entries)})

    def decide_point(self, point: list[int]) -> Resolution:
        return self.resolve(self.matched_rules(self.matched_entries(point)))

    def decide_event(self, event: dict[str, Any]) -> Resolution:
        return self.decide_point(self.point_of(event))

    # ---- conflict resolution (LANGUAGE.md §4) --------------------------------------------

    def resolve(self, matched: list[int]) -> Resolution:
        """The decision for a set of matching rules (indices in flattened order)."""
        rules = self.rules
        names = tuple(rules[i].id for i in matched)
        if not matched:
            return Resolution(self.policy.default, None, ())
        ambiguous: list[int] = []
        if self.strategy == "most-specific":
            candidates = self._most_specific_candidates(matched)
            if len({rules[i].decision for i in candidates}) > 1:
                ambiguous = candidates
            winner = max(candidates, key=lambda i: floor_key(rules[i]))
        else:  # key-ordered: rank order is key order, the best-ranked rule wins
            winner = min(matched, key=self.position.__getitem__)
            if self.strategy == "priority":
                top = rules[winner].priority
                tied = [i for i in matched if rules[i].priority == top]
                if len({rules[i].decision for i in tied}) > 1:
                    ambiguous = tied
            elif self.strategy == "unique":
                if len({rules[i].decision for i in matched}) > 1:
                    ambiguous = list(matched)
        floor = overridden = None
        locked = [i for i in matched if rules[i].locked]
        if locked:
            best = max(locked, key=lambda i: floor_key(rules[i]))
            if rules[best].decision.restrictiveness > rules[winner].decision.restrictiveness:
                floor, overridden = rules[best].id, rules[winner].id
                winner = best
        return Resolution(rules[winner].decision, rules[winner].id, names,
                       tuple(rules[i].id for i in ambiguous), floor, overridden)

    def _most_specific_candidates(self, matched: list[int]) -> list[int]:
        inside_all = [r for r in matched if all(self.contains(s, r) for s in matched)]
        if inside_all:
            return inside_all
        return [r for r in matched
                if not any(s != r and self.strictly_contains(r, s) for s in matched)]

    # ---- region containment between rules ------------------------------------------------------

    @cached_property
    def _containment(self) -> dict[tuple[int, int], bool]:
        return {}

    def contains(self, outer: int, inner: int) -> bool:
        """Whether rule `inner`'s region lies inside rule `outer`'s (whole event space)."""
        key = (outer, inner)
        cached = self._containment.get(key)
        if cached is None:
            forbid = self.rule_entries[outer]
            cached = all(self._search_local(b, self.boxes[outer]) is None
                         for b in self.boxes[inner]) if forbid or not self.boxes[inner] else \
                not self.boxes[inner]
            self._containment[key] = cached
        return cached

    def strictly_contains(self, outer: int, inner: int) -> bool:
        return self.contains(outer, inner) and not self.contains(inner, outer)

    def _search_local(self, box: Box, cover: list[Box]) -> Box | None:
        """A sub-box of `box` outside every box of `cover` (None: covered)."""
        from policyc.semantics.regions.boxes import box_subtract

        rest = [box]
        for c in cover:
            nxt: list[Box] = []
            for r in rest:
                nxt.extend(box_subtract(r, c, self.space))
            rest = nxt
            if not rest:
                return None
        return rest[0]

    # ---- bitset helpers ---------------------------------------------------------------------------

    def union_bits(self, v: int, mask: int) -> int:
        out = self._union[v].get(mask)
        if out is None:
            out = 0
            for p in self.space.vars[v].pieces(mask):
                out |= self.bits[v][p]
            self._union[v][mask] = out
        return out

    def inter_bits(self, v: int, mask: int) -> int:
        out = self._inter[v].get(mask)
        if out is None:
            out = self.all_entries
            for p in self.space.vars[v].pieces(mask):
                out &= self.bits[v][p]
            self._inter[v][mask] = out
        return out

    def compat(self, box: Box) -> int:
        """Entries whose box intersects `box`."""
        m = self.all_entries
        for v, mask in box.items():
            m &= self.union_bits(v, mask)
            if not m:
                break
        return m

    def containing(self, box: Box, among: int) -> int:
        """Entries among `among` whose box contains all of `box`."""
        key = tuple(box)
        outside = self._free_outside.get(key)
        if outside is None:  # entries that constrain no variable `box` leaves free
            outside = self.all_entries
            for v, free in enumerate(self.free):
                if v not in box:
                    outside &= free
            self._free_outside[key] = outside
        m = among & outside
        for v, mask in box.items():
            if not m:
                break
            m &= self.inter_bits(v, mask)
        return m

    # ---- per-rule questions ---------------------------------------------------------------------------

    def entries_above(self, ri: int) -> int:
        """Entries of rules with a strictly larger key (key-ordered strategies)."""
        return self._prefix[self.position[ri]]

    def entries_between(self, ri: int, rj: int) -> int:
        """Entries of rules ranked strictly between `ri` (better) and `rj` (worse)."""
        return self._prefix[self.position[rj]] & ~self._prefix[self.position[ri] + 1]

    def floor_overriders(self, ri: int) -> int:
        """Locked entries whose floor would override rule `ri` where both match."""
        return self._locked_above_restr[self.rules[ri].decision.restrictiveness]

    def decision_entries(self, decision: Decision) -> int:
        """Entries of the rules deciding exactly `decision`."""
        cache = self.__dict__.setdefault("_by_decision", {})
        out = cache.get(decision)
        if out is None:
            out = 0
            for ri, r in enumerate(self.rules):
                if r.decision == decision:
                    out |= self.rule_entries[ri]
            cache[decision] = out
        return out

    @cached_property
    def floors_matter(self) -> bool:
        """Whether a locked floor can ever decide over the strategy's winner: never under
        `most-restrictive`, whose winner is at least as restrictive as every match."""
        return bool(self.locked_entries) and self.strategy != "most-restrictive"

    def locked_above(self, restrictiveness: int) -> int:
        """Locked entries strictly more restrictive than the given level."""
        return self._locked_above_restr[restrictiveness]

    def cell_point(self, box: Box) -> list[int]:
        """The first cell of a box (lowest piece of each variable)."""
        point = list(self._lowest_piece)
        for v, mask in box.items():
            point[v] = (mask & -mask).bit_length() - 1
        return point

    @cached_property
    def _lowest_piece(self) -> list[int]:
        return [(var.domain & -var.domain).bit_length() - 1 for var in self.space.vars]

    def witness(self, box: Box) -> dict[str, Any]:
        return witness(box, self.space)
