"""`policyc diff --replay` decides with the streaming engine (issue 15): the same counts
and examples as the decision maps gave on score/context events, in the same layout."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

from commands.test_replay import NEW, OLD

from policyc.commands.inputs import load_target
from policyc.diff.replay import replay
from policyc.diff.semantic import semantic_diff
from policyc.semantics.program import load_program


def _flat(path: Path) -> object:
    program = load_program([path], [])
    return program.policies[program.roots[0].policy.name]


def test_engine_and_decision_maps_agree(tmp_path: Path) -> None:
    old, new = tmp_path / "old.pol", tmp_path / "new.pol"
    old.write_text(OLD)
    new.write_text(NEW)
    rnd = random.Random(7)
    events = tmp_path / "e.jsonl"
    events.write_text("".join(json.dumps(
        {"id": k, "scores": {"hate": round(rnd.random(), 2),
                             "self_harm.intent": rnd.choice([0, 0.3, 0.9])}}) + "\n"
        for k in range(300)) + '{"scores": {"hate": 2}}\n')
    report = semantic_diff(_flat(old), _flat(new), NEW, ("a", "b"))  # type: ignore[arg-type]
    maps = replay(report, events)
    engine = replay(report, events, 20, load_target(old, []), load_target(new, []))
    # causes: the maps see each event's values, the engine the rules deciding it; both
    # group every flip
    by_cause = engine.pop("by_cause"), maps.pop("by_cause")
    assert engine == maps
    for groups in by_cause:
        assert sum(g["count"] for g in groups) == sum(engine["flips"].values())
    assert engine["flips"]["tightened"] > 0 and engine["skipped"] == 1


def test_diff_replay_through_the_cli(tmp_path: Path) -> None:
    old, new = tmp_path / "old.pol", tmp_path / "new.pol"
    old.write_text(OLD)
    new.write_text(NEW)
    events = tmp_path / "e.jsonl"
    events.write_text('{"id": "a", "scores": {"hate": 0.6}}\n{"id": "b", "scores": {}}\n')
    out = subprocess.run([sys.executable, "-m", "policyc", "diff", str(old), str(new),
                          "--replay", str(events), "--format", "json"],
                         capture_output=True, text=True, timeout=120)
    doc = json.loads(out.stdout)["replay"]
    assert doc["events"] == 2 and doc["flips"]["tightened"] == 1
    assert doc["examples"]["tightened"] == [{"id": "a", "old": "allow", "new": "refuse"}]


def test_decision_maps_read_lines_as_the_engine(tmp_path: Path) -> None:
    """The decision-map replay (a version that does not compile) reads the lines the
    engine reads: deep nesting was a RecursionError, U+2028 split a line (one event
    counted twice), a non-UTF-8 byte failed the whole file, NaN and a duplicate key
    were decided."""
    old, new = tmp_path / "old.pol", tmp_path / "new.pol"
    old.write_text(OLD)
    new.write_text(NEW)
    events = tmp_path / "e.jsonl"
    events.write_bytes(b"\n".join([
        json.dumps({"id": "a\u2028b", "scores": {"hate": 0.6}}, ensure_ascii=False).encode(),
        b"[" * 100_000,
        b'{"id": "\xff", "scores": {"hate": 0.6}}',
        b'{"scores": {"hate": NaN}}',
        b'{"scores": {"hate": 0.6}, "scores": {"hate": 0.1}}',
        b"",
        b'{"id": "z", "scores": {"hate": 0.6}}']) + b"\n")
    report = semantic_diff(_flat(old), _flat(new), NEW, ("a", "b"))  # type: ignore[arg-type]
    maps = replay(report, events)
    engine = replay(report, events, 20, load_target(old, []), load_target(new, []))
    assert maps["events"] == engine["events"] == 7
    assert maps["skipped"] == engine["skipped"] == 5
    assert maps["flips"] == engine["flips"] == {"loosened": 0, "tightened": 2, "changed": 0}
