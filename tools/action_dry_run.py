#!/usr/bin/env python3
"""Run the policyc GitHub Action's steps locally (action.yml), posting nothing.

    python tools/action_dry_run.py --base REV [--head REV] [PATHS...]   # this repository
    python tools/action_dry_run.py --demo                                # two made-up revisions

The steps are the action's own commands: `policyc lint PATHS --format sarif` (the file the
action uploads to code scanning), `action/policyc_action.py report` (every changed `.pol`
file through `policyc diff --fail-on loosened`), then `action/policyc_action.py comment`
with POLICYC_ACTION_DRY_RUN=1, which prints the GitHub API requests it would make and the
comment body instead of sending them. The exit code is the action's gate: 1 when lint
fails or a changed policy loosens.

`--demo` builds a throwaway git repository from this repository's `examples/`: a first
commit as they are, a second one where `examples/diff/v1.pol` becomes v2 (a loosening),
`examples/acme/chat.pol` is renamed with one rule tightened, a policy is added and one
only reformatted. `POLICYC` (default: this Python's `-m policyc`) is the command run.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "action" / "policyc_action.py"
GIT_ENV = {"GIT_AUTHOR_NAME": "policyc", "GIT_AUTHOR_EMAIL": "dry-run@example.com",
           "GIT_COMMITTER_NAME": "policyc", "GIT_COMMITTER_EMAIL": "dry-run@example.com",
           "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z"}


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV}).stdout


def make_demo(into: Path) -> tuple[Path, str, str]:
    """A git repository with two revisions of this repository's examples."""
    repo = into / "demo"
    shutil.copytree(ROOT / "examples", repo / "examples",
                    ignore=shutil.ignore_patterns("data", "*.jsonl", "*.pbundle"))
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "base")
    ex = repo / "examples"
    (ex / "diff" / "v1.pol").write_text((ex / "diff" / "v2.pol").read_text(encoding="utf-8"),
                                        encoding="utf-8")
    chat = (ex / "acme" / "chat.pol").read_text(encoding="utf-8")
    (ex / "acme" / "chat.pol").unlink()
    (ex / "acme" / "chat_assistant.pol").write_text(
        chat.replace('warn("weapons_policy") when violence.weapons',
                     'refuse when violence.weapons'), encoding="utf-8")
    (ex / "acme" / "support.pol").write_text(
        'policy acme.helpdesk version "0.1.0" {\n  extends acme.baseline\n  default allow\n}\n',
        encoding="utf-8")
    healthcare = ex / "healthcare" / "assistant.pol"
    healthcare.write_text(healthcare.read_text(encoding="utf-8").replace(
        "  resolve most-restrictive\n", "  resolve   most-restrictive\n"), encoding="utf-8")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "head")
    return repo, "HEAD~1", "HEAD"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", default=None)
    parser.add_argument("--base", help="base revision (required without --demo)")
    parser.add_argument("--head", default="HEAD")
    parser.add_argument("--demo", action="store_true")
    parser.add_argument("--fail-on", default="loosened", choices=["loosened", "any"])
    parser.add_argument("--pr", default="1", help="pull-request number in the printed requests")
    args = parser.parse_args(argv)
    policyc = os.environ.get("POLICYC") or shlex.join([sys.executable, "-m", "policyc"])
    env = {**os.environ, "POLICYC": policyc, "POLICYC_ACTION_DRY_RUN": "1",
           "GITHUB_REPOSITORY": os.environ.get("GITHUB_REPOSITORY", "OWNER/REPO")}
    for key in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_EVENT_PATH", "GITHUB_TOKEN"):
        env.pop(key, None)  # never write into, or post from, a real workflow by accident
    if str(ROOT) not in env.get("PYTHONPATH", "").split(os.pathsep):
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))

    with tempfile.TemporaryDirectory(prefix="policyc-dry-run-") as tmp_name:
        tmp = Path(tmp_name)
        if args.demo:
            repo, base, head = make_demo(tmp)
            paths = args.paths or ["examples"]
        else:
            if not args.base:
                parser.error("give --base REV (or --demo)")
            repo, base, head = ROOT, args.base, args.head
            paths = args.paths or ["examples", "stdlib_policies"]
        # the action lints its checkout: the head revision's tree
        tree = tmp / "head-tree"
        tree.mkdir()
        archive = subprocess.run(["git", "archive", "--format=tar", head], cwd=repo,
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        out = tmp / "out"
        out.mkdir()

        print(f"$ policyc lint {' '.join(paths)} --format sarif > policyc.sarif", flush=True)
        with open(out / "policyc.sarif", "w", encoding="utf-8") as sarif:
            lint = subprocess.run([*shlex.split(policyc), "lint", *paths, "--format", "sarif"],
                                  cwd=tree, stdout=sarif, env=env)
        results = json.loads((out / "policyc.sarif").read_text(encoding="utf-8"))["runs"][0]["results"]
        print(f"lint: exit {lint.returncode}, {len(results)} SARIF results "
              "(the action uploads them with github/codeql-action/upload-sarif)")

        print(f"$ policyc_action.py report --base {base} --head {head} --fail-on {args.fail_on} "
              f"{' '.join(paths)}", flush=True)
        outputs = out / "github_output"  # the step's outputs, as under GitHub Actions
        report = subprocess.run([sys.executable, str(SCRIPT), "report", "--base", base, "--head", head,
                                 "--repo", str(repo), "--fail-on", args.fail_on, "--out", str(out),
                                 *paths], env={**env, "GITHUB_OUTPUT": str(outputs)},
                                capture_output=True, text=True)
        if report.returncode != 0:
            sys.stderr.write(report.stderr)
            return 2
        failed = "fail=true" in outputs.read_text(encoding="utf-8").splitlines()

        print("$ POLICYC_ACTION_DRY_RUN=1 policyc_action.py comment --body-file report.md", flush=True)
        comment = subprocess.run([sys.executable, str(SCRIPT), "comment", "--body-file",
                                  str(out / "report.md"), "--pr", args.pr, "--report-url",
                                  "https://github.com/OWNER/REPO/actions/runs/RUN_ID"], env=env)
        if comment.returncode != 0:
            return 2
    gate = 1 if lint.returncode != 0 or failed else 0
    print(f"gate: exit {gate}")
    return gate


if __name__ == "__main__":
    sys.exit(main())
