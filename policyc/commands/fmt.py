"""`policyc fmt`: format policies canonically, in place, or check or diff the result.

Exit codes: 0 formatted (or nothing to change); 1 with `--check` or `--diff` when a file
would change; 2 a file could not be read or parsed (nothing is written for it).
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

from policyc.commands.console import note, print_diagnostics
from policyc.commands.inputs import read_stdin_text, require_policies, single_stdin, stdin_display
from policyc.diagnostics import PolicycError
from policyc.semantics.loader import expand_inputs
from policyc.syntax.fmt import format_text
from policyc.syntax.parse import read_source


def _unified(name: str, old: str, new: str) -> None:
    sys.stdout.writelines(difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True),
        fromfile=f"a/{name}", tofile=f"b/{name}"))


def _run_stdin(check: bool, diff: bool, stdin_filename: str | None) -> int:
    """`policyc fmt -`: standard input formatted to standard output."""
    name = stdin_display(stdin_filename)
    text = read_stdin_text(stdin_filename)
    try:
        out = format_text(text, name)
    except PolicycError as err:
        print_diagnostics(err.diagnostics, {name: text})
        return 2
    if diff:
        _unified(name, text, out)
    elif not check:
        sys.stdout.write(out)
    if out != text and (check or diff):
        note(f"would reformat {name}")
        return 1
    return 0


def run(files: list[Path], check: bool, diff: bool, stdin_filename: str | None = None) -> int:
    if single_stdin(files):
        return _run_stdin(check, diff, stdin_filename)
    require_policies(files)
    paths, problems = expand_inputs(list(files))
    sources: dict[str, str] = {}
    errors = list(problems)
    changed: list[str] = []
    unchanged = 0
    for p in paths:
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            shown, problems = read_source(p)
            errors.extend(problems)
            if shown is not None:
                sources[str(p)] = shown  # the bad line, for the snippet
            continue
        sources[str(p)] = text
        try:
            out = format_text(text, str(p))
        except PolicycError as err:
            errors.extend(err.diagnostics)
            continue
        if out == text:
            unchanged += 1
            continue
        changed.append(str(p))
        if diff:
            _unified(str(p), text, out)
        elif not check:
            p.write_text(out, encoding="utf-8")
    print_diagnostics(errors, sources)
    verb = "would reformat" if (check or diff) else "reformatted"
    for name in changed:
        note(f"{verb} {name}")
    note(f"{len(changed)} file{'s' if len(changed) != 1 else ''} {verb}, {unchanged} unchanged")
    if errors:
        return 2
    if (check or diff) and changed:
        return 1
    return 0
