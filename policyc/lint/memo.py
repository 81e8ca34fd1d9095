"""Region searches remembered from one version of a policy to the next (the editor's lint).

`search(dm, box, dm.entries_above(rule))` — "a part of `box` that no better-ranked rule
matches" — is what the dead-rule and overruled-rule checks spend their time on. Its
answer is a function of what it reads: `box`, the space, the boxes of the entries it may
meet (those of the better-ranked rules, in rank order: their numbering only orders them)
and, for its first guess, the map's escape cell moved into `box`. So the answer is kept
under exactly that: the space and the better-ranked rules' boxes are interned (equal
content, equal id: no hash is trusted alone), the escape cell is part of the key. An
edit that keeps a rule and every rule ranked above it keeps its answers; one that
changes guards elsewhere in the ranking or the cuts of the space does not.

Only for key-ordered policies without locked rules: a locked floor may forbid entries
ranked below the rule (then the key above would not say everything searched).
"""

from __future__ import annotations

from policyc.semantics.regions.boxes import Box
from policyc.semantics.regions.decision_map import DecisionMap
from policyc.semantics.regions.search import search

_MAX_KEYS = 200_000  # forget everything beyond this (a long session, a huge policy)

_Frozen = tuple[tuple[int, int], ...]


def _frozen(box: Box) -> _Frozen:
    return tuple(sorted(box.items()))


class SearchMemo:
    """One document's remembered answers, kept across its versions."""

    def __init__(self) -> None:
        self._ids: dict[object, int] = {}  # interned content -> id
        self._answers: dict[tuple[object, ...], Box | None] = {}
        self.hits = 0  # answers given from memory (for tests and benchmarks)

    def _id(self, content: object) -> int:
        found = self._ids.get(content)
        if found is None:
            found = self._ids[content] = len(self._ids)
        return found

    def for_map(self, dm: DecisionMap) -> MapMemo | None:
        """The memo's view for one decision map, or None when the map does not qualify."""
        if not dm.key_ordered or dm.locked_entries:
            return None
        if len(self._ids) + len(self._answers) > _MAX_KEYS:
            self._ids.clear()
            self._answers.clear()
        return MapMemo(self, dm)


class MapMemo:
    """`search` above a rank position, answered from the memo when the inputs match."""

    def __init__(self, memo: SearchMemo, dm: DecisionMap):
        self.memo = memo
        self.dm = dm
        space = tuple((v.name, v.kind, v.values, v.cuts, v.domain) for v in dm.space.vars)
        self.head = (memo._id(("space", space)), memo._id(("escape", tuple(dm.escape_piece))))
        # prefix[k]: id of the boxes of the k best-ranked rules, in rank order
        self.prefix = [memo._id(("prefix",))]
        for ri in dm.rank:
            rule_boxes = tuple(_frozen(b) for b in dm.boxes[ri])
            self.prefix.append(memo._id((self.prefix[-1], rule_boxes)))

    def search_above(self, box: Box, k: int) -> Box | None:
        """`search(dm, box, entries of the k best-ranked rules)`, remembered."""
        dm = self.dm
        moved = []  # the escape cell moved into the box: all the first guess reads
        for v, mask in box.items():
            if not (mask >> dm.escape_piece[v]) & 1:
                for p in dm.escape_order[v]:
                    if (mask >> p) & 1:
                        moved.append((v, p))
                        break
        key = (*self.head, self.prefix[k], _frozen(box), tuple(sorted(moved)))
        answers = self.memo._answers
        if key in answers:
            self.memo.hits += 1
            found = answers[key]
            return None if found is None else dict(found)
        found = search(dm, box, dm.entries_above(dm.rank[k]))
        answers[key] = None if found is None else dict(found)
        return found
