"""`policyc lint`: every diagnostic (syntax, names, types, overlaps, dead rules, gaps,
hierarchy) as text, JSON, SARIF or GitHub annotations.

Exit codes: 0 no finding at or above `--fail-on`; 1 findings at or above it; 2 the input
or the configuration could not be processed.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Callable
from pathlib import Path

from policyc.commands.console import fail, note, print_diagnostics
from policyc.commands.inputs import given_files, is_stdin, load_inputs, single_stdin
from policyc.diagnostics import Diagnostic, Severity
from policyc.lint.config import ConfigError, check_selectors, find_config
from policyc.lint.fixes import fix_program
from policyc.lint.registry import all_codes
from policyc.lint.runner import exit_code, run_rules
from policyc.render import machine
from policyc.semantics.program import Program, load_policy_text


def _codes(values: list[str] | None) -> list[str]:
    return [c.strip().upper() for v in values or [] for c in v.split(",") if c.strip()]


def run(files: list[Path], format: str, fail_on: str | None, select: list[str] | None,
        ignore: list[str] | None, path: list[Path], stdin_filename: str | None = None, *,
        fix: bool = False, unsafe_fixes: bool = False, diff: bool = False) -> int:
    start = Path(stdin_filename) if stdin_filename and is_stdin(files[0]) else files[0]
    try:
        config = find_config(start)
        if select:
            config.select = _codes(select)
            check_selectors(config.select, "`--select`")
        if ignore:
            check_selectors(_codes(ignore), "`--ignore`")
            config.ignore = [*config.ignore, *_codes(ignore)]
    except ConfigError as err:
        return fail(str(err), err.help or "fix the `[tool.policyc]` table or `policyc.toml`")
    search = [*path, *map(Path, config.path)]
    program = load_inputs(files, search, stdin_filename)
    diagnostics = run_rules(program, config)
    if diff:
        return _show_fixes(program, diagnostics, unsafe_fixes)
    if fix:
        program, diagnostics = _apply_fixes(
            files, program, diagnostics, unsafe_fixes,
            lambda: load_inputs(files, search, stdin_filename), lambda p: run_rules(p, config))
    threshold = Severity(fail_on) if fail_on else (config.fail_on or Severity.error)
    if fix and is_stdin(files[0]):  # the fixed source owns stdout: findings go to stderr
        print_diagnostics(diagnostics, program.sources)
    elif format == "text":
        print_diagnostics(diagnostics, program.sources, stderr=False)
        if not diagnostics:
            n = given_files(files)
            reached = len(program.workspace.files) - n
            more = f" ({reached} parent file{'s' if reached != 1 else ''} read)" \
                if reached > 0 else ""
            note(f"{n} file{'s' if n != 1 else ''} checked{more}: no findings", stderr=False)
    elif format == "json":
        sys.stdout.write(machine.dumps(machine.to_lint_json(diagnostics)))
    elif format == "sarif":
        sys.stdout.write(machine.dumps(machine.to_sarif(
            diagnostics, all_codes(), docs_url=config.docs_url or machine.DEFAULT_DOCS_URL)))
    else:
        out = machine.to_github(diagnostics)
        sys.stdout.write(out + ("\n" if out and not out.endswith("\n") else ""))
    return exit_code(diagnostics, threshold)


def _show_fixes(program: Program, diagnostics: list[Diagnostic], unsafe: bool) -> int:
    """`lint --diff`: the fixes as a unified diff, nothing written; exit 1 if any."""
    changes = fix_program(program, diagnostics, unsafe)
    for name, (old, new, _) in changes.items():
        sys.stdout.writelines(difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True),
            fromfile=f"a/{name}", tofile=f"b/{name}"))
    total = sum(n for _, _, n in changes.values())
    note(f"{total} fix{'es' if total != 1 else ''} available")
    return 1 if changes else 0


def _apply_fixes(files: list[Path], program: Program, diagnostics: list[Diagnostic],
                 unsafe: bool, reload: Callable[[], Program],
                 relint: Callable[[Program], list[Diagnostic]]
                 ) -> tuple[Program, list[Diagnostic]]:
    """`lint --fix` (docs/cli.md, *Fixes*): one pass of fixes, then lint again."""
    changes = fix_program(program, diagnostics, unsafe)
    if single_stdin(files):  # ruff's habit: the fixed source on stdout, findings on stderr
        root = program.roots[0].path if program.roots else next(iter(program.sources))
        fixed = changes[root][1] if root in changes else program.sources.get(root, "")
        sys.stdout.write(fixed)
        if changes:
            program = load_policy_text(fixed, root, list(program.workspace.search_path))
            diagnostics = relint(program)
        return program, diagnostics
    for name, (_, new, _) in changes.items():
        Path(name).write_text(new, encoding="utf-8")
    if not changes:
        return program, diagnostics
    total = sum(n for _, _, n in changes.values())
    note(f"fixed {total} finding{'s' if total != 1 else ''} in {len(changes)} "
         f"file{'s' if len(changes) != 1 else ''}", stderr=False)
    program = reload()
    return program, relint(program)
