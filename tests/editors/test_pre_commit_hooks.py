"""`.pre-commit-hooks.yaml`: `pre-commit try-repo` installs policyc from this repository
into its own environment (pip, from PyPI) and runs `policyc-lint` and `policyc-fmt` in a
test repository holding a good and a bad `.pol` file.

The repository under test is a committed snapshot of the working tree (tracked and
untracked, not ignored, files): try-repo would leave untracked files out of the
repository it clones, and a clean snapshot is what users get from a tag. Every try-repo
builds a fresh environment, so the test makes two runs of both hooks (about a minute with
a warm pip cache, most of it installing policyc's dependencies).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
policy team.good version "1.0.0" {
  categories {
    harassment
  }
  default allow
  rule harassment_warn: warn("be_kind") when harassment
  test "harassment warns" {
    given harassment = 0.9
    expect warn("be_kind")
  }
}
"""
# lint: `hate` is not declared (an error); fmt: the spacing is not canonical
BAD = """\
policy team.bad version "1.0.0" {
  categories { harassment }
  default   allow
  rule r: refuse when hate
}
"""

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={**os.environ, **GIT_ENV})


@pytest.fixture(scope="module")
def hooks_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean git snapshot of this repository's working tree."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                           check=True, capture_output=True, text=True).stdout.split("\0")
    snapshot = tmp_path_factory.mktemp("policyc-src")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, snapshot / name)
    _git(snapshot, "init", "-q")
    _git(snapshot, "add", "-A")
    _git(snapshot, "commit", "-q", "-m", "snapshot")
    return snapshot


def _try_repo(hooks_repo: Path, project: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **GIT_ENV, "PRE_COMMIT_HOME": str(project.parent / "pre-commit-home"),
           "PRE_COMMIT_COLOR": "never"}
    return subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", str(hooks_repo),
                           "--all-files", "--color", "never"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=900)


def _status(output: str, hook: str) -> str:
    line = next(ln for ln in output.splitlines() if ln.startswith(hook))
    return line.rsplit(".", 1)[-1].strip()


def _project(tmp_path: Path, files: dict[str, str]) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    for name, text in files.items():
        (project / name).write_text(text, encoding="utf-8")
    _git(project, "init", "-q")
    _git(project, "add", "-A")
    return project


@pytest.mark.slow
def test_hooks_pass_on_good_policy(hooks_repo: Path, tmp_path: Path) -> None:
    project = _project(tmp_path, {"good.pol": GOOD})
    proc = _try_repo(hooks_repo, project)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert _status(out, "policyc lint") == "Passed", out
    assert _status(out, "policyc fmt") == "Passed", out


@pytest.mark.slow
def test_hooks_fail_on_bad_policy(hooks_repo: Path, tmp_path: Path) -> None:
    project = _project(tmp_path, {"good.pol": GOOD, "bad.pol": BAD})
    proc = _try_repo(hooks_repo, project)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert _status(out, "policyc lint") == "Failed", out
    # fmt runs first (hooks in id order) and reflows `categories`; lint then reads the result
    assert "--> bad.pol:6:23" in out and "unknown category or attribute `hate`" in out, out
    assert "good.pol:" not in out, out
    assert _status(out, "policyc fmt") == "Failed", out
    assert "files were modified by this hook" in out
    assert "default allow\n" in (project / "bad.pol").read_text(encoding="utf-8")
    assert (project / "good.pol").read_text(encoding="utf-8") == GOOD
