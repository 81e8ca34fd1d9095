"""The region search over a decision map: complete, heuristically ordered.

"Is there a point of this box where no forbidden entry matches?" is answered by a
branch-and-prune search over pieces that only branches on variables some live entry
depends on (`split_var`), after one cheap greedy try (the map's escape cell). The
partition of the whole space is never materialized. Lint, compile, diff and the test
coverage ask their region questions here; the map (`decision_map.py`) holds the data.
"""

from __future__ import annotations

from collections.abc import Iterator

from policyc.runtime.bits import bits_of
from policyc.semantics.regions.boxes import Box, box_and
from policyc.semantics.regions.decision_map import DecisionMap, floor_key


def search(dm: DecisionMap, box: Box, forbid: int) -> Box | None:
    """A non-empty sub-box of `box` where no entry of `forbid` matches, or None.

    Complete: None means every point of `box` matches some forbidden entry.
    """
    live = forbid & dm.compat(box)
    if not live:
        return box
    quick = _greedy_point(dm, box, live)
    if quick is not None:
        return quick
    return _search(dm, box, live)


def search_both(dm: DecisionMap, ri: int, rj: int, forbid: int) -> Box | None:
    """A sub-box where rules `ri` and `rj` both match and no `forbid` entry does."""
    for a in dm.boxes[ri]:
        for b in dm.boxes[rj]:
            inter = box_and(a, b)
            if inter is not None:
                found = search(dm, inter, forbid)
                if found is not None:
                    return found
    return None


def _greedy_point(dm: DecisionMap, box: Box, live: int) -> Box | None:
    """Try one cell first: the escape cell, moved into the box where it must be."""
    moved: dict[int, int] = {}
    for v, mask in box.items():
        if not (mask >> dm.escape_piece[v]) & 1:
            for p in dm.escape_order[v]:
                if (mask >> p) & 1:
                    moved[v] = p
                    break
    if not moved:
        m = live & dm.escape_all
    else:
        m = live
        for v, p in moved.items():
            m &= dm.bits[v][p]
        escape = dm.escape_bits
        for v in range(len(escape)):
            if v not in moved:
                m &= escape[v]
                if not m:
                    break
    if m:
        return None
    return {v: 1 << moved.get(v, p) for v, p in enumerate(dm.escape_piece)}


def split_var(dm: DecisionMap, box: Box, entries: int, sample: int = 16) -> int:
    """Of the variables the `sample` best-ranked of `entries` read, the one the most
    of `entries` depend on inside `box`: splitting there settles the most entries at
    once, and weighing only those variables keeps each step cheap. Every entry must
    intersect `box` without containing it."""
    candidates: set[int] = set()
    for k, e in enumerate(bits_of(entries)):
        if k == sample:
            break
        candidates.update(dm.entry_box[e])
    best_v, best_n = -1, 0
    free = dm.free
    total = entries.bit_count()  # those not containing the box on `v`: total - containing
    for v in sorted(candidates):
        mask = box.get(v)
        n = total - (entries & (free[v] if mask is None else dm.inter_bits(v, mask))
                     ).bit_count()
        if n > best_n:
            best_v, best_n = v, n
    assert best_v >= 0, "an entry that does not contain the box depends on some variable"
    return best_v


def piece_classes(dm: DecisionMap, box: Box, v: int, entries: int) -> dict[int, int]:
    """Variable `v`'s pieces inside `box`, grouped by which of `entries` allow them:
    signature -> mask of pieces (the children of a split)."""
    classes: dict[int, int] = {}
    bits = dm.bits[v]
    for p in dm.space.vars[v].pieces(box.get(v, dm.space.vars[v].domain)):
        sig = bits[p] & entries
        classes[sig] = classes.get(sig, 0) | (1 << p)
    return classes


def _search(dm: DecisionMap, box: Box, live: int) -> Box | None:
    live &= dm.compat(box)
    if not live:
        return box
    if dm.containing(box, live):
        return None
    v = split_var(dm, box, live)
    classes = piece_classes(dm, box, v, live)
    for sig, mask in sorted(classes.items(), key=lambda kv: kv[0].bit_count()):
        sub = dict(box)
        sub[v] = mask
        found = _search(dm, sub, sig)
        if found is not None:
            return found
    return None


def where_decides(dm: DecisionMap, ri: int) -> Box | None:
    """A region (box) where rule `ri` decides, or None if it never does (dead)."""
    if not dm.key_ordered:
        return _where_decides_general(dm, ri)
    forbid = dm.entries_above(ri) | dm.floor_overriders(ri)
    for box in dm.boxes[ri]:
        found = search(dm, box, forbid)
        if found is not None:
            return found
    rule = dm.rules[ri]
    if rule.locked:  # it may still decide as a floor under a less restrictive winner
        better_floor = 0
        for rj, other in enumerate(dm.rules):
            if other.locked and floor_key(other) > floor_key(rule):
                better_floor |= dm.rule_entries[rj]
        for wj in dm.rank:
            if wj == ri:
                break
            w = dm.rules[wj]
            if w.decision.restrictiveness >= rule.decision.restrictiveness:
                continue
            found = search_both(dm, ri, wj, dm.entries_above(wj) | better_floor)
            if found is not None:
                return found
    return None


def _where_decides_general(dm: DecisionMap, ri: int) -> Box | None:
    """most-specific: enumerate cells of the rules that overlap this rule's boxes."""
    for box in dm.boxes[ri]:
        for cell in cells(dm, box):
            out = dm.decide_point(dm.cell_point(cell))
            if out.rule == dm.rules[ri].id:
                return cell
    return None


def cells(dm: DecisionMap, box: Box) -> Iterator[Box]:
    """Sub-boxes of `box` on which the set of matching entries is constant."""
    live = dm.compat(box)
    stack = [(box, live)]
    space = dm.space
    while stack:
        b, lv = stack.pop()
        lv &= dm.compat(b)
        split = -1
        for v in range(len(space)):
            if lv & ~dm.inter_bits(v, b.get(v, space.vars[v].domain)):
                split = v
                break
        if split < 0:
            yield b
            continue
        classes = piece_classes(dm, b, split, lv)
        for sig, mask in sorted(classes.items(), key=lambda kv: -kv[0].bit_count()):
            sub = dict(b)
            sub[split] = mask
            stack.append((sub, sig))
