"""The examples (`examples/**/*.pol`): lint clean, compile, test blocks pass, README commands.

Every example lints with 0 errors and 0 warnings, compiles, carries `test`
blocks and passes them when the compiled bundle decides them through the
runtime. The v1 -> v2 pair under `examples/diff/` must fail the loosening gate.
The commands of `examples/README.md` are run by `tests/docs/test_doc_commands.py`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from policyc.diagnostics import Severity
from policyc.lint.config import LintConfig
from policyc.lint.runner import lint_paths

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
POLICIES = sorted(p for p in EXAMPLES.rglob("*.pol") if "data" not in p.parts)


def _name(path: Path) -> str:
    return str(path.relative_to(REPO))


# compile_bundle / run_policy_tests: one definition, in tests/stdlib/test_stdlib_policies.py
from stdlib.test_stdlib_policies import compile_bundle, run_policy_tests  # noqa: E402

# ---- every example ---------------------------------------------------------------------


def test_the_examples_exist() -> None:
    names = {_name(p) for p in POLICIES}
    assert {"examples/consumer_chat/chat.pol", "examples/coding_agent/agent.pol",
            "examples/healthcare/assistant.pol", "examples/diff/v1.pol",
            "examples/diff/v2.pol"} <= names


@pytest.mark.parametrize("path", POLICIES, ids=_name)
def test_lints_with_no_errors_or_warnings(path: Path) -> None:
    _, diagnostics = lint_paths([path], LintConfig())
    bad = [d for d in diagnostics if d.severity in (Severity.error, Severity.warning)]
    assert not bad, "\n".join(f"{d.code} {d.span}: {d.message}" for d in bad)


@pytest.mark.parametrize("path", POLICIES, ids=_name)
def test_compiles_and_tests_pass(path: Path) -> None:
    checker = compile_bundle(path)
    assert checker.manifest.tests, "every example carries test blocks"
    assert not run_policy_tests(checker)


def test_text_and_given_tests_both_used() -> None:
    """The three product examples test both from given scores and from text."""
    for rel in ("consumer_chat/chat.pol", "coding_agent/agent.pol", "healthcare/assistant.pol"):
        tests = compile_bundle(EXAMPLES / rel).manifest.tests
        assert any(t.text for t in tests) and any(t.given and not t.text for t in tests), rel


def test_coding_agent_redacts_only_what_it_must() -> None:
    checker = compile_bundle(EXAMPLES / "coding_agent" / "agent.pol")
    d = checker.check(text="deploy with AKIAIOSFODNN7EXAMPLE, ping ops@example.com",
                      context={"direction": "output"})
    assert d.action == "redact"
    assert d.redacted == "deploy with [REDACTED], ping [REDACTED]"
    d = checker.check(text="deploy with AKIAIOSFODNN7EXAMPLE", context={"direction": "input"})
    assert d.redacted == "deploy with [REDACTED]"


# ---- the diff gate -----------------------------------------------------------------------


def _policyc(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "policyc", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=300,
                          env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"})


def test_diff_gate_catches_the_loosening() -> None:
    result = _policyc("diff", "examples/diff/v1.pol", "examples/diff/v2.pol",
                      "--fail-on", "loosened")
    assert result.returncode == 1, result.stdout + result.stderr
    assert _policyc("diff", "examples/diff/v1.pol", "examples/diff/v1.pol",
                    "--fail-on", "loosened").returncode == 0
