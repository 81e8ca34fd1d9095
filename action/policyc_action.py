#!/usr/bin/env python3
"""The policyc GitHub Action's diff and comment steps (standard library only).

    policyc_action.py report --base REV [--head REV] [--fail-on loosened|any] [--out DIR] [PATHS...]
    policyc_action.py comment --body-file FILE [--pr N | --pr-file FILE] [--report-url URL]

`report` runs `policyc diff OLD NEW --format markdown --fail-on X` for every `.pol` file
under PATHS that differs between the two git revisions (each revision is extracted with
`git archive`, so a policy's parents are those of its own revision), and writes
`DIR/report.md` (the full report), `DIR/pr-number` (in a pull request) and, under GitHub
Actions, the outputs `fail` (true when a diff exits 1) and `report` and the job summary.

`comment` posts the report as one pull-request comment, found again on later runs by the
hidden marker `<!-- policyc-diff -->` and updated in place. A body longer than GitHub's
65,536 characters is cut at a line and ends with a link to the full report. With a
read-only token (a pull request from a fork) it writes the job summary instead; the
`workflow_run` recipe in docs/editors.md posts the comment from the base repository.
`POLICYC_ACTION_DRY_RUN=1` prints the requests and the body instead of sending them.

Environment: `POLICYC` (the command, default `policyc`), `GITHUB_TOKEN`,
`GITHUB_REPOSITORY`, `GITHUB_API_URL`, `GITHUB_EVENT_PATH`, `GITHUB_OUTPUT`,
`GITHUB_STEP_SUMMARY`, `GITHUB_SERVER_URL`, `GITHUB_RUN_ID`.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shlex
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

MARKER = "<!-- policyc-diff -->"
#: GitHub's limit on an issue comment's body, in characters (counted here as UTF-16 code
#: units, which is never fewer than code points, so the cut body always fits)
COMMENT_LIMIT = 65_536
DRY_RUN_ENV = "POLICYC_ACTION_DRY_RUN"


# ---- report ----------------------------------------------------------------------------------


@dataclass
class FileResult:
    path: str
    status: str  # "modified", "added", "deleted", "renamed"
    exit_code: int | None = None  # policyc diff's exit code; None when not compared
    markdown: str = ""
    old_path: str | None = None

    @property
    def row(self) -> str:
        name = f"`{self.path}`" if self.old_path is None else f"`{self.old_path}` → `{self.path}`"
        if self.status == "added":
            return f"| {name} | ➕ new policy: nothing to compare |"
        if self.status == "deleted":
            return f"| {name} | ➖ removed: not compared (its rules are gone) |"
        counts = re.search(r"\*\*(\d+) loosened\*\*.*?\*\*(\d+) tightened\*\*.*?\*\*(\d+) changed\*\*",
                           self.markdown)
        figures = (f"{counts[1]} loosened, {counts[2]} tightened, {counts[3]} changed"
                   if counts else "")
        if self.exit_code == 2:
            return f"| {name} | ⚠️ could not be compared (see below) |"
        if self.exit_code == 1:
            return f"| {name} | 🔴 fails the gate: {figures or 'see below'} |"
        if counts and counts[1] == counts[2] == counts[3] == "0":
            return f"| {name} | 🟢 no semantic change |"
        return f"| {name} | 🟢 passes: {figures or 'see below'} |"


def _git(args: list[str], cwd: Path) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"error: `git {' '.join(args)}` failed: {proc.stderr.strip()}")
    return proc.stdout


def _extract(rev: str, repo: Path, into: Path) -> None:
    """The tree of `rev`, written under `into` (no checkout, no change to the repository)."""
    data = subprocess.run(["git", "archive", "--format=tar", rev], cwd=repo, capture_output=True)
    if data.returncode != 0:
        raise SystemExit(f"error: cannot read revision `{rev}`: {data.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(data.stdout)) as tar:
        try:
            tar.extractall(into, filter="data")
        except TypeError:  # pragma: no cover - Python < 3.11.4 has no extraction filters
            tar.extractall(into)  # noqa: S202 - our own repository's archive


def changed_policies(repo: Path, base: str, head: str, paths: list[str]) -> list[FileResult]:
    out = _git(["diff", "--name-status", "-M", base, head, "--", *(paths or ["."])], repo)
    results = []
    for line in out.splitlines():
        parts = line.split("\t")
        kind, names = parts[0], parts[1:]
        if not names[-1].endswith(".pol") and not names[0].endswith(".pol"):
            continue
        if kind.startswith("R"):
            results.append(FileResult(names[1], "renamed", old_path=names[0]))
        elif kind == "A":
            results.append(FileResult(names[0], "added"))
        elif kind == "D":
            results.append(FileResult(names[0], "deleted"))
        else:  # M, T, C: compare in place
            results.append(FileResult(names[-1], "modified"))
    return sorted(results, key=lambda r: r.path)


def _policyc() -> list[str]:
    return shlex.split(os.environ.get("POLICYC", "policyc"))


def run_report(repo: Path, base: str, head: str, paths: list[str], fail_on: str
               ) -> tuple[str, bool]:
    """The full report (markdown, without the marker) and whether the gate fails."""
    results = changed_policies(repo, base, head, paths)
    base_short = _git(["rev-parse", "--short", base], repo).strip()
    head_short = _git(["rev-parse", "--short", head], repo).strip()
    with tempfile.TemporaryDirectory(prefix="policyc-action-") as tmp:
        old_root, new_root = Path(tmp, "base"), Path(tmp, "head")
        if results:
            _extract(base, repo, old_root)
            _extract(head, repo, new_root)
        for r in results:
            if r.status in ("added", "deleted"):
                continue
            old, new = old_root / (r.old_path or r.path), new_root / r.path
            proc = subprocess.run([*_policyc(), "diff", str(old), str(new), "--format", "markdown",
                                   "--fail-on", fail_on], capture_output=True, text=True)
            r.exit_code = proc.returncode
            text = proc.stdout if proc.returncode in (0, 1) and proc.stdout.strip() else (
                "```\n" + (proc.stdout + proc.stderr).strip() + "\n```")
            # temporary folders mean nothing to a reader: name the revisions instead
            r.markdown = (text.replace(f"{old_root}{os.sep}", f"{base_short}:")
                          .replace(f"{new_root}{os.sep}", f"{head_short}:"))
    fail = any(r.exit_code in (1, 2) for r in results)
    compared = [r for r in results if r.exit_code is not None]
    gate = "🔴" if fail else "🟢"
    lines = [f"## {gate} policyc diff: `{base_short}` → `{head_short}`", ""]
    if not results:
        lines.append("No `.pol` file changed.")
    else:
        failing = sum(r.exit_code == 1 for r in results)
        errors = sum(r.exit_code == 2 for r in results)
        lines += [f"{len(results)} changed policy file{'s' if len(results) != 1 else ''}, "
                  f"{len(compared)} compared: **{failing} fail `--fail-on {fail_on}`**"
                  + (f", **{errors} could not be compared**" if errors else "") + ".", "",
                  "| file | result |", "|---|---|", *(r.row for r in results)]
        for r in compared:
            if r.exit_code == 0 and "No semantic change" in r.markdown:
                continue  # the table says so
            lines += ["", f"<details{' open' if r.exit_code else ''}><summary><code>{r.path}</code>"
                      "</summary>", "", r.markdown.strip(), "", "</details>"]
    return "\n".join(lines) + "\n", fail


# ---- comment ---------------------------------------------------------------------------------


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def comment_body(report: str, report_url: str | None, limit: int = COMMENT_LIMIT) -> str:
    """The marker and the report, cut at a line to fit `limit` with a link to the full one."""
    body = f"{MARKER}\n{report}"
    if _units(body) <= limit:
        return body
    where = f"[the full report]({report_url})" if report_url else "the full report in the job summary"
    note = f"\n\n**This comment is cut at GitHub's {limit:,}-character limit:** see {where}.\n"
    budget = limit - _units(note)
    kept: list[str] = []
    used = 0
    in_fence = False
    for line in body.splitlines(keepends=True):
        closing = "```\n" if (in_fence != line.startswith("```")) else ""
        if used + _units(line) + _units(closing) + len("</details>\n") > budget:
            break
        kept.append(line)
        used += _units(line)
        if line.startswith("```"):
            in_fence = not in_fence
    text = "".join(kept)
    if in_fence:
        text += "```\n"
    if text.count("<details") > text.count("</details>"):
        text += "</details>\n"
    return text + note


def _event() -> dict[str, object]:
    path = os.environ.get("GITHUB_EVENT_PATH")
    if path and Path(path).is_file():
        return json.loads(Path(path).read_text(encoding="utf-8"))
    return {}


def _api(method: str, url: str, token: str, payload: dict[str, object] | None = None
         ) -> object:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Accept": "application/vnd.github+json", "Authorization": f"Bearer {token}",
        "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "policyc-action"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


#: GitHub shows at most 1 MiB of a step's summary
SUMMARY_LIMIT = 1_000_000


def _summary(text: str) -> None:
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        if len(text.encode()) > SUMMARY_LIMIT:
            text = comment_body(text, None, SUMMARY_LIMIT // 4).replace(MARKER + "\n", "").replace(
                "see the full report in the job summary", "download the `policyc-diff` artifact")
        with open(path, "a", encoding="utf-8") as f:
            f.write(text + "\n")


def post_comment(repo: str, pr: int, body: str, token: str) -> str:
    """Create the marked comment, or update the one an earlier run left. Returns what it did."""
    api = os.environ.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
    dry = os.environ.get(DRY_RUN_ENV) == "1"
    listing = f"{api}/repos/{repo}/issues/{pr}/comments?per_page=100&page="
    existing = None
    if dry:
        print(f"[dry run] GET {listing}1 ... (looking for {MARKER})")
    else:
        page = 1
        while existing is None:
            comments = _api("GET", f"{listing}{page}", token)
            if not isinstance(comments, list) or not comments:
                break
            existing = next((c for c in comments if MARKER in str(c.get("body", ""))), None)
            page += 1
    if existing is not None:
        method, url = "PATCH", f"{api}/repos/{repo}/issues/comments/{existing['id']}"
    else:
        method, url = "POST", f"{api}/repos/{repo}/issues/{pr}/comments"
    if dry:
        print(f"[dry run] {method} {url} ({_units(body)} characters):")
        print(body, end="" if body.endswith("\n") else "\n")
        return "dry run"
    _api(method, url, token, {"body": body})
    return "updated" if method == "PATCH" else "created"


def run_comment(body_file: Path, pr: int | None, report_url: str | None) -> int:
    report = body_file.read_text(encoding="utf-8")
    body = comment_body(report, report_url)
    repo = os.environ.get("GITHUB_REPOSITORY", "")
    token = os.environ.get("GITHUB_TOKEN", "")
    dry = os.environ.get(DRY_RUN_ENV) == "1"
    if pr is None:
        print("not a pull request: no comment (the report is in the job summary)")
        return 0
    if not dry and not (repo and token):
        print("::warning::policyc: no GITHUB_TOKEN or GITHUB_REPOSITORY: the diff report is "
              "in the job summary, not in a comment")
        return 0
    try:
        done = post_comment(repo or "OWNER/REPO", pr, body, token)
    except urllib.error.HTTPError as err:
        if err.code in (401, 403, 404):
            # a pull request from a fork: the token is read-only (docs/editors.md)
            print(f"::warning::policyc: cannot comment on #{pr} (HTTP {err.code}, read-only "
                  "token?): the diff report is in the job summary")
            return 0
        raise SystemExit(f"error: GitHub API: HTTP {err.code} {err.reason}") from err
    except urllib.error.URLError as err:
        raise SystemExit(f"error: GitHub API unreachable: {err.reason}") from err
    if not dry:
        print(f"policyc diff comment {done} on #{pr}")
    return 0


# ---- command line ----------------------------------------------------------------------------


def _output(**values: str) -> None:
    path = os.environ.get("GITHUB_OUTPUT")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            for key, value in values.items():
                f.write(f"{key}={value}\n")


def _pr_number(args: argparse.Namespace) -> int | None:
    raw: object = args.pr
    if raw is None and args.pr_file:
        raw = Path(args.pr_file).read_text(encoding="utf-8").strip() or None
    if raw is None:
        pull = _event().get("pull_request")
        raw = pull.get("number") if isinstance(pull, dict) else None
    if raw is None:
        return None
    if not re.fullmatch(r"[1-9][0-9]{0,9}", str(raw)):  # it may come from an untrusted artifact
        raise SystemExit(f"error: not a pull-request number: {str(raw)[:40]!r}")
    return int(str(raw))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="policyc_action.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="diff every changed .pol file between two revisions")
    rep.add_argument("paths", nargs="*", help="folders or files to consider (default: all)")
    rep.add_argument("--base", required=True, help="the base revision (the PR's base commit)")
    rep.add_argument("--head", default="HEAD")
    rep.add_argument("--fail-on", default="loosened", choices=["loosened", "any"])
    rep.add_argument("--repo", default=".", help="the git repository (default: .)")
    rep.add_argument("--out", default=".policyc-action", help="folder for report.md")
    com = sub.add_parser("comment", help="post or update the pull-request comment")
    com.add_argument("--body-file", required=True)
    com.add_argument("--pr", help="pull-request number (default: from the event)")
    com.add_argument("--pr-file", help="a file holding the pull-request number")
    com.add_argument("--report-url", help="where the full report is (linked when cut)")
    args = parser.parse_args(argv)

    if args.command == "comment":
        return run_comment(Path(args.body_file), _pr_number(args), args.report_url or None)

    repo = Path(args.repo).resolve()
    report, fail = run_report(repo, args.base, args.head, args.paths, args.fail_on)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(report, encoding="utf-8")
    pull = _event().get("pull_request")
    if isinstance(pull, dict) and pull.get("number"):
        (out / "pr-number").write_text(f"{pull['number']}\n", encoding="utf-8")
    _summary(report)
    _output(fail="true" if fail else "false", report=str(out / "report.md"))
    print(report, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
