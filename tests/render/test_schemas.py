"""The published JSON Schemas (`docs/schemas/`, generated from `policyc/render/contracts.py`).

- regenerating them from the models changes nothing (`tools/gen_schemas.py --check`);
- they validate the real outputs of the commands, run through a subprocess on the
  examples, and the JSON examples of the documentation;
- they reject hand-made invalid documents (a missing key, a wrong enum, a wrong type,
  an unknown key).
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import typing
import zipfile
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "docs" / "schemas"
KINDS = ("lint", "decision", "explain", "audit", "diff", "test", "eval", "rules", "compile",
         "bundle")
ELLIPSIS = "…"
FAKE_HASH = "sha256:" + "0" * 64


def schema(kind: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{kind}-v1.schema.json").read_text(encoding="utf-8"))


def validator(kind: str, definition: str | None = None) -> Draft202012Validator:
    s = schema(kind)
    if definition is not None:
        s = {"$ref": f"#/$defs/{definition}", "$defs": s["$defs"]}
    return Draft202012Validator(s)


def errors(kind: str, doc: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator(kind).iter_errors(doc)]


def run(*args: str, cwd: Path = ROOT, ok: tuple[int, ...] = (0,)) -> str:
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "policyc", *args], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=180)
    assert r.returncode in ok, (args, r.returncode, r.stderr[-2000:])
    return r.stdout


# ---- the committed files are the models' -------------------------------------------------------


def test_regenerating_changes_nothing() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_schemas.py"), "--check"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr


def test_the_check_sees_a_stale_or_stray_file(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import gen_schemas
    finally:
        sys.path.remove(str(ROOT / "tools"))
    assert sorted(gen_schemas.write(tmp_path)) == sorted(f"{k}-v1.schema.json" for k in KINDS)
    assert gen_schemas.stale(tmp_path) == []
    lint = tmp_path / "lint-v1.schema.json"
    lint.write_text(lint.read_text().replace('"warning"', '"warn"'))
    (tmp_path / "old-v0.schema.json").write_text("{}")
    assert gen_schemas.stale(tmp_path) == ["lint-v1.schema.json", "old-v0.schema.json"]
    gen_schemas.write(tmp_path)
    assert gen_schemas.stale(tmp_path) == [] and not (tmp_path / "old-v0.schema.json").exists()


@pytest.mark.parametrize("kind", KINDS)
def test_schema_is_valid_and_identified(kind: str) -> None:
    s = schema(kind)
    Draft202012Validator.check_schema(s)
    assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert s["$id"].startswith("https://") and s["$id"].endswith(f"/{kind}-v1.schema.json")
    assert f"(policyc/{kind}/v1)" in s["title"]
    assert s["properties"]["schema"]["const"] == f"policyc/{kind}/v1"
    assert "schema" in s["required"]


def test_ids_are_unique_and_every_file_is_published() -> None:
    files = sorted(p.name for p in SCHEMAS.glob("*.schema.json"))
    assert files == sorted(f"{k}-v1.schema.json" for k in KINDS)
    assert len({schema(k)["$id"] for k in KINDS}) == len(KINDS)


def test_enums_agree_with_the_code() -> None:
    """The contracts spell actions, severities and strategies out: they must be the
    code's, in the code's order."""
    from policyc.diagnostics import Severity
    from policyc.render import contracts
    from policyc.runtime.actions import RESTRICTIVENESS
    from policyc.runtime.bundle import Manifest

    assert list(typing.get_args(contracts.Action)) == list(RESTRICTIVENESS)
    assert list(typing.get_args(contracts.Severity)) == [s.value for s in Severity]
    strategy = Manifest.model_fields["strategy"].annotation
    assert typing.get_args(contracts.Strategy) == typing.get_args(strategy)


def test_audit_schema_agrees_with_the_runtime_one() -> None:
    """`policyc.runtime.audit.JSON_SCHEMA` is the runtime's copy of the same contract."""
    from policyc.runtime.audit import FIELDS, JSON_SCHEMA

    s = schema("audit")
    assert s["required"] == list(FIELDS) == JSON_SCHEMA["required"]
    assert set(s["properties"]) == set(JSON_SCHEMA["properties"])
    assert s["properties"]["action"]["enum"] == JSON_SCHEMA["properties"]["action"]["enum"]
    assert s["additionalProperties"] is False is JSON_SCHEMA["additionalProperties"]


# ---- real outputs ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Any]]:
    """Every machine output, produced by the CLI in a subprocess: kind -> documents."""
    tmp = tmp_path_factory.mktemp("outputs")
    out: dict[str, list[Any]] = {k: [] for k in KINDS}
    ex = ROOT / "examples"

    # every example but coding_agent, whose lint alone takes ~40 s (test_cli lints it)
    folders = sorted(str(p.relative_to(ROOT)) for p in ex.iterdir()
                     if p.is_dir() and p.name != "coding_agent")
    out["lint"].append(json.loads(run("lint", *folders, "--format", "json")))
    # every lint finding there is (the golden fire files), and front-end errors (exit 2)
    fire = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests/golden/lint").glob("POL[2-9]*/fire.pol"))
    out["lint"].append(json.loads(run("lint", *fire, "--format", "json", ok=(1,))))
    out["lint"].append(json.loads(run("lint", "tests/golden/lint", "--format", "json", ok=(2,))))

    bundle = tmp / "chat.pbundle"
    out["compile"].append(json.loads(run("compile", "examples/consumer_chat/chat.pol", "-o",
                                         str(bundle), "--format", "json")))
    with zipfile.ZipFile(bundle) as z:
        out["bundle"].append(json.loads(z.read("manifest.json")))
    for pol in ("examples/acme/coding_agent.pol", "examples/healthcare/assistant.pol"):
        target = tmp / (Path(pol).stem + ".pbundle")
        out["compile"].append(json.loads(run("compile", pol, "-o", str(target), "--format", "json")))
        with zipfile.ZipFile(target) as z:
            out["bundle"].append(json.loads(z.read("manifest.json")))

    check = ("check", str(bundle), "--score", "self_harm.intent=0.8", "--context", "audience=teen")
    out["decision"].append(json.loads(run(*check, "--json")))
    out["decision"].append(json.loads(run("check", "examples/acme/chat.pol", "--text",
                                          "mail me at a@b.example please", "--context",
                                          "audience=adult", "--format", "json")))
    decisions, audit = tmp / "decisions.jsonl", tmp / "audit.jsonl"
    run("check", str(bundle), "--input", str(ex / "consumer_chat/events.jsonl"),
        "--output", str(decisions), "--audit-log", str(audit))
    out["decision"] += [json.loads(line) for line in decisions.read_text().splitlines()]
    out["audit"] += [json.loads(line) for line in audit.read_text().splitlines()]

    out["explain"].append(json.loads(run("explain", *check[1:], "--format", "json")))
    out["explain"].append(json.loads(run("explain", "examples/acme/chat.pol", "--text",
                                         "mail me at a@b.example please", "--context",
                                         "audience=adult", "--format", "json")))

    out["diff"].append(json.loads(run("diff", "examples/diff/v1.pol", "examples/diff/v2.pol",
                                      "--format", "json")))
    # accepted loosenings, binding changes and a replay
    events = tmp / "replay.jsonl"
    events.write_text('{"id": "r1", "scores": {"harassment": 0.7}, "context": {"audience": "teen"}}\n'
                      '{"id": 2, "scores": {"self_harm.instructions": 0.4}}\n{"bad": \n')
    out["diff"].append(json.loads(run("diff", "tests/golden/diff/old.pol", "tests/golden/diff/new.pol",
                                      "--format", "json", "--replay", str(events))))
    out["diff"].append(json.loads(run("diff", "tests/golden/diff_scoped/old.pol",
                                      "tests/golden/diff_scoped/new.pol", "--format", "json")))

    out["test"].append(json.loads(run("test", "examples", "--format", "json")))

    data = tmp / "small.jsonl"
    data.write_text((ROOT / "tests/golden/eval/small.jsonl").read_text()
                    + '{"id": "x", "scores": {"nope": 0.9}}\n')
    out["eval"].append(json.loads(run("eval", "tests/golden/eval/small.pol", str(data),
                                      "--format", "json", "--sweep", ok=(1,))))
    out["eval"].append(json.loads(run("eval", str(bundle), str(ex / "consumer_chat/events.jsonl"),
                                      "--format", "json")))

    out["rules"].append(json.loads(run("rules", "--format", "json")))
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_real_outputs_validate(outputs: dict[str, list[Any]], kind: str) -> None:
    docs = outputs[kind]
    assert docs
    for doc in docs:
        assert errors(kind, doc) == [], json.dumps(doc)[:2000]


def test_real_outputs_reach_the_optional_parts(outputs: dict[str, list[Any]]) -> None:
    """The runs above exercise the keys a schema makes optional, not only the plain case."""
    changes = [c for d in outputs["diff"] for c in d["changes"]]
    assert any("accepted" in c for c in changes) and any("scope" in c for c in changes)
    assert any("bindings" in d for d in outputs["diff"]) and any("replay" in d for d in outputs["diff"])
    assert any("redacted" in d and "spans" in d for d in outputs["decision"])
    assert any("id" in d for d in outputs["decision"])
    assert any(d["sweep"] and d["gates"] and d["skipped"] for d in outputs["eval"])
    assert any(d["diagnostics"] and d["diagnostics"][0]["witness"] for d in outputs["lint"])


# ---- the documentation's examples --------------------------------------------------------------


def _unelide(doc: Any) -> Any:
    """A documentation example made whole: `"sha256:…"` becomes a hash, `"…"` keys and
    `"… anything …"` list items (which stand for more of the same) are dropped."""
    if isinstance(doc, dict):
        return {k: _unelide(v) for k, v in doc.items() if k != ELLIPSIS}
    if isinstance(doc, list):
        return [_unelide(v) for v in doc if not (isinstance(v, str) and v.startswith(ELLIPSIS))]
    if doc == f"sha256:{ELLIPSIS}":
        return FAKE_HASH
    return doc


def _documented(page: str) -> list[Any]:
    """Every JSON document of `page`: ```json blocks (one document, or JSON Lines), and
    the lines of ```console blocks that print a `"schema"` object."""
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    docs: list[Any] = []
    for lang, body in re.findall(r"```(json|console)\n(.*?)```", text, re.S):
        if lang == "console":
            docs += [json.loads(line) for line in body.splitlines() if line.startswith('{"schema"')]
            continue
        try:
            docs.append(json.loads(body))
        except json.JSONDecodeError:
            docs += [json.loads(line) for line in body.splitlines() if line.strip()]
    return docs


@pytest.mark.parametrize("page", ["cli.md", "eval.md"])
def test_documented_examples_validate(page: str) -> None:
    seen = set()
    for raw in _documented(page):
        doc = _unelide(raw)
        if "schema" in doc:
            kind = doc["schema"].split("/")[1]
            assert errors(kind, doc) == [], json.dumps(raw)
            seen.add(kind)
        elif "kind" in doc and "region" in doc:  # a diff change shown on its own
            problems = list(validator("diff", "DiffChange").iter_errors(doc))
            assert problems == [], (raw, [p.message for p in problems])
            seen.add("diff change")
        else:  # an input event (`check --input`, `eval` data), not an output
            assert set(doc) <= {"id", "text", "context", "scores", "label", "categories",
                                "expect", "group"}, raw
    expected = {"cli.md": {"lint", "decision", "diff", "diff change", "audit", "explain",
                           "rules", "compile"},
                "eval.md": {"test", "eval"}}[page]
    assert seen == expected


# ---- hand-made invalid documents ---------------------------------------------------------------

_DELETE = object()

#: (kind, JSON pointer into the first real output, new value or _DELETE, why it is invalid)
INVALID: list[tuple[str, str, Any, str]] = [
    ("lint", "/diagnostics/0/severity", _DELETE, "missing key"),
    ("lint", "/diagnostics/0/severity", "fatal", "unknown severity"),
    ("lint", "/diagnostics/0/line", "21", "line as a string"),
    ("lint", "/diagnostics/0/code", "E201", "not a policyc code"),
    ("lint", "/diagnostics/0/fix", "x", "unknown key"),
    ("lint", "/summary/error", -1, "negative count"),
    ("decision", "/action", _DELETE, "missing key"),
    ("decision", "/action", "block", "unknown action"),
    ("decision", "/matched", "crisis_redirect", "a string for a list"),
    ("decision", "/scores/self_harm.intent", 1.5, "score above 1"),
    ("decision", "/hash", "md5:abc", "not a sha256 hash"),
    ("decision", "/errors", None, "null where the key is left out instead"),
    ("decision", "/reason", "x", "unknown key"),
    ("decision", "/schema", "policyc/decision/v2", "another version"),
    ("explain", "/strategy", "random", "unknown strategy"),
    ("explain", "/context/audience/source", "inferred", "unknown source"),
    ("explain", "/rules/0/locked", "no", "bool as a string"),
    ("explain", "/winner", _DELETE, "missing key"),
    ("audit", "/decision_id", _DELETE, "missing key"),
    ("audit", "/time", "yesterday", "not a timestamp"),
    ("audit", "/action", "deny", "unknown action"),
    ("audit", "/text", "user content", "unknown key (no user content in a record)"),
    ("diff", "/changes/0/kind", "relaxed", "unknown kind"),
    ("diff", "/summary", _DELETE, "missing key"),
    ("diff", "/changes/0/region/self_harm.instructions", {"ge": 0.3, "gt": 0.2}, "two lower bounds"),
    ("diff", "/changes/0/region/self_harm.instructions", {"eq": 0.3, "lt": 0.5}, "eq with a bound"),
    ("diff", "/changes/0/region/audience", {"in": []}, "empty value set"),
    ("diff", "/changes/0/region/audience", {"in": ["adult"], "ge": 1}, "mixed region"),
    ("diff", "/changes/0/witness/audience", ["adult"], "list as a value"),
    ("diff", "/old/hash", None, "null hash"),
    ("test", "/results/0/status", "skipped", "unknown status"),
    ("test", "/coverage", _DELETE, "missing key"),
    ("test", "/coverage/per_rule/0/stdlib", _DELETE, "missing key"),
    ("test", "/summary/total", "58", "count as a string"),
    ("eval", "/passed", _DELETE, "missing key"),
    ("eval", "/gates/0/op", "=~", "unknown operator"),
    ("eval", "/metrics/accuracy", "high", "metric as a string"),
    ("eval", "/sweep", _DELETE, "null, not absent, without --sweep"),
    ("eval", "/label_actions/benign/block", 1, "unknown action"),
    ("eval", "/categories/violence/recall", 1.2, "ratio above 1"),
    ("rules", "/rules/0/severity", "fatal", "unknown severity"),
    ("rules", "/rules/0/lint_rule", "false", "bool as a string"),
    ("rules", "/rules/0/code", "pol001", "not a policyc code"),
    ("compile", "/strategy", "random", "unknown strategy"),
    ("compile", "/stats/cells", _DELETE, "missing key"),
    ("compile", "/output", 3, "number as a path"),
    ("bundle", "/schema", "policyc/bundle/v2", "another version"),
    ("bundle", "/strategy", "random", "unknown strategy"),
    ("bundle", "/rules/0/decision/action", "block", "unknown action"),
    ("bundle", "/files/..~1evil.npy", "0" * 64, "member name outside tables/ and models/"),
    ("bundle", "/extra", 1, "unknown key"),
]


def _mutate(doc: Any, pointer: str, value: Any) -> Any:
    doc = copy.deepcopy(doc)
    *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    node = doc
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    if value is _DELETE:
        assert last in node, pointer
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return doc


@pytest.mark.parametrize(("kind", "pointer", "value", "why"), INVALID,
                         ids=[f"{k}:{p}:{w}" for k, p, _, w in INVALID])
def test_invalid_documents_are_rejected(outputs: dict[str, list[Any]], kind: str, pointer: str,
                                        value: Any, why: str) -> None:
    base = outputs[kind][0]
    assert errors(kind, base) == []
    assert errors(kind, _mutate(base, pointer, value)), f"accepted: {why}"


def test_every_schema_has_invalid_cases() -> None:
    assert {k for k, *_ in INVALID} == set(KINDS)


@pytest.mark.parametrize(("kind", "pointer", "value"), [
    ("decision", "/decision_id", "65d2099b-3932-4e92-bd23-7361928d2f8f"),
    ("decision", "/latency_ms", 0.25),
    ("decision", "/errors", ["classifier `c` failed: timeout"]),
    ("decision", "/id", 7),
    ("diff", "/changes/0/causes", [{"kind": "threshold", "target": "harassment",
                                    "change": "changed", "old": "0.5", "new": "0.7",
                                    "text": "threshold harassment 0.5 → 0.7"}]),
])
def test_additive_keys_are_accepted(outputs: dict[str, list[Any]], kind: str, pointer: str,
                                    value: Any) -> None:
    """Keys other changes add to a v1 format (documented as additive) validate already."""
    assert errors(kind, _mutate(outputs[kind][0], pointer, value)) == []
