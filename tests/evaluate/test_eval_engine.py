"""`eval` decides with the streaming engine (`JsonlEngine.decide_events`) and times a
sample of single `check` calls (docs/eval.md, latency rows)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from commands.test_check_input_engine import POLICY, TEXT_POLICY

from policyc.commands.inputs import load_target
from policyc.evaluate import run
from policyc.evaluate.data import Dataset, Event
from policyc.evaluate.run import PolicyInfo, evaluate
from policyc.runtime.checker import InvalidEvent
from policyc.runtime.stream import JsonlEngine

EVENTS: list[tuple[Any, Any, Any]] = [
    (None, {"aud": "x", "pro": True, "age": 20}, {"c.a": 0.7}),
    (None, {"aud": "y", "pro": False, "age": 3}, {}),
    (None, {"aud": "x", "pro": True, "age": 10 ** 400}, {}),  # past double range
    (None, {"aud": "q", "pro": True, "age": 1}, {}),  # not a value: InvalidEvent
    (None, {"aud": "x", "pro": True, "age": 1}, {"d": float("nan")}),
    (None, {"aud": "x", "pro": True, "age": 1}, {"d": 1, "c.b": 0}),
    (None, {}, {"d": 0.2}),  # a missing attribute without default
]
TEXT_EVENTS: list[tuple[Any, Any, Any]] = [
    ("mail bob@ex.com", {"aud": "x"}, {}), ("buy meth", {"aud": "x"}, {}),
    ("buy meth", {"aud": "y"}, {}), ("nothing", {}, {}), ("x", {"aud": "q"}, {}),
    ("meth", {"aud": "x"}, {"d": 0.7}),
]


def _same(checker: Any, events: list[tuple[Any, Any, Any]]) -> None:
    got = JsonlEngine(checker).decide_events(events)
    for (text, context, scores), r in zip(events, got, strict=True):
        try:
            d = checker.check(text=text, context=context, scores=scores)
        except InvalidEvent as exc:
            assert isinstance(r, InvalidEvent) and str(r) == str(exc)
            continue
        assert not isinstance(r, InvalidEvent)
        e, sc = r
        assert (e.action, e.argument, e.rule, list(e.errors), sc) == \
            (d.action, d.argument, d.rule, list(d.errors), dict(d.scores))


def test_engine_decides_eval_events_as_check(tmp_path: Path) -> None:
    for text, events in ((POLICY, EVENTS), (TEXT_POLICY, TEXT_EVENTS)):
        p = tmp_path / "p.pol"
        p.write_text(text)
        _same(load_target(p, []), events * 3)


def test_latency_comes_from_a_timed_sample(tmp_path: Path, monkeypatch: Any) -> None:
    p = tmp_path / "p.pol"
    p.write_text(POLICY)
    checker = load_target(p, [])
    monkeypatch.setattr(run, "LATENCY_SAMPLE", 10)
    data = Dataset("d.jsonl", [Event(k + 1, k, None, {"aud": "x", "pro": True, "age": k},
                                     {"d": 0.7}, "harmful", (), None, None)
                               for k in range(95)])
    r = evaluate(checker, PolicyInfo({"c.a": 0.5, "c.b": 0.5, "d": 0.5}, []), data)
    timed = [o for o in r.outcomes if not math.isnan(o.latency_ms)]
    assert [o.line for o in timed] == list(range(1, 96, 10))  # every 10th event
    assert len(r.outcomes) == 95 and r.latency["p99"] is not None


def test_parquet_data_gives_the_jsonl_metrics(tmp_path: Path) -> None:
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from policyc.evaluate.data import load_dataset

    rows = [{"id": f"e{k}", "scores": {"d": [0.2, 0.7, 0.0][k % 3]},
             "context": {"aud": "xy"[k % 2], "pro": k % 2 == 0, "age": k},
             "label": ["harmful", "benign"][k % 2], "kind": "abc"[k % 3]} for k in range(30)]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    pq.write_table(pa.table({
        "id": [r["id"] for r in rows], "scores.d": [r["scores"]["d"] for r in rows],
        "context.aud": [r["context"]["aud"] for r in rows],
        "context.pro": [r["context"]["pro"] for r in rows],
        "context.age": [r["context"]["age"] for r in rows],
        "label": [r["label"] for r in rows], "kind": [r["kind"] for r in rows]}),
        tmp_path / "d.parquet")
    p = tmp_path / "p.pol"
    p.write_text(POLICY)
    checker = load_target(p, [])
    info = PolicyInfo({"c.a": 0.5, "c.b": 0.5, "d": 0.5}, [])
    a = evaluate(checker, info, load_dataset(tmp_path / "d.jsonl"), slice_by=["kind"])
    b = evaluate(checker, info, load_dataset(tmp_path / "d.parquet"), slice_by=["kind"])
    assert (a.rates, a.per_category, a.slices, a.confusion) == \
        (b.rates, b.per_category, b.slices, b.confusion)
    assert [(o.id, o.action, o.scores) for o in a.outcomes] == \
        [(o.id, o.action, o.scores) for o in b.outcomes]
