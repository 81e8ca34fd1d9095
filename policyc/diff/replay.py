"""`policyc diff --replay EVENTS`: where real events flip between two versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from policyc.diff.semantic import DiffReport
from policyc.semantics.regions.boxes import build_space
from policyc.semantics.regions.decision_map import DecisionMap


def replay(report: DiffReport, events_path: Path) -> dict[str, Any]:
    """Decision flips on real events (scores and context; text events are skipped)."""
    space = build_space([report.old, report.new])
    a, b = DecisionMap(report.old, space), DecisionMap(report.new, space)
    flips: dict[str, list[dict[str, Any]]] = {"loosened": [], "tightened": [], "changed": []}
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
        flips[kind].append({"id": event.get("id", n), "old": str(oa.decision),
                            "new": str(ob.decision)})
    return {"events": total, "skipped": skipped,
            "flips": {k: len(v) for k, v in flips.items()},
            "examples": {k: v[:5] for k, v in flips.items()}}
