"""The GitHub Action (action.yml, action/policyc_action.py, tools/action_dry_run.py).

No network to GitHub: the dry run prints the requests instead of sending them
(POLICYC_ACTION_DRY_RUN=1), and the comment upsert is checked against a stub of the REST
API on 127.0.0.1.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "action" / "policyc_action.py"


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("policyc_action", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["policyc_action"] = module
    spec.loader.exec_module(module)
    return module


action = _load_script()


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


# ---- the dry run: the action's commands on two revisions of the examples --------------------


def test_dry_run_prints_the_comment_it_would_post() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "action_dry_run.py"), "--demo"],
                          capture_output=True, text=True, env=_env(), timeout=300)
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr  # v1 -> v2 loosens: the gate fails
    assert "$ policyc lint examples --format sarif" in out
    assert "[dry run] GET https://api.github.com/repos/OWNER/REPO/issues/1/comments" in out
    assert "[dry run] POST https://api.github.com/repos/OWNER/REPO/issues/1/comments" in out
    body = out.split("characters):\n", 1)[1].rsplit("gate: exit", 1)[0]
    assert body.startswith("<!-- policyc-diff -->\n## 🔴 policyc diff:")
    assert "4 changed policy files, 3 compared: **1 fail `--fail-on loosened`**." in body
    assert "| `examples/diff/v1.pol` | 🔴 fails the gate: 4 loosened, 2 tightened, 0 changed |" in body
    assert ("| `examples/acme/chat.pol` → `examples/acme/chat_assistant.pol` | 🟢 passes: "
            "0 loosened, 8 tightened, 0 changed |") in body
    assert "| `examples/acme/support.pol` | ➕ new policy: nothing to compare |" in body
    assert "| `examples/healthcare/assistant.pol` | 🟢 no semantic change |" in body
    assert "### 🔴 policyc diff: `acme.support` 1.0.0 → 1.1.0" in body
    assert "policyc-dry-run-" not in body  # no temporary folder leaks into the comment
    assert out.rstrip().endswith("gate: exit 1")


def test_report_without_policy_changes(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    (repo / "README").write_text("a\n")
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "a"], cwd=repo, check=True)
    (repo / "README").write_text("b\n")
    subprocess.run([*git, "commit", "-qam", "b"], cwd=repo, check=True)
    outputs = tmp_path / "outputs"
    proc = subprocess.run([sys.executable, str(SCRIPT), "report", "--base", "HEAD~1", "--repo",
                           str(repo), "--out", str(tmp_path / "o")], capture_output=True, text=True,
                          env=_env(GITHUB_OUTPUT=str(outputs), POLICYC=f"{sys.executable} -m policyc"))
    assert proc.returncode == 0, proc.stderr
    assert "No `.pol` file changed." in (tmp_path / "o" / "report.md").read_text()
    assert "fail=false" in outputs.read_text().splitlines()


# ---- cutting at GitHub's limit -----------------------------------------------------------------


def test_short_body_is_kept_whole() -> None:
    assert action.comment_body("## x\n", "https://r") == "<!-- policyc-diff -->\n## x\n"


def test_long_body_is_cut_with_a_link() -> None:
    row = "| 🔻 loosened | self_harm.instructions ≥ 0.3 | refuse | allow | `{}` |\n"
    report = ("## 🔴 policyc diff\n\n<details open><summary>x</summary>\n\n"
              "| | region | old | new | witness |\n|---|---|---|---|---|\n" + row * 3000
              + "\n</details>\n")
    assert len(report) > 2 * action.COMMENT_LIMIT
    body = action.comment_body(report, "https://github.com/o/r/actions/runs/1/artifacts/2")
    units = len(body.encode("utf-16-le")) // 2
    assert action.COMMENT_LIMIT - 500 < units <= action.COMMENT_LIMIT
    assert body.startswith("<!-- policyc-diff -->\n## 🔴 policyc diff")
    assert body.endswith("see [the full report](https://github.com/o/r/actions/runs/1/artifacts/2).\n")
    table = body.split("|---|---|---|---|---|\n", 1)[1].split("</details>", 1)[0]
    assert set(table.rstrip("\n").split("\n")) == {row.rstrip("\n")}  # whole rows only
    assert body.count("<details") == body.count("</details>") == 1


def test_cut_closes_an_open_code_fence() -> None:
    report = "## x\n\n```\n" + "error line\n" * 20000 + "```\n"
    body = action.comment_body(report, None)
    assert len(body.encode("utf-16-le")) // 2 <= action.COMMENT_LIMIT
    assert body.count("```") % 2 == 0
    assert body.endswith("see the full report in the job summary.\n")


# ---- posting: find the marked comment and update it -------------------------------------------


class _Api(BaseHTTPRequestHandler):
    comments: list[dict[str, Any]] = []
    calls: list[tuple[str, str, Any]] = []
    deny = False

    def _reply(self, code: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length", "0"))
        return json.loads(self.rfile.read(length)) if length else None

    def do_GET(self) -> None:  # noqa: N802
        self.calls.append(("GET", self.path, None))
        page = int(self.path.rsplit("page=", 1)[1])
        self._reply(200, self.comments[(page - 1) * 2: page * 2])  # pages of 2

    def do_POST(self) -> None:  # noqa: N802
        self.calls.append(("POST", self.path, self._body()))
        self._reply(403 if self.deny else 201, {"message": "Resource not accessible by integration"}
                    if self.deny else {"id": 99})

    def do_PATCH(self) -> None:  # noqa: N802
        self.calls.append(("PATCH", self.path, self._body()))
        self._reply(200, {"id": 1})

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Api.calls, _Api.deny = [], False
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _comment(api: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    report = tmp_path / "report.md"
    report.write_text("## 🟢 policyc diff\n", encoding="utf-8")
    summary = tmp_path / "summary.md"
    return subprocess.run([sys.executable, str(SCRIPT), "comment", "--body-file", str(report),
                           "--pr", "12"], capture_output=True, text=True, timeout=60,
                          env=_env(GITHUB_API_URL=api, GITHUB_TOKEN="t", GITHUB_REPOSITORY="o/r",
                                   GITHUB_STEP_SUMMARY=str(summary)))


def test_later_runs_update_the_marked_comment(api: str, tmp_path: Path) -> None:
    _Api.comments = [{"id": 1, "body": "lgtm"}, {"id": 2, "body": "ship it"},
                     {"id": 3, "body": "<!-- policyc-diff -->\n## old report"}]
    proc = _comment(api, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [c[:2] for c in _Api.calls] == [
        ("GET", "/repos/o/r/issues/12/comments?per_page=100&page=1"),
        ("GET", "/repos/o/r/issues/12/comments?per_page=100&page=2"),
        ("PATCH", "/repos/o/r/issues/comments/3")]
    assert _Api.calls[-1][2] == {"body": "<!-- policyc-diff -->\n## 🟢 policyc diff\n"}
    assert "comment updated on #12" in proc.stdout


def test_first_run_creates_the_comment(api: str, tmp_path: Path) -> None:
    _Api.comments = [{"id": 1, "body": "lgtm"}]
    proc = _comment(api, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [c[:2] for c in _Api.calls] == [
        ("GET", "/repos/o/r/issues/12/comments?per_page=100&page=1"),
        ("GET", "/repos/o/r/issues/12/comments?per_page=100&page=2"),  # empty: the end
        ("POST", "/repos/o/r/issues/12/comments")]
    assert "comment created on #12" in proc.stdout


def test_read_only_token_falls_back_to_the_summary(api: str, tmp_path: Path) -> None:
    _Api.comments, _Api.deny = [], True
    proc = _comment(api, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "::warning::policyc: cannot comment on #12 (HTTP 403" in proc.stdout


def test_untrusted_pr_number_is_refused(tmp_path: Path) -> None:
    (tmp_path / "report.md").write_text("x\n")
    (tmp_path / "pr-number").write_text("12; rm -rf /\n")
    proc = subprocess.run([sys.executable, str(SCRIPT), "comment", "--body-file",
                           str(tmp_path / "report.md"), "--pr-file", str(tmp_path / "pr-number")],
                          capture_output=True, text=True, env=_env(POLICYC_ACTION_DRY_RUN="1"))
    assert proc.returncode == 1 and "not a pull-request number" in proc.stderr


# ---- the action's metadata and the example workflows ------------------------------------------


def test_action_yml_steps() -> None:
    meta = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    assert meta["runs"]["using"] == "composite"
    steps = meta["runs"]["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert "github/codeql-action/upload-sarif@v3" in uses
    assert "actions/upload-artifact@v4" in uses
    runs = "\n".join(s.get("run", "") for s in steps)
    assert "--format sarif" in runs and "policyc_action.py\" report" in runs
    assert "policyc_action.py\" comment" in runs
    for step in steps:
        if step.get("run"):
            assert step["shell"] == "bash"
            assert "${{" not in step["run"], "inputs go through env, never into the script"
    comment = yaml.safe_load((ROOT / "action" / "comment" / "action.yml").read_text(encoding="utf-8"))
    assert comment["runs"]["using"] == "composite"


def test_action_and_workflows_match_the_github_schemas() -> None:
    """The schemas of GitHub's action metadata and workflow syntax (schemastore, vendored in
    check-jsonschema): a composite `run` step without `shell`, a misspelt key ... fail."""
    for schema, files in (
            ("vendor.github-actions", ["action.yml", "action/comment/action.yml"]),
            ("vendor.github-workflows", ["docs/examples/policyc.yml",
                                         "docs/examples/policyc-comment.yml"])):
        proc = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                               schema, *files], cwd=ROOT, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_example_workflows_are_not_active() -> None:
    assert not (ROOT / ".github" / "workflows").exists()
    pr = yaml.safe_load((ROOT / "docs" / "examples" / "policyc.yml").read_text(encoding="utf-8"))
    fork = yaml.safe_load((ROOT / "docs" / "examples" / "policyc-comment.yml").read_text(
        encoding="utf-8"))
    # PyYAML reads the key `on` as True
    assert "pull_request" in pr[True] and "pull_request_target" not in pr[True]
    assert "workflow_run" in fork[True]
    job = next(iter(pr["jobs"].values()))
    assert job["permissions"]["security-events"] == "write"
    assert any(str(s.get("uses", "")).startswith("policyc/policyc@") for s in job["steps"])
