"""Every diagnostic code has a doc page, a firing fixture, a clean fixture and a golden
rendering.

For each code in the registry (`policyc rules`):

* `docs/rules/<CODE>.md` exists, is titled `# <CODE>: <kebab-name>`, states the default
  severity and has the sections `What it does`, `Why it matters`, `Example`, `Use instead`;
* `tests/golden/lint/<CODE>/fire.pol` produces the code and `clean.pol` (the same policy
  fixed the recommended way) does not; hierarchy fixtures keep their parents in the same
  folder (`parent.pol`, ...), found by the normal parent lookup;
* semantic findings (POL2xx, POL3xx) carry a witness event;
* the human rendering of `fire.pol` with only its own code selected (`--select CODE`:
  fatal front-end errors always show) equals `fire.expected.txt`, so a change in one rule
  never churns another rule's golden (rewrite with `pytest --update-golden`).

POL002 (unreadable input) has no `fire.pol`: the fixture is a path that must not exist,
see `tests/golden/lint/POL002/README.md`.

The linter runs in-process with paths relative to the repository root, so the golden
text does not depend on where the checkout lives.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers.golden import check_golden

from policyc.diagnostics import Diagnostic
from policyc.lint.config import LintConfig
from policyc.lint.registry import all_codes
from policyc.lint.runner import lint_paths
from policyc.render.human import format_human
from policyc.semantics.program import Program

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path("tests") / "golden" / "lint"  # relative to REPO
DOCS = Path("docs") / "rules"
CODES = sorted(all_codes())
SECTIONS = ("## What it does", "## Why it matters", "## Example", "## Use instead")
OPTIONAL_SECTIONS = ("## Notes",)

#: POL002 is about a path that cannot be read: the fixture is this (absent) path.
MISSING_INPUT = GOLDEN / "POL002" / "missing.pol"
#: A guard that can never be true has no event to show: POL205 is the one semantic code
#: without a witness.
NO_WITNESS = {"POL205"}


def _is_semantic(code: str) -> bool:
    return code.startswith(("POL2", "POL3"))


def fire_path(code: str) -> Path:
    return MISSING_INPUT if code == "POL002" else GOLDEN / code / "fire.pol"


def clean_path(code: str) -> Path:
    return GOLDEN / code / "clean.pol"


@pytest.fixture
def in_repo(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from the repository root so displayed paths are `tests/golden/lint/...`."""
    monkeypatch.chdir(REPO)
    return REPO


def lint(path: Path, only: str | None = None) -> tuple[Program, list[Diagnostic]]:
    """Every rule, or `only` that code (as `--select CODE`; fatal errors always show)."""
    return lint_paths([str(path)], LintConfig(select=[only] if only else []))


def codes_of(diags: list[Diagnostic]) -> list[str]:
    return [d.code for d in diags]


# ---- the registry and the fixture tree agree ------------------------------------------------


def test_registry_is_not_empty() -> None:
    assert CODES, "policyc.lint.registry.all_codes() is empty"


def test_every_fixture_folder_is_a_registered_code() -> None:
    folders = {p.name for p in (REPO / GOLDEN).iterdir() if p.is_dir()}
    assert folders - set(CODES) == set(), "fixture folders for codes that no longer exist"
    assert set(CODES) - folders == set(), "registered codes without fixtures"


def test_missing_input_fixture_really_is_missing() -> None:
    assert not (REPO / MISSING_INPUT).exists()
    assert (REPO / GOLDEN / "POL002" / "README.md").is_file()


# ---- documentation ------------------------------------------------------------------------


@pytest.mark.parametrize("code", CODES)
def test_doc_page(code: str) -> None:
    spec = all_codes()[code]
    page = REPO / DOCS / f"{code}.md"
    assert page.is_file(), f"{page} is missing"
    text = page.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0] == f"# {code}: {spec.name}", "title must be `# CODE: kebab-name`"
    assert re.search(rf"^Default severity: \*\*{spec.severity.value}\*\*", text, re.M), (
        f"the page must state the default severity ({spec.severity.value})")
    headings = [ln for ln in lines if ln.startswith("## ")]
    required = [h for h in headings if h in SECTIONS]
    assert required == list(SECTIONS), f"sections must be exactly {SECTIONS}, in order"
    extra = [h for h in headings if h not in SECTIONS and h not in OPTIONAL_SECTIONS]
    assert not extra, f"unexpected sections {extra}"
    # POL002 is about a path, not policy text: its example is a command line
    fence = "```console" if code == "POL002" else "```pol"
    example = text.split("## Example", 1)[1].split("## Use instead", 1)[0]
    assert fence in example, f"the example needs a `{fence[3:]}` snippet"
    assert f"[{code}]" in example, "the example needs the diagnostic it produces"
    fix = text.split("## Use instead", 1)[1].split("## Notes", 1)[0]
    assert fence in fix, f"`Use instead` needs the fixed `{fence[3:]}` snippet"


def test_docs_index_lists_every_code() -> None:
    index = (REPO / DOCS / "README.md").read_text(encoding="utf-8")
    for code, spec in all_codes().items():
        row = next((ln for ln in index.splitlines() if f"[{code}]({code}.md)" in ln), None)
        assert row is not None, f"{code} is not linked from docs/rules/README.md"
        assert f"`{spec.name}`" in row and spec.severity.value in row, row


# ---- fixtures ------------------------------------------------------------------------------


@pytest.mark.parametrize("code", CODES)
def test_fire_fixture_produces_code(code: str, in_repo: Path) -> None:
    path = fire_path(code)
    if code != "POL002":
        assert path.is_file(), f"{path} is missing"
    _, diags = lint(path)
    found = [d for d in diags if d.code == code]
    assert found, f"{path} should produce {code}; got {codes_of(diags)}"
    spec = all_codes()[code]
    assert all(d.severity == spec.severity for d in found), "default severity"
    assert all(d.span is not None for d in found), "every finding points at the source"


@pytest.mark.parametrize("code", CODES)
def test_clean_fixture_does_not_produce_code(code: str, in_repo: Path) -> None:
    path = clean_path(code)
    assert path.is_file(), f"{path} is missing"
    _, diags = lint(path)
    assert code not in codes_of(diags), f"{path} should not produce {code}"


@pytest.mark.parametrize("code", [c for c in CODES if _is_semantic(c)])
def test_semantic_findings_carry_a_witness(code: str, in_repo: Path) -> None:
    program, diags = lint(fire_path(code))
    found = [d for d in diags if d.code == code]
    assert found
    if code in NO_WITNESS:
        assert all(d.witness is None for d in found), "an empty region has no witness"
        return
    known: set[str] = set()
    for policy in program.policies.values():
        known |= set(policy.categories) | set(policy.contexts)
    for d in found:
        assert d.witness, f"{code} finding without a witness: {d.message}"
        assert set(d.witness) <= known, f"witness names unknown variables: {d.witness}"


# ---- golden rendering ------------------------------------------------------------------------


@pytest.mark.parametrize("code", CODES)
def test_fire_rendering_matches_golden(code: str, in_repo: Path, update_golden: bool) -> None:
    program, diags = lint(fire_path(code), only=code)
    assert code in codes_of(diags)
    rendered = format_human(diags, program.sources)
    check_golden(GOLDEN / code / "fire.expected.txt", rendered, update_golden)


# ---- POL201 across a hierarchy ----------------------------------------------------------------

_PARENT_TIED = """policy t.parent version "1" {
  owner "o"
  categories { c }
  resolve priority
  default allow
  rule p0: allow when c priority 1
  rule p1: warn("w") when c
  rule p2: refuse when c
}
"""


@pytest.mark.parametrize("child_body,reported", [
    ("  drop p0\n", True),  # the child makes p1/p2 tie: its own ambiguity
    ("  rule c0: warn(\"x\") when c priority 2\n", False),  # nothing new ties
])
def test_pol201_ambiguity_a_child_creates_is_reported_in_the_child(
        tmp_path: Path, child_body: str, reported: bool) -> None:
    (tmp_path / "parent.pol").write_text(_PARENT_TIED)
    (tmp_path / "child.pol").write_text(
        'policy t.child version "1" {\n  extends t.parent\n  owner "o"\n' + child_body + "}\n")
    _, parent_diags = lint(tmp_path / "parent.pol")
    assert "POL201" not in codes_of(parent_diags)  # p0 outranks both in the parent
    _, child_diags = lint(tmp_path / "child.pol")
    assert ("POL201" in codes_of(child_diags)) == reported
