"""`policyc lint`: every diagnostic (syntax, names, types, overlaps, dead rules, gaps,
hierarchy) as text, JSON, SARIF or GitHub annotations.

Exit codes: 0 no finding at or above `--fail-on`; 1 findings at or above it; 2 the input
or the configuration could not be processed.
"""

from __future__ import annotations

import sys
from pathlib import Path

from policyc.commands.console import fail, note, print_diagnostics
from policyc.commands.inputs import given_files, is_stdin, load_inputs
from policyc.diagnostics import Severity
from policyc.lint.config import ConfigError, check_selectors, find_config
from policyc.lint.registry import all_codes
from policyc.lint.runner import exit_code, run_rules
from policyc.render import machine


def _codes(values: list[str] | None) -> list[str]:
    return [c.strip().upper() for v in values or [] for c in v.split(",") if c.strip()]


def run(files: list[Path], format: str, fail_on: str | None, select: list[str] | None,
        ignore: list[str] | None, path: list[Path], stdin_filename: str | None = None) -> int:
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
    program = load_inputs(files, [*path, *map(Path, config.path)], stdin_filename)
    diagnostics = run_rules(program, config)
    threshold = Severity(fail_on) if fail_on else (config.fail_on or Severity.error)
    if format == "text":
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
