"""Run the commands a documentation page shows, as its reader would, and compare.

The one helper behind the tests of README.md, examples/README.md and docs/cli.md
(`tests/docs/test_readme.py`, `tests/docs/test_doc_commands.py`). A page's examples are its
```console blocks:

    $ policyc check chat.pbundle --score self_harm.intent=0.8   # exit 0: comment
    redirect("crisis_resources")  (by rule `crisis_redirect`; …)

- a line starting with `$ ` is a command (`policyc …`, `python -m MODULE …`, or
  `python tools/SCRIPT.py …`: a checkout tool, outside the wheel); a
  trailing `# exit N` states its exit code (default 0), any other comment is prose;
- the lines after it, up to the next command, are what it prints (stdout and stderr
  as a terminal shows them): each shown line must be an output line, in the order
  shown (lines left out are abridged). `…` in a shown line stands for any text;
- a ```pol block right after `<!-- example:NAME -->` is written as `NAME.pol` first.

Commands run in order in one temporary copy of the checkout (`checkout`), from its
root, as the README's first install leaves them: every installed module that the
project's `dependencies` do not bring is made unimportable (`blocked_modules`), so a
command that needs a dev-only or undeclared package fails here as it would for the
reader.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]
#: what a fresh clone holds that the commands read (tests, benchmarks and docs are not run)
CHECKOUT = ("policyc", "grammar", "stdlib_policies", "examples", "tests/golden/lint", "tools",
            "pyproject.toml", ".gitignore")

# Run as `python -c RUNNER MODULE ARGS…`: block the modules, then run MODULE as `-m` would
# (or, for `SCRIPT.py`, run the script as `python SCRIPT.py` would).
RUNNER = """
import importlib.abc, os, runpy, sys
blocked = frozenset(filter(None, os.environ.get("POLICYC_TEST_BLOCKED", "").split(",")))
class CoreOnly(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, CoreOnly())
sys.argv = sys.argv[1:]
if sys.argv[0].endswith(".py"):
    sys.path[0] = os.path.dirname(os.path.abspath(sys.argv[0]))
    runpy.run_path(sys.argv[0], run_name="__main__")
else:
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(requirements: list[str]) -> set[str]:
    """The installed distributions these requirements pull in, transitively."""
    seen: set[str] = set()
    stack = [Requirement(r) for r in requirements]
    while stack:
        req = stack.pop()
        key = _key(req.name)
        if key in seen:
            continue
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            continue  # not installed: nothing to block
        seen.add(key)
        for text in dist.requires or []:
            sub = Requirement(text)
            extras = req.extras or {""}
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in extras):
                stack.append(sub)
    return seen


@cache
def blocked_modules() -> frozenset[str]:
    """Top-level modules of installed distributions that the core install would not have.

    The core install is the project's `dependencies`, transitively, plus pip (every venv
    has it) and the project itself; dev tools, the extras and anything left over from
    older dependencies (e.g. a plotting library) are blocked.
    """
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    core = _closure(project["dependencies"]) | {_key(project["name"]), "pip"}
    out = set()
    for module, dists in metadata.packages_distributions().items():
        if dists and not any(_key(d) in core for d in dists):
            out.add(module)
    return frozenset(out)


def core_only_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return {**env, "NO_COLOR": "1", "COLUMNS": "200", "PYTHONUNBUFFERED": "1",
            "POLICYC_TEST_BLOCKED": ",".join(sorted(blocked_modules()))}


def checkout(folder: Path) -> Path:
    """A copy of the checkout's files the commands need (no generated files)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pbundle", "eval_default.jsonl")
    for name in CHECKOUT:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, folder / name, ignore=ignore)
        else:
            shutil.copy2(source, folder / name)
    return folder


def run(command: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run one shell command of a page (`policyc …`, `python -m …` or `python SCRIPT.py …`)
    in `cwd`."""
    argv = shlex.split(command, comments=True)
    if argv[0] == "policyc":
        module, args = "policyc", argv[1:]
    elif argv[0] in ("python", "python3") and argv[1] == "-m":
        module, args = argv[2], argv[3:]
    elif argv[0] in ("python", "python3") and argv[1].endswith(".py"):
        module, args = argv[1], argv[2:]  # a script of the checkout
    else:
        raise AssertionError(f"not a command the docs' tests can run: {command}")
    return subprocess.run([sys.executable, "-c", RUNNER, module, *args], cwd=cwd,
                          env=core_only_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)


@dataclass(frozen=True)
class Example:
    where: str  # page:line
    command: str
    shown: tuple[str, ...]
    exit: int


def examples(page: Path) -> list[Example]:
    """The commands of the page's ```console blocks, with their shown output and exit code."""
    lines = page.read_text(encoding="utf-8").splitlines()
    out: list[Example] = []
    inside = False
    current: tuple[str, str, int] | None = None
    shown: list[str] = []

    def close() -> None:
        nonlocal current
        while shown and not shown[-1]:
            shown.pop()  # blank lines between examples are layout, not output
        if current is not None:
            out.append(Example(current[0], current[1], tuple(shown), current[2]))
        current = None
        shown.clear()

    for number, line in enumerate(lines, 1):
        if not inside:
            inside = line.strip() == "```console"
            continue
        if line.strip() == "```":
            close()
            inside = False
        elif line.startswith("$ "):
            close()
            command = line[2:].strip()
            m = re.search(r"#\s*exit\s+(\d+)", command)
            name = page.relative_to(REPO) if page.is_relative_to(REPO) else page.name
            current = (f"{name}:{number}", command, int(m.group(1)) if m else 0)
        elif current is not None:
            shown.append(line.rstrip())
    return out


def _matches(shown: str, actual: str) -> bool:
    parts = shown.split("…")
    if len(parts) == 1:
        return shown == actual
    if not (actual.startswith(parts[0]) and actual.endswith(parts[-1])):
        return False
    at = len(parts[0])
    for part in parts[1:-1]:
        found = actual.find(part, at)
        if found < 0:
            return False
        at = found + len(part)
    return at <= len(actual) - len(parts[-1])


def missing_lines(shown: tuple[str, ...], output: str) -> list[str]:
    """The shown lines not found, in order, among the output's lines (empty: all found)."""
    actual = [line.rstrip() for line in output.splitlines()]
    i = 0
    for n, line in enumerate(shown):
        if line.strip() == "…":
            continue
        while i < len(actual) and not _matches(line, actual[i]):
            i += 1
        if i == len(actual):
            return list(shown[n:])
        i += 1
    return []


def page_files(page: Path) -> dict[str, str]:
    """Policies the page defines for its commands: a ```pol block right after
    `<!-- example:NAME -->` is the file `NAME.pol`."""
    text = page.read_text(encoding="utf-8")
    return {f"{name}.pol": body for name, body in
            re.findall(r"<!-- example:([\w.-]+) -->\s*```pol\n(.*?)```", text, re.S)}


def check_page(page: Path, cwd: Path) -> int:
    """Write the page's files into `cwd`, then run every example of the page there, in
    order; returns how many ran."""
    for name, body in page_files(page).items():
        (cwd / name).write_text(body, encoding="utf-8")
    found = examples(page)
    for ex in found:
        result = run(ex.command, cwd)
        context = f"{ex.where}: $ {ex.command}\n--- output (exit {result.returncode}):\n" \
            f"{result.stdout}"
        assert result.returncode == ex.exit, f"exit {result.returncode}, page says {ex.exit}\n" \
            + context
        missing = missing_lines(ex.shown, result.stdout)
        assert not missing, "shown but not printed:\n" + "\n".join(missing) + "\n" + context
    return len(found)
