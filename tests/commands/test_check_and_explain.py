"""`policyc check` / `explain` through typer's CliRunner and a real subprocess (CLI.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.chat_policy import POLICY
from typer.testing import CliRunner

from policyc.cli import app

KEYS = ["schema", "action", "argument", "rule", "policy", "version", "hash", "matched", "scores"]
runner = CliRunner()


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    (tmp_path / "p.pol").write_text(POLICY)
    out = tmp_path / "p.bundle"
    result = runner.invoke(app, ["compile", str(tmp_path / "p.pol"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_single_check_json_shape(bundle: Path) -> None:
    result = runner.invoke(app, ["check", str(bundle), "--context", "audience=teen",
                                 "--score", "self_harm.support=0.9", "--json"])
    assert result.exit_code == 0, result.output
    obj = json.loads(result.stdout)
    assert list(obj) == KEYS
    assert obj["schema"] == "policyc/decision/v1"
    assert (obj["action"], obj["argument"], obj["rule"]) == (
        "redirect", "crisis_resources", "teen_sensitive")
    assert obj["matched"] == ["teen_sensitive", "note"]
    assert obj["scores"] == {"self_harm.support": 0.9}
    assert obj["hash"].startswith("sha256:") and obj["version"] == "2.3.0"


def test_default_rule_is_null_and_pol_target(bundle: Path) -> None:
    result = runner.invoke(app, ["check", str(bundle.with_suffix(".pol")), "-c",
                                 "audience=adult", "--json"])
    assert result.exit_code == 0, result.output
    obj = json.loads(result.stdout)
    assert obj["rule"] is None and obj["action"] == "allow" and obj["matched"] == []


@pytest.mark.parametrize("args,needle", [
    (["--context", "audience"], "key=value"),
    (["--context", "planet=mars"], "unknown attribute"),
    (["--context", "audience=elder"], "not a value"),
    (["--context", "audience=teen", "--context", "verified=maybe"], "true or false"),
    (["--context", "audience=teen", "--score", "nope=0.5"], "unknown category"),
    (["--context", "audience=teen", "--score", "pii.email=2"], "outside [0, 1]"),
    ([], "missing"),
])
def test_bad_flags_exit_2(bundle: Path, args: list[str], needle: str) -> None:
    result = runner.invoke(app, ["check", str(bundle), *args])
    assert result.exit_code == 2
    assert needle in result.output
    assert "Traceback" not in result.output


def test_explain_says_why(bundle: Path) -> None:
    result = runner.invoke(app, ["explain", str(bundle), "-c", "audience=child",
                                 "-s", "self_harm.intent=0.9"])
    assert result.exit_code == 0, result.output
    assert "most-restrictive" in result.output
    assert "decided: refuse by rule `no_intent`" in result.output
    result = runner.invoke(app, ["explain", str(bundle), "-c", "audience=adult"])
    assert "by `default`" in result.output


def _batch_file(tmp_path: Path) -> Path:
    lines = [
        {"id": "e1", "context": {"audience": "teen"}, "scores": {"self_harm.intent": 0.6}},
        {"id": "e2", "text": "write to bob@example.com", "context": {"audience": "adult"}},
    ]
    raw = [json.dumps(lines[0]), "{not json", json.dumps({"id": "e3"}),
           json.dumps({"id": "e4", "context": {"audience": "elder"}}), json.dumps(lines[1])]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(raw) + "\n")
    return path


def test_batch_with_malformed_lines(bundle: Path, tmp_path: Path) -> None:
    events = _batch_file(tmp_path)
    out = tmp_path / "out.jsonl"
    audit = tmp_path / "audit.jsonl"
    result = runner.invoke(app, ["check", str(bundle), "--input", str(events), "--output",
                                 str(out), "--audit-log", str(audit)])
    assert result.exit_code == 1
    assert f"{events}:2:" in result.output and f"{events}:3:" in result.output
    assert f"{events}:4:" in result.output
    assert "2 decided, 3 skipped" in result.output
    decisions = [json.loads(line) for line in out.read_text().splitlines()]
    assert [d["id"] for d in decisions] == ["e1", "e2"]
    assert decisions[0]["action"] == "redirect"
    assert decisions[1]["action"] == "redact" and decisions[1]["redacted"] == \
        "write to [REDACTED]"
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [r["id"] for r in records] == ["e1", "e2"]
    for r in records:
        assert set(r) == {"schema", "decision_id", "time", "id", "policy", "version", "hash",
                          "action", "argument", "rule", "winner", "floor", "matched", "errors",
                          "scores"}
        assert r["schema"] == "policyc/audit/v1"
        assert r["time"].endswith("Z") and r["hash"].startswith("sha256:")


def test_real_subprocess(bundle: Path, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "policyc", "check", str(bundle)]
    single = subprocess.run([*cmd, "-c", "audience=child", "-s", "self_harm.intent=0.9",
                             "--json"], capture_output=True, text=True)
    assert single.returncode == 0, single.stderr
    obj = json.loads(single.stdout)
    assert list(obj) == KEYS and obj["rule"] == "no_intent"
    batch = subprocess.run([*cmd, "--input", str(_batch_file(tmp_path))], capture_output=True,
                           text=True)
    assert batch.returncode == 1
    assert [json.loads(x)["id"] for x in batch.stdout.splitlines()] == ["e1", "e2"]
    assert ":2: skipped" in batch.stderr and "Traceback" not in batch.stderr
    bad = subprocess.run([*cmd, "--context", "foo"], capture_output=True, text=True)
    assert bad.returncode == 2 and "key=value" in bad.stderr
