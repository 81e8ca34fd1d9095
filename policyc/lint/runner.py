"""Runs the front end and every enabled lint rule; applies suppressions and config."""

from __future__ import annotations

import re
from pathlib import Path

from policyc.diagnostics import Diagnostic, Severity, sort_diagnostics
from policyc.lint.config import LintConfig
from policyc.lint.context import LintContext
from policyc.lint.memo import SearchMemo
from policyc.lint.registry import all_codes
from policyc.semantics.model import FlatPolicy
from policyc.semantics.program import Program, load_program

_SUPPRESS = re.compile(r"#\s*policyc:\s*ignore\[([A-Za-z0-9_,\s]+)\]")


def suppressions(program: Program) -> dict[str, dict[int, set[str]]]:
    """file → line → codes suppressed by `# policyc: ignore[CODE, ...]` on or above it."""
    out: dict[str, dict[int, set[str]]] = {}
    for path, module in program.workspace.files.items():
        lines: dict[int, set[str]] = {}
        for comment in module.comments:
            m = _SUPPRESS.search(comment.text)
            if m and comment.span is not None:
                codes = {c.strip() for c in m.group(1).split(",") if c.strip()}
                for line in (comment.span.line, comment.span.line + 1):
                    lines.setdefault(line, set()).update(codes)
        out[path] = lines
    return out


def _suppressed(d: Diagnostic, table: dict[str, dict[int, set[str]]]) -> bool:
    if d.span is None or d.fatal:
        return False
    codes = table.get(d.span.file, {}).get(d.span.line, set())
    return d.code in codes or "all" in codes


def run_rules(program: Program, config: LintConfig,
              policies: list[FlatPolicy] | None = None, memo: SearchMemo | None = None
              ) -> list[Diagnostic]:
    """Front-end diagnostics plus every enabled semantic rule, on every root policy (or on
    the given ones). `memo`: region searches remembered from earlier versions (an
    editor's; the findings are the same with or without)."""
    found = list(program.diagnostics)
    if not program.fatal:
        specs = [s for s in all_codes().values() if s.check is not None and config.enabled(s.code)]
        for policy in program.policies.values() if policies is None else policies:
            ctx = LintContext(program, policy, memo)
            for spec in specs:
                found.extend(spec.check(ctx))  # type: ignore[misc]
    table = suppressions(program)
    out = []
    for d in found:
        if not d.fatal and not config.enabled(d.code):
            continue
        if _suppressed(d, table):
            continue
        if d.code in config.severity and not d.fatal:
            d = d.model_copy(update={"severity": config.severity[d.code]})
        out.append(d)
    return sort_diagnostics(out)


def lint_paths(inputs: list[str | Path], config: LintConfig,
               search_path: list[str | Path] | None = None) -> tuple[Program, list[Diagnostic]]:
    program = load_program(inputs, [*(search_path or []), *config.path])
    return program, run_rules(program, config)


def exit_code(diagnostics: list[Diagnostic], fail_on: Severity) -> int:
    """CLI.md: 2 input could not be processed, 1 findings at/above `--fail-on`, else 0."""
    if any(d.fatal for d in diagnostics):
        return 2
    if any(d.severity.rank >= fail_on.rank for d in diagnostics):
        return 1
    return 0
