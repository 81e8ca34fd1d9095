"""`policyc diff --replay EVENTS`: where real events flip between two versions, grouped
by cause (`flips.py`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from policyc.diff.flips import FlipGroups
from policyc.diff.semantic import DiffReport
from policyc.semantics.regions.boxes import build_space
from policyc.semantics.regions.decision_map import DecisionMap

EXAMPLES = 5  # flipped events of each kind listed under `examples`


def replay(report: DiffReport, events_path: Path, limit: int = 20) -> dict[str, Any]:
    """Decision flips on real events (scores and context; text events are skipped):
    counts by kind, `examples` of each kind, and `by_cause` (the first `limit` ids of
    each cause group). Decides on the report's own decision maps when it has them."""
    if report.maps is not None:
        a, b = report.maps
    else:
        space = build_space([report.old, report.new])
        a, b = DecisionMap(report.old, space), DecisionMap(report.new, space)
    flips: dict[str, list[dict[str, Any]]] = {"loosened": [], "tightened": [], "changed": []}
    counts = {"loosened": 0, "tightened": 0, "changed": 0}
    groups = FlipGroups(report.edits, limit)
    total = skipped = 0
    for n, line in enumerate(events_path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        total += 1
        try:
            event = json.loads(line)
            values = {**event.get("context", {}), **event.get("scores", {})}
            oa, ob = a.decide_event(values), b.decide_event(values)
        except (ValueError, KeyError, TypeError, AttributeError):
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
        causes = groups.causes({oa.rule, ob.rule, oa.floor, ob.floor}, values,
                               len(oa.matched) > 1 or len(ob.matched) > 1)
        groups.add(event_id, kind, causes)
    return {"events": total, "skipped": skipped, "flips": counts, "examples": flips,
            "by_cause": [g.to_dict() for g in groups.groups()]}
