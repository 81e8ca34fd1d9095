"""Replay reports group the flipped events by cause (issue 17): `diff --replay` and
`replay --against`, through a real process, in text, markdown and JSON; `--limit` caps
the ids listed per cause (diff) or the flips kept (replay), never the counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
V1, V2 = str(ROOT / "examples/diff/v1.pol"), str(ROOT / "examples/diff/v2.pol")
EVENTS = [
    {"id": "e1", "scores": {"self_harm.instructions": 0.4}},
    {"id": "e2", "scores": {"self_harm.instructions": 0.45, "harassment": 0.6}},
    {"id": "e3", "scores": {"self_harm.intent": 0.8}, "context": {"audience": "teen"}},
    {"id": "e4", "scores": {"harassment": 0.95}},
    {"id": "e5", "scores": {"self_harm.instructions": 0.35}},
    {"id": "e6", "scores": {"harassment": 0.1}},
]
THRESHOLD = "threshold self_harm.instructions 0.3 → 0.5"
TEEN = 'rule teen_intent: action redirect("crisis_resources") → warn("crisis_resources")'


def _policyc(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "policyc", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=120)


def _events(tmp_path: Path) -> str:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in EVENTS), encoding="utf-8")
    return str(path)


def test_diff_replay_groups_flips_by_cause(tmp_path: Path) -> None:
    events = _events(tmp_path)
    doc = json.loads(_policyc("diff", V1, V2, "--replay", events, "--limit", "2",
                              "-f", "json").stdout)["replay"]
    assert doc["flips"] == {"loosened": 4, "tightened": 1, "changed": 0}
    groups = {tuple(g["causes"]): g for g in doc["by_cause"]}
    assert groups[(THRESHOLD,)]["count"] == 3 and groups[(THRESHOLD,)]["ids"] == ["e1", "e2"]
    assert groups[(TEEN,)]["ids"] == ["e3"]
    assert groups[("rule harassment_refuse added",)]["kinds"]["tightened"] == 1
    assert doc["by_cause"][0]["causes"] == [THRESHOLD]  # the largest group first
    text = _policyc("diff", V1, V2, "--replay", events, "--limit", "2").stdout
    assert f"  {THRESHOLD}: 3 events (3 loosened): e1, e2, … 1 more" in text
    md = _policyc("diff", V1, V2, "--replay", events, "-f", "markdown").stdout
    assert f"| {THRESHOLD} | 3 (3 loosened) | `e1`, `e2`, `e5` |" in md


def test_replay_against_groups_flips_by_cause(tmp_path: Path) -> None:
    events = _events(tmp_path)
    r = _policyc("replay", V2, events, "--against", V1, "-f", "json")
    doc = json.loads(r.stdout)
    groups = {tuple(g["causes"]): g for g in doc["by_cause"]}
    guard = ("rule sh_instructions: guard self_harm.instructions >= 0.3 → "
             "self_harm.instructions >= 0.5")  # from the bundles: the guard's region
    assert groups[(guard,)]["ids"] == ["e1", "e2", "e5"]
    assert groups[(TEEN,)]["ids"] == ["e3"]
    text = _policyc("replay", V2, events, "--against", V1, "--limit", "2").stdout
    assert "flipped, by cause (the first 2):" in text
    assert f"  {guard}: 2 events (2 loosened)\n    id \"e1\": refuse -> allow" in text
