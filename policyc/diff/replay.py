"""`policyc diff --replay EVENTS`: where real events flip between two versions, grouped
by cause (`flips.py`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from policyc.diff.causes import Cause
from policyc.diff.flips import FlipGroups
from policyc.diff.semantic import DiffReport
from policyc.runtime.checker import Checker
from policyc.runtime.jsonl import parse_line, read_lines
from policyc.semantics.regions.boxes import build_space
from policyc.semantics.regions.decision_map import DecisionMap

EXAMPLES = 5  # flipped events of each kind listed under `examples`


def replay(report: DiffReport, events_path: Path, limit: int = 20, old: Checker | None = None,
           new: Checker | None = None) -> dict[str, Any]:
    """Decision flips on real events: counts by kind, `examples` of each kind, and
    `by_cause` (the first `limit` ids of each cause group).

    With both versions' checkers the events are decided by the streaming engine
    (`runtime.replay`: JSON Lines or Parquet, text events scored by the bindings) and
    every flip is grouped with the causes of the rules deciding it in either version
    (the event's values are not kept). Otherwise (a version that does not compile)
    the events are decided on the diff's decision maps from their scores and context
    (text events are skipped), and every flip is grouped with the causes at its values."""
    if old is not None and new is not None:
        return _replay_engine(report, old, new, events_path, limit)
    if report.maps is not None:
        a, b = report.maps
    else:
        space = build_space([report.old, report.new])
        a, b = DecisionMap(report.old, space), DecisionMap(report.new, space)
    flips: dict[str, list[dict[str, Any]]] = {"loosened": [], "tightened": [], "changed": []}
    counts = {"loosened": 0, "tightened": 0, "changed": 0}
    groups = FlipGroups(report.edits, limit)
    total = skipped = 0
    with events_path.open("rb") as fh:  # the lines `check --input` reads, counted alike
        for line in read_lines(fh):
            n = line.number
            total += 1
            try:
                event = parse_line(line)
                values = {**event.get("context", {}), **event.get("scores", {})}
                oa, ob = a.decide_event(values), b.decide_event(values)
            except (ValueError, KeyError, TypeError, AttributeError):  # BadLine is a ValueError
                skipped += 1
                continue
            if oa.key() == ob.key() or oa.decision is None or ob.decision is None:
                continue
            ra, rb = oa.decision.restrictiveness, ob.decision.restrictiveness
            kind = "tightened" if rb > ra else "loosened" if rb < ra else "changed"
            event_id = event.get("id", n)
            counts[kind] += 1
            if len(flips[kind]) < EXAMPLES:
                flips[kind].append({"id": event_id, "old": str(oa.decision),
                                    "new": str(ob.decision)})
            causes = groups.causes({oa.rule, ob.rule, oa.floor, ob.floor, oa.overridden, ob.overridden},
                                   values,
                                   len(oa.matched) > 1 or len(ob.matched) > 1)
            groups.add(event_id, kind, causes)
    return {"events": total, "skipped": skipped, "flips": counts, "examples": flips,
            "by_cause": [g.to_dict() for g in groups.groups()]}


def _replay_engine(report: DiffReport, old: Checker, new: Checker, events_path: Path,
                   limit: int) -> dict[str, Any]:
    """`replay`'s dict from `runtime.replay` (a bad line counts as skipped, silently);
    every flip is grouped, with the causes of the rules deciding it in either version."""
    from policyc.runtime.replay import Flip
    from policyc.runtime.replay import replay as decide

    groups = FlipGroups(report.edits, limit)
    known: dict[tuple[str | None, str | None], list[Cause]] = {}  # by the deciding rules

    def group(f: Flip) -> None:
        key = (f.old_rule, f.new_rule)
        causes = known.get(key)
        if causes is None:
            causes = known[key] = groups.causes(set(key), None)
        groups.add(f.id if f.id is not None else f.row, f.kind, causes)

    counts = decide(events_path, new, old, lambda bad: None, limit=EXAMPLES, per_kind=True,
                    on_flip=group)
    examples: dict[str, list[dict[str, Any]]] = {"loosened": [], "tightened": [], "changed": []}
    for f in counts.flips:
        examples[f.kind].append({"id": f.id if f.id is not None else f.row, "old": f.old,
                                 "new": f.new})
    return {"events": counts.rows, "skipped": counts.skipped,
            "flips": {k: counts.kinds.get(k, 0) for k in examples}, "examples": examples,
            "by_cause": [g.to_dict() for g in groups.groups()]}
