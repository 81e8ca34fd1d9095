"""The code table in `policyc.diagnostics.codes` is the one place a code's severity is
written: no module builds a `Diagnostic` with a severity of its own, and every code the
package emits is in the table and documented."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from policyc.diagnostics import CODES, diagnostic
from policyc.lint.registry import all_codes

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "policyc"
TABLE_HOME = PACKAGE / "diagnostics"
CODE = re.compile(r"POL\d{3}")


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _foreign_names(tree: ast.Module) -> set[str]:
    """Names bound to other libraries' modules (`from lsprotocol import types as lsp`):
    their `Diagnostic` is not policyc's."""
    return {a.asname or a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
            and (node.module or "").split(".")[0] not in ("policyc", "") for a in node.names}


def _is_diagnostic_class(func: ast.expr, foreign: set[str]) -> bool:
    return (isinstance(func, ast.Name) and func.id == "Diagnostic") or (
        isinstance(func, ast.Attribute) and func.attr == "Diagnostic"
        and not (isinstance(func.value, ast.Name) and func.value.id in foreign))


def _direct_constructions(path: Path, root: Path = REPO) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    foreign = _foreign_names(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _is_diagnostic_class(node.func, foreign):
            keywords = sorted(k.arg for k in node.keywords if k.arg)
            found.append(f"{path.relative_to(root)}:{node.lineno} Diagnostic({', '.join(keywords)})")
    return found


def test_no_module_sets_a_severity_of_its_own() -> None:
    """Outside `policyc/diagnostics/`, diagnostics are built with `diagnostic(code, ...)`,
    which reads the severity from the table."""
    offenders = [hit for path in _modules() if TABLE_HOME not in path.parents
                 for hit in _direct_constructions(path)]
    assert offenders == [], "build diagnostics with policyc.diagnostics.diagnostic(code, ...)"


def test_the_check_sees_a_hard_coded_severity(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from policyc import diagnostics\n"
                   "d = diagnostics.Diagnostic(code='POL101', severity='warning', message='m')\n")
    assert _direct_constructions(bad, tmp_path) == ["bad.py:2 Diagnostic(code, message, severity)"]
    other = tmp_path / "lsp.py"  # another library's Diagnostic is not policyc's
    other.write_text("from lsprotocol import types as lsp\n"
                     "d = lsp.Diagnostic(range=None, message='m')\n")
    assert _direct_constructions(other, tmp_path) == []


def _codes_used() -> dict[str, list[str]]:
    used: dict[str, list[str]] = {}
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and CODE.fullmatch(node.value):
                used.setdefault(node.value, []).append(f"{path.relative_to(REPO)}:{node.lineno}")
    return used


def test_every_code_used_is_in_the_table_and_documented() -> None:
    used = _codes_used()
    assert len(used) >= len(CODES) - 1, "the scan finds the codes the package emits"
    unknown = {code: where for code, where in used.items() if code not in CODES}
    assert unknown == {}, "codes missing from policyc/diagnostics/codes.py"
    undocumented = [code for code in used if not (REPO / CODES[code].doc_path).is_file()]
    assert undocumented == []


def test_every_code_in_the_table_is_emitted() -> None:
    assert sorted(set(CODES) - set(_codes_used())) == []


def test_lint_registry_reads_the_table() -> None:
    specs = all_codes()
    assert list(specs) == sorted(CODES)
    for code, spec in specs.items():
        entry = CODES[code]
        assert (spec.name, spec.severity, spec.summary) == (entry.name, entry.severity,
                                                            entry.summary)


@pytest.mark.parametrize("code", sorted(CODES))
def test_diagnostic_takes_the_table_severity(code: str) -> None:
    assert diagnostic(code, "m").severity is CODES[code].severity
