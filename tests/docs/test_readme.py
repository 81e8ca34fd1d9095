"""The README's commands: the first set-up command and every command of the tour run,
after the first command's install alone (`pip install .`: only the core dependencies
importable, see `doc_commands`), from a copy of the checkout; the second set-up
command is what `.ci/run` runs."""

from __future__ import annotations

import subprocess
from pathlib import Path

from helpers import doc_commands

README = doc_commands.REPO / "README.md"


def _setup_commands() -> tuple[str, str]:
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index("```sh")
    return lines[start + 1], lines[start + 2]


def test_readme_first_command_and_tour_run(tmp_path: Path) -> None:
    first, _ = _setup_commands()
    steps = [s.strip() for s in first.split("&&")]
    assert steps[:3] == ["python3 -m venv .venv", ". .venv/bin/activate", "pip install ."]
    root = doc_commands.checkout(tmp_path)
    before = {p for p in root.rglob("*") if p.is_file()}
    for step in steps[3:]:
        result = doc_commands.run(step, root)
        assert result.returncode == 0, step + "\n" + result.stdout
    tour = doc_commands.examples(README)
    assert len(tour) >= 11
    assert doc_commands.check_page(README, root) == len(tour)
    # what the tour says the commands write
    assert (root / "chat.pbundle").is_file()
    assert len((root / "decisions.jsonl").read_text().splitlines()) == \
        len((root / "examples/consumer_chat/events.jsonl").read_text().splitlines())
    assert (root / "audit.jsonl").is_file()
    assert (root / "examples/data/eval_default.jsonl").is_file()
    report = sorted(p.name for p in (root / "out").iterdir())
    assert "index.html" in report and any(name.endswith(".svg") for name in report)
    # and .gitignore keeps all of it out of `git status`
    made = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    made = [name for name in made if root / name not in before]
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    ignored = subprocess.run(["git", "check-ignore", "--no-index", "--stdin"], cwd=root,
                             input="\n".join(made), capture_output=True, text=True)
    assert sorted(ignored.stdout.splitlines()) == made


def test_ci_runs_the_readme_test_command() -> None:
    _, second = _setup_commands()
    ci = (doc_commands.REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert second in ci
