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

from policyc.semantics.decision import DecisionMap, Outcome, bits_of
from policyc.semantics.model import FlatRule
from policyc.semantics.regions import Box, box_subtract
from policyc.semantics.space import Space


@dataclass(frozen=True)
class Difference:
    box: Box
    old: Outcome
    new: Outcome

    @property
    def kind(self) -> str:
        assert self.old.decision is not None and self.new.decision is not None
        a = self.old.decision.restrictiveness
        b = self.new.decision.restrictiveness
        return "tightened" if b > a else ("loosened" if b < a else "changed")


def _first_dependent_var(dm: DecisionMap, box: Box, entry: int) -> int:
    ebox = dm.entry_box[entry]
    for v, m in ebox.items():
        if box.get(v, dm.space.vars[v].domain) & ~m:
            return v
    raise AssertionError("entry contains the box")  # pragma: no cover


def constant_outcome(dm: DecisionMap, box: Box, exclude: int = 0
                     ) -> tuple[Outcome | None, int, int]:
    """(outcome, -1, live) if the decision is constant on `box`, else (None, var, live)."""
    live = dm.compat(box) & ~exclude
    if not live:
        return dm.resolve([]), -1, live
    if not dm.key_ordered:
        for e in bits_of(live):
            if not dm.containing(box, 1 << e):
                return None, _first_dependent_var(dm, box, e), live
        return dm.resolve(dm.matched_rules(live)), -1, live
    first = (live & -live).bit_length() - 1
    if not dm.containing(box, 1 << first):
        # the winner varies, but the decision may not: every entry that can win here
        # (those up to the first one containing the box, else all, then the default)
        # decides the same and no floor can lift it
        containing = dm.containing(box, live)
        if containing:
            c = (containing & -containing).bit_length() - 1
            candidates = live & ((1 << (c + 1)) - 1)
        else:
            candidates = live
        decision = dm.rules[dm.entry_rule[first]].decision
        same = dm.decision_entries(decision)
        if (not candidates & ~same and (containing or dm.policy.default == decision)
                and not live & dm.locked_above(decision.restrictiveness)):
            return dm.resolve([dm.entry_rule[first]]), -1, live
        return None, _first_dependent_var(dm, box, first), live
    winner = dm.rules[dm.entry_rule[first]]
    locked = live & dm.locked_entries
    if locked:
        stronger = [e for e in bits_of(locked)
                    if dm.rules[dm.entry_rule[e]].decision.restrictiveness
                    > winner.decision.restrictiveness]
        if stronger:
            # the floor applies somewhere: constant only if every stronger floor is settled
            for e in stronger:
                if not dm.containing(box, 1 << e):
                    return None, _first_dependent_var(dm, box, e), live
            matched = sorted({dm.entry_rule[e] for e in stronger} | {dm.entry_rule[first]})
            return dm.resolve(matched), -1, live
    return dm.resolve([dm.entry_rule[first]]), -1, live


def differences(a: DecisionMap, b: DecisionMap, box: Box, exclude_a: int = 0,
                exclude_b: int = 0, prune: tuple[DecisionMap, int] | None = None
                ) -> Iterator[Difference]:
    """Disjoint sub-boxes of `box` where `a` and `b` decide differently (exact).

    `prune = (map, entries)`: skip sub-boxes that one of those entries contains (the
    caller knows nothing there is of interest, e.g. a rule above the changed one)."""
    stack: list[Box] = [box]
    space = a.space
    while stack:
        cur = stack.pop()
        if prune is not None and prune[0].containing(cur, prune[1] & prune[0].compat(cur)):
            continue
        out_a, var_a, live_a = constant_outcome(a, cur, exclude_a)
        out_b, var_b, live_b = constant_outcome(b, cur, exclude_b)
        if out_a is not None and out_b is not None:
            if out_a.key() != out_b.key():
                yield Difference(cur, out_a, out_b)
            continue
        dm, var, live = (a, var_a, live_a) if out_a is None else (b, var_b, live_b)
        classes: dict[int, int] = {}
        for p in space.vars[var].pieces(cur.get(var, space.vars[var].domain)):
            sig = dm.bits[var][p] & live
            classes[sig] = classes.get(sig, 0) | (1 << p)
        for mask in classes.values():
            sub = dict(cur)
            sub[var] = mask
            stack.append(sub)


def _content(rule: FlatRule) -> tuple[object, ...]:
    return (rule.formula, rule.decision, rule.priority, rule.locked)


def changed_rules(a: DecisionMap, b: DecisionMap) -> tuple[list[int], list[int]]:
    """Rules of `a` and of `b` outside their longest common (content, order) subsequence."""
    ka = [_content(r) for r in a.rules]
    kb = [_content(r) for r in b.rules]
    matcher = difflib.SequenceMatcher(a=ka, b=kb, autojunk=False)
    common_a: set[int] = set()
    common_b: set[int] = set()
    for block in matcher.get_matching_blocks():
        common_a.update(range(block.a, block.a + block.size))
        common_b.update(range(block.b, block.b + block.size))
    return ([i for i in range(len(ka)) if i not in common_a],
            [i for i in range(len(kb)) if i not in common_b])


def diff_maps(a: DecisionMap, b: DecisionMap) -> list[Difference]:
    """Every region where `a` and `b` decide differently, as boxes (exact).

    With the same strategy and default, and rules common to both versions in the same
    order, a decision can only change where a rule present in one version alone decides
    (the best common rule is the same in both): each such rule's guard is explored,
    pruned wherever a better rule of its own version holds."""
    space = a.space
    if (a.strategy != b.strategy or a.policy.default != b.policy.default
            or a.space is not b.space or not a.key_ordered):
        return list(_disjoint_differences(a, b, [{}], space))
    only_a, only_b = changed_rules(a, b)
    out: list[Difference] = []
    seen: set[tuple[object, ...]] = set()
    for dm, changed in ((a, only_a), (b, only_b)):
        for ri in changed:
            rule = dm.rules[ri]
            # a locked rule may decide as a floor under better rules: no pruning for it
            prune = None if rule.locked else (dm, dm.entries_above(ri) | dm.floor_overriders(ri))
            for box in dm.boxes[ri]:
                for d in differences(a, b, box, prune=prune):
                    key = (tuple(sorted(d.box.items())), d.old.key(), d.new.key())
                    if key not in seen:
                        seen.add(key)
                        out.append(d)
    return out


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


def merge_regions(diffs: list[Difference], space: Space, a: DecisionMap | None = None,
                  b: DecisionMap | None = None) -> list[Difference]:
    """Merge boxes with the same change (old and new decision) that differ on one variable
    only (adjacent). With the maps given, each merged region names the rules that decide
    at its witness."""
    groups: dict[tuple[object, ...], list[Box]] = {}
    for d in diffs:
        key = (d.old.key(), d.new.key()) if a is not None else (
            d.old.key(), d.old.rule, d.new.key(), d.new.rule)
        groups.setdefault(key, []).append(dict(d.box))
    sample = {((d.old.key(), d.new.key()) if a is not None else
               (d.old.key(), d.old.rule, d.new.key(), d.new.rule)): d for d in diffs}
    out: list[Difference] = []
    for key, boxes in groups.items():
        norm = [{v: m for v, m in bx.items() if m != space.vars[v].domain} for bx in boxes]
        changed = True
        while changed:
            changed = False
            i = 0
            while i < len(norm):
                j = i + 1
                while j < len(norm):
                    merged = _merge_two(norm[i], norm[j], space)
                    if merged is not None:
                        norm[i] = merged
                        norm.pop(j)
                        changed = True
                    else:
                        j += 1
                i += 1
        norm = _expand(norm, space)
        d0 = sample[key]
        for bx in norm:
            if a is not None and b is not None:
                point = a.cell_point(bx)
                out.append(Difference(bx, a.decide_point(point), b.decide_point(point)))
            else:
                out.append(Difference(bx, d0.old, d0.new))
    return out


def _merge_two(x: Box, y: Box, space: Space) -> Box | None:
    keys = set(x) | set(y)
    diff_vars = [v for v in keys
                 if x.get(v, space.vars[v].domain) != y.get(v, space.vars[v].domain)]
    if len(diff_vars) > 1:
        return None
    if not diff_vars:
        return x
    v = diff_vars[0]
    mask = x.get(v, space.vars[v].domain) | y.get(v, space.vars[v].domain)
    out = dict(x)
    if mask == space.vars[v].domain:
        out.pop(v, None)
    else:
        out[v] = mask
    return out


def _covered(box: Box, cover: list[Box], space: Space) -> bool:
    rest = [box]
    for c in cover:
        nxt: list[Box] = []
        for r in rest:
            nxt.extend(box_subtract(r, c, space))
        rest = nxt
        if not rest:
            return True
    return False


def _expand(boxes: list[Box], space: Space) -> list[Box]:
    """Grow each box one variable at a time while it stays inside the group's union, then
    drop boxes inside another: fewer, larger regions that still change exactly as stated."""
    if len(boxes) < 2:
        return boxes
    grown: list[Box] = []
    for bx in boxes:
        cur = dict(bx)
        for v in sorted(bx, key=lambda v: -bin(bx[v]).count("1")):
            trial = dict(cur)
            del trial[v]
            if _covered(trial, boxes, space):
                cur = trial
        grown.append(cur)
    unique: list[Box] = []
    for bx in sorted(grown, key=len):
        if not any(all(bx.get(v, space.vars[v].domain) & ~m == 0 for v, m in k.items())
                   for k in unique):
            unique.append(bx)
    # a box covered by the union of the others adds nothing: drop it (most specific first)
    i = len(unique) - 1
    while i >= 0 and len(unique) > 1:
        others = unique[:i] + unique[i + 1:]
        if _covered(unique[i], others, space):
            unique.pop(i)
        i -= 1
    return unique
