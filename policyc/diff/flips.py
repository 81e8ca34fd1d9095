"""Replayed events that flip, grouped by cause: the layout `diff --replay` and
`replay --against` share (docs/cli.md, *Replay reports*).

A flip's causes are a diff row's (`causes.row_causes`) at the event itself: the edits of
the rules deciding it in either version, the threshold edits its scores lie between (when
the event's values are known), a strategy edit where several rules matched. Groups come
in order of size; each keeps the first `limit` ids, its count covers all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from policyc.diff.causes import Cause, row_causes

NO_EDIT = "no edit found"


@dataclass
class FlipGroup:
    causes: list[str]  # cause texts, `NO_EDIT` alone when none explains the flip
    count: int = 0
    kinds: dict[str, int] = field(default_factory=lambda: {"loosened": 0, "tightened": 0,
                                                             "changed": 0})
    ids: list[Any] = field(default_factory=list)  # the first `limit`
    details: list[Any] = field(default_factory=list)  # the caller's, beside `ids`

    def to_dict(self) -> dict[str, Any]:
        return {"causes": self.causes, "count": self.count, "kinds": self.kinds,
                "ids": self.ids}


class FlipGroups:
    """Flips added one by one (`add`), grouped by their causes."""

    def __init__(self, edits: list[Cause], limit: int):
        self.edits, self.limit = edits, limit
        self._groups: dict[tuple[str, ...], FlipGroup] = {}

    def causes(self, rules: set[str | None], values: dict[str, Any] | None,
               choice: bool = False) -> list[Cause]:
        """The causes of one flip; `values` None: the event's values are not at hand,
        so a flip no rule edit explains names the threshold and policy-wide edits."""
        if values is not None:
            return row_causes(self.edits, rules, set(values), values, choice)
        out = row_causes(self.edits, rules, set(), {}, choice)
        if not [e for e in out if e.kind == "rule"]:
            out += [e for e in self.edits if e.kind == "threshold" and e not in out]
        return out

    def add(self, event_id: Any, kind: str, causes: list[Cause], detail: Any = None) -> None:
        key = tuple(e.text for e in causes) or (NO_EDIT,)
        group = self._groups.setdefault(key, FlipGroup(list(key)))
        group.count += 1
        group.kinds[kind] += 1
        if len(group.ids) < self.limit:
            group.ids.append(event_id)
            group.details.append(detail)

    def groups(self) -> list[FlipGroup]:
        return sorted(self._groups.values(), key=lambda g: -g.count)


def flips_text(groups: list[FlipGroup], indent: str = "  ", ids: bool = True) -> list[str]:
    """One line per cause group: `causes: N events (kinds): id, id, …` (`ids` False:
    without the ids, for a caller listing the flips under it)."""
    out = []
    for g in groups:
        kinds = ", ".join(f"{n} {k}" for k, n in g.kinds.items() if n)
        line = (f"{indent}{' + '.join(g.causes)}: {g.count} event{'s' if g.count != 1 else ''}"
                f" ({kinds})")
        if ids:
            more = f", … {g.count - len(g.ids)} more" if g.count > len(g.ids) else ""
            line += ": " + ", ".join(_id_text(i) for i in g.ids) + more
        out.append(line)
    return out


def flips_markdown(groups: list[FlipGroup]) -> list[str]:
    """A table: cause, events (by kind), the first ids."""
    if not groups:
        return []
    out = ["| cause | events | ids |", "|---|---|---|"]
    for g in groups:
        kinds = ", ".join(f"{n} {k}" for k, n in g.kinds.items() if n)
        more = f", … {g.count - len(g.ids)} more" if g.count > len(g.ids) else ""
        ids = ", ".join(f"`{_id_text(i)}`" for i in g.ids)
        out.append(f"| {_cell('; '.join(g.causes))} | {g.count} ({kinds}) | {_cell(ids)}{more} |")
    return out


def _id_text(i: Any) -> str:
    return str(i) if not isinstance(i, str) else i


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
