"""`policyc diff --replay EVENTS`: where real events flip between two versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from policyc.diff.semantic import DiffReport
from policyc.runtime.checker import Checker
from policyc.semantics.regions.boxes import build_space
from policyc.semantics.regions.decision_map import DecisionMap


def replay(report: DiffReport, events_path: Path, old: Checker | None = None,
           new: Checker | None = None) -> dict[str, Any]:
    """Decision flips on real events.

    With both versions' checkers, the events are decided by the streaming engine
    (`runtime.replay`, JSON Lines or Parquet; text events are scored by the bindings);
    otherwise (a version that does not compile) on the decision maps, from the events'
    scores and context."""
    if old is not None and new is not None:
        return _replay_engine(old, new, events_path)
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


def _replay_engine(old: Checker, new: Checker, events_path: Path) -> dict[str, Any]:
    """`replay`'s dict from `runtime.replay` (a bad line counts as skipped, silently)."""
    from policyc.runtime.replay import replay as decide

    counts = decide(events_path, new, old, lambda bad: None, limit=5, per_kind=True)
    examples: dict[str, list[dict[str, Any]]] = {"loosened": [], "tightened": [], "changed": []}
    for f in counts.flips:
        examples[f.kind].append({"id": f.id if f.id is not None else f.row, "old": f.old,
                                 "new": f.new})
    return {"events": counts.rows, "skipped": counts.skipped,
            "flips": {k: counts.kinds.get(k, 0) for k in examples}, "examples": examples}
