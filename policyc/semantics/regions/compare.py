"""Where do two decision maps decide differently? Exact, local, with witnesses.

Used by `policyc diff`, and by lint for redundancy (a map against itself without
one rule) and hierarchy checks (a child against its parent). Both maps must share
one `Space`. The search is local: decisions can only differ inside the guards of
rules that are not common to both versions (matched by content, in order), so
only those boxes are explored, each split until both decisions are constant.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass

from policyc.runtime.bits import bits_of
from policyc.semantics.model import FlatRule
from policyc.semantics.regions.boxes import Box, box_subtract, witness_point
from policyc.semantics.regions.decision_map import DecisionMap, Resolution
from policyc.semantics.regions.search import piece_classes, search, split_var
from policyc.semantics.regions.space import Space


@dataclass(frozen=True)
class Difference:
    """Events of `box` that `old` and `new` decide differently.

    Exact form (`scope is None`): every event of the box changes as stated. Scoped
    form, used when the exact boxes of one changed rule would be too many: `scope =
    (rule, version)` restricts the box to the events where that rule is that version's
    winner (its best-ranked match), and the row covers exactly those where the two
    versions decide as `old`/`new` state; `point` is a witness cell of it."""

    box: Box
    old: Resolution
    new: Resolution
    scope: tuple[str, str] | None = None
    point: tuple[int, ...] | None = None

    @property
    def kind(self) -> str:
        assert self.old.decision is not None and self.new.decision is not None
        a = self.old.decision.restrictiveness
        b = self.new.decision.restrictiveness
        return "tightened" if b > a else ("loosened" if b < a else "changed")

    def witness_box(self) -> Box:
        return self.box if self.point is None else {v: 1 << p for v, p in enumerate(self.point)}


def constant_outcome(dm: DecisionMap, box: Box, exclude: int = 0) -> tuple[Resolution | None, int]:
    """(outcome, 0) if the decision is constant on `box`, else (None, varying): the live
    entries that can decide somewhere in `box` without containing it, the only ones a
    split has to tell apart."""
    live = dm.compat(box) & ~exclude
    if not live:
        return dm.resolve([]), 0
    if not dm.key_ordered:
        varying = live & ~dm.containing(box, live)
        if varying:
            return None, varying
        return dm.resolve(dm.matched_rules(live)), 0
    containing = dm.containing(box, live)
    if containing:
        c = (containing & -containing).bit_length() - 1
        candidates = live & ((1 << (c + 1)) - 1)
    else:
        candidates = live
    first = (live & -live).bit_length() - 1
    winner = dm.rules[dm.entry_rule[first]]
    floors = live & dm.locked_above(winner.decision.restrictiveness)
    if not containing >> first & 1:
        # the winner varies, but the decision may not: every entry that can win here
        # decides the same and no floor can lift it
        same = dm.decision_entries(winner.decision)
        if (candidates & ~same or not (containing or dm.policy.default == winner.decision)
                or floors):
            return None, (candidates | live & dm.locked_entries) & ~containing
        return dm.resolve([dm.entry_rule[first]]), 0
    if floors:
        # the floor applies somewhere: constant only if every stronger floor is settled
        if floors & ~containing:
            return None, floors & ~containing
        matched = sorted({dm.entry_rule[e] for e in bits_of(floors)} | {dm.entry_rule[first]})
        return dm.resolve(matched), 0
    return dm.resolve([dm.entry_rule[first]]), 0


def _first_dependent_var(dm: DecisionMap, box: Box, entries: int) -> int:
    """A variable the best-ranked of `entries` depends on inside `box`: settling the
    likely winner first is what plain boxes need (weighing variables costs more here)."""
    entry = (entries & -entries).bit_length() - 1
    for v, m in dm.entry_box[entry].items():
        if box.get(v, dm.space.vars[v].domain) & ~m:
            return v
    raise AssertionError("a varying entry contains the box")  # pragma: no cover


class BudgetExceeded(Exception):
    """The exact boxes of one region would take more splits than allowed."""


def differences(a: DecisionMap, b: DecisionMap, box: Box, exclude_a: int = 0,
                exclude_b: int = 0, prune: tuple[DecisionMap, int] | None = None,
                budget: int | None = None) -> Iterator[Difference]:
    """Disjoint sub-boxes of `box` where `a` and `b` decide differently (exact).

    Each box is split on the variable most undecided entries depend on, into classes of
    pieces those entries cannot tell apart, so the tree stays close to the structure
    of the rules. `prune = (map, entries)`: skip sub-boxes that one of those entries
    contains (the caller knows nothing there is of interest). With a `budget`,
    `BudgetExceeded` is raised after that many boxes have been examined."""
    stack: list[Box] = [box]
    space = a.space
    while stack:
        cur = stack.pop()
        if budget is not None:
            budget -= 1
            if budget < 0:
                raise BudgetExceeded
        if prune is not None and prune[0].containing(cur, prune[1] & prune[0].compat(cur)):
            continue
        out_a, vary_a = constant_outcome(a, cur, exclude_a)
        out_b, vary_b = constant_outcome(b, cur, exclude_b)
        if out_a is not None and out_b is not None:
            if out_a.key() != out_b.key():
                yield Difference(cur, out_a, out_b)
            continue
        var = (_first_dependent_var(a, cur, vary_a) if vary_a
               else _first_dependent_var(b, cur, vary_b))
        bits_a, bits_b = a.bits[var], b.bits[var]
        classes: dict[tuple[int, int], int] = {}
        for p in space.vars[var].pieces(cur.get(var, space.vars[var].domain)):
            sig = (bits_a[p] & vary_a, bits_b[p] & vary_b)
            classes[sig] = classes.get(sig, 0) | (1 << p)
        for mask in classes.values():
            sub = dict(cur)
            sub[var] = mask
            stack.append(sub)


def _content(rule: FlatRule) -> tuple[object, ...]:
    return (rule.formula, rule.decision, rule.priority, rule.locked)


def common_rules(a: DecisionMap, b: DecisionMap) -> dict[int, int]:
    """Rules of `a` matched to rules of `b` by their longest common (content, order)
    subsequence: the rules both versions share."""
    ids: dict[tuple[object, ...], int] = {}  # hash each rule's content once
    ka = [ids.setdefault(_content(r), len(ids)) for r in a.rules]
    kb = [ids.setdefault(_content(r), len(ids)) for r in b.rules]
    matcher = difflib.SequenceMatcher(a=ka, b=kb, autojunk=False)
    return {block.a + k: block.b + k for block in matcher.get_matching_blocks()
            for k in range(block.size)}


def _partner_above(own: DecisionMap, other: DecisionMap, partner: dict[int, int]
                   ) -> list[int]:
    """out[k]: entries of `other` for the shared rules among the k best of `own`."""
    out = [0]
    for ri in own.rank:
        rj = partner.get(ri)
        out.append(out[-1] | (other.rule_entries[rj] if rj is not None else 0))
    return out


EXACT_BUDGET = 300  # boxes examined per changed rule before switching to scoped rows


def diff_maps(a: DecisionMap, b: DecisionMap, budget: int | None = None) -> list[Difference]:
    """Every region where `a` and `b` decide differently (exact).

    With the same strategy and default, and rules common to both versions in the same
    order, a decision can only change where a rule present in one version alone decides
    (the best common rule is the same in both): each such rule's guard is explored,
    pruned wherever a better rule of its own version holds. With a `budget`, a rule
    whose exact boxes take more splits than that is reported as scoped rows instead
    (`scoped_differences`): as exact, but a size that follows the change."""
    space = a.space
    if (a.strategy != b.strategy or a.policy.default != b.policy.default
            or a.space is not b.space or not a.key_ordered):
        return list(_disjoint_differences(a, b, [{}], space))
    a_to_b = common_rules(a, b)
    b_to_a = {j: i for i, j in a_to_b.items()}
    out: list[Difference] = []
    seen: set[tuple[object, ...]] = set()
    for dm, other, partner, version in ((a, b, a_to_b, "old"), (b, a, b_to_a, "new")):
        shared_above: list[int] | None = None
        for ri in (i for i in range(len(dm.rules)) if i not in partner):
            rule = dm.rules[ri]
            # a locked rule may decide as a floor under better rules: no pruning for it
            # where a floor overrides it the rule still decides which rule wins (and so
            # whether the floor applies), so only better rules of its own version prune
            prune = None if rule.locked else (dm, dm.entries_above(ri))
            try:
                # a locked rule also decides as a floor under worse winners: plain boxes
                found = [d for box in dm.boxes[ri]
                         for d in differences(a, b, box, prune=prune,
                                              budget=None if rule.locked else budget)]
            except BudgetExceeded:
                if shared_above is None:
                    shared_above = _partner_above(dm, other, partner)
                found = scoped_differences(dm, other, ri, version,
                                           shared_above[dm.position[ri]])
            for d in found:
                key = (tuple(sorted(d.box.items())), d.old.key(), d.new.key(), d.scope)
                if key not in seen:
                    seen.add(key)
                    out.append(d)
    return out


def scoped_differences(own: DecisionMap, other: DecisionMap, ri: int, version: str,
                       shared_above: int = 0) -> list[Difference]:
    """One row per pair of decisions the versions make where rule `ri` is the winner of
    `own` (its best-ranked matching rule; a locked floor may still decide over it).

    Key-ordered: there, no better rule of `own` matches, and neither do the other
    version's copies of those rules (`shared_above`): both are left out of the search."""
    rule = own.rules[ri]
    out: list[Difference] = []
    for bx in own.boxes[ri]:
        for point in decision_pairs(own, other, bx, own.entries_above(ri), shared_above):
            o_out, m_out = other.decide_point(list(point)), own.decide_point(list(point))
            old, new = (m_out, o_out) if version == "old" else (o_out, m_out)
            out.append(Difference(bx, old, new, (rule.id, version), point))
    return out


def decision_pairs(own: DecisionMap, other: DecisionMap, box: Box, holes: int, exclude: int
                   ) -> Iterator[tuple[int, ...]]:
    """A witness cell for each pair of different decisions (`own` without its `holes`
    entries, `other` without its `exclude` entries) somewhere in `box` outside `holes`.

    Exact. The search splits just until both decisions are constant, and skips parts
    where every decision `other` could make has a witness already (or equals `own`'s)."""
    by_key: dict[object, int] = {}
    settled: dict[object, tuple[list[int], set[object]]] = {}  # own key -> other's settled
    stack: list[Box] = [box]
    while stack:
        cur = stack.pop()
        if own.containing(cur, holes & own.compat(cur)):
            continue
        out_m, vary_m = constant_outcome(own, cur, holes)
        if out_m is None:  # a floor of `own` decides in part of it: settle that first
            _push_split(stack, cur, own, vary_m)
            continue
        mine = out_m.key()
        if mine not in settled:
            settled[mine] = ([_entries_deciding(other, out_m, by_key)], {mine})
        done, done_keys = settled[mine]
        out_o, vary_o = constant_outcome(other, cur, exclude)
        if out_o is not None:
            k = out_o.key()
            if k not in done_keys:
                hit = search(own, cur, holes)
                if hit is not None:
                    yield witness_point(hit, own.space)
                    done_keys.add(k)
                    done[0] |= _entries_deciding(other, out_o, by_key)
            continue
        if _open_decision(other, cur, vary_o, done[0], done_keys, exclude):
            _push_split(stack, cur, other, vary_o & ~done[0] or vary_o)


def _push_split(stack: list[Box], box: Box, dm: DecisionMap, entries: int) -> None:
    """Split `box` where `dm.split_var` says, into classes of pieces `entries` cannot
    tell apart."""
    var = split_var(dm, box, entries)
    for mask in piece_classes(dm, box, var, entries).values():
        sub = dict(box)
        sub[var] = mask
        stack.append(sub)


def _entries_deciding(dm: DecisionMap, outcome: Resolution, cache: dict[object, int]) -> int:
    key = outcome.key()
    if key not in cache:
        cache[key] = 0 if outcome.decision is None else dm.decision_entries(outcome.decision)
    return cache[key]


def _open_decision(dm: DecisionMap, box: Box, vary: int, settled: int,
                   settled_keys: set[object], exclude: int) -> bool:
    """Whether `dm` may make, somewhere in `box`, a decision without a witness yet."""
    if vary & ~settled:
        return True
    live = dm.compat(box) & ~exclude
    if dm.floors_matter and live & dm.locked_entries & ~settled:
        return True  # a floor may decide over the winner
    containing = dm.containing(box, live)
    if not containing:
        default = dm.policy.default
        return (None if default is None else (default.action, default.argument)) \
            not in settled_keys
    c = (containing & -containing).bit_length() - 1
    return not (1 << c) & settled


def _disjoint_differences(a: DecisionMap, b: DecisionMap, roots: list[Box],
                          space: Space, exclude_a: int = 0,
                          exclude_b: int = 0) -> Iterator[Difference]:
    done: list[Box] = []
    for root in roots:
        pending = [root]
        for d in done:  # explore each part of the space once
            nxt: list[Box] = []
            for p in pending:
                nxt.extend(box_subtract(p, d, space))
            pending = nxt
        for p in pending:
            yield from differences(a, b, p, exclude_a, exclude_b)
        done.append(root)


def first_difference(a: DecisionMap, b: DecisionMap, box: Box, exclude_a: int = 0,
                     exclude_b: int = 0) -> Difference | None:
    return next(differences(a, b, box, exclude_a, exclude_b), None)
