"""`policyc compile FILE -o BUNDLE [--strict]`.

Exit codes: 2 when the input has no defined meaning (syntax, unknown names, types,
cycles, a model path that escapes its folder) or contradicts its parents (a loosened
locked floor, a raised locked threshold, a broken `narrowing`: POL301, POL302, POL304):
nothing is written; 1 with `--strict` when lint reports another error-severity finding
(overlap, ambiguity, gap): the input is meaningful but the user asked to refuse
findings, which is what exit 1 means everywhere else (CLI.md); 0 when the bundle was
written. Every successful compile ends with one line counting the lint errors that did
not block it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from policyc.commands.console import cannot_write, fail, note, print_diagnostics, print_error
from policyc.commands.inputs import is_stdin, load_inputs, stdin_display
from policyc.compile.pipeline import compile_program
from policyc.diagnostics import Diagnostic
from policyc.lint.gate import COMPILE_GATE

SCHEMA = "policyc/compile/v1"


def _refusal(file: Path, output: Path, sources: list[str]) -> tuple[str, str] | None:
    """Why writing the bundle to `output` would destroy policy source, or None."""
    if is_stdin(output):
        if sys.stdout.isatty():
            return ("a bundle is binary: not written to a terminal",
                    "redirect standard output to a file, e.g. `-o - > chat.bundle`")
        return None
    target = output.resolve()
    given: list[str | Path] = [*([] if is_stdin(file) else [file]), *sources]
    if any(Path(s).resolve() == target for s in given):
        return (f"`{output}` is a policy source of this compile: the bundle would overwrite it",
                "write the bundle to another file, e.g. `-o "
                f"{Path(output).with_suffix('.bundle').name}`")
    if output.suffix == ".pol":
        return (f"`{output}` has the suffix of policy sources",
                "give the bundle another name, e.g. "
                f"`-o {Path(output).with_suffix('.bundle').name}`")
    return None


def run(file: Path, output: Path, strict: bool, path: list[Path],
        stdin_filename: str | None = None, format: str = "text") -> int:
    program = load_inputs([file], list(path), stdin_filename)
    shown = stdin_display(stdin_filename) if is_stdin(file) else str(file)
    refusal = _refusal(file, output, list(program.workspace.files))
    if refusal is not None:
        return fail(*refusal)
    state = compile_program(program, strict, lint=True, gate=COMPILE_GATE)
    sources = state.program.sources if state.program is not None else {}
    print_diagnostics(state.diagnostics, sources)
    if state.bundle is None or state.manifest is None:
        fatal = any(d.fatal for d in state.diagnostics)
        print_error(f"{shown} was not compiled" + ("" if fatal else " (--strict)"))
        return 2 if fatal else 1
    try:
        if is_stdin(output):
            sys.stdout.buffer.write(state.bundle)
            sys.stdout.buffer.flush()
        else:
            output.write_bytes(state.bundle)
    except OSError as exc:
        return cannot_write(output, exc)
    s = state.stats
    m = state.manifest
    if format == "json":
        result = {"schema": SCHEMA, "policy": m.policy, "version": m.version, "hash": m.hash,
                  "output": None if is_stdin(output) else str(output), "strategy": m.strategy,
                  "stats": dict(s),
                  "lint": {"errors": len(state.lint_errors),
                           "codes": sorted({d.code for d in state.lint_errors})}}
        text = json.dumps(result, ensure_ascii=False, indent=2) + "\n"
        # the bundle owns stdout with `-o -`: the report goes to stderr then
        (sys.stderr if is_stdin(output) else sys.stdout).write(text)
        return 0
    to_stderr = is_stdin(output)
    where = "<stdout>" if to_stderr else str(output)
    note(f"compiled {m.policy} {m.version} -> {where}", stderr=to_stderr)
    note(f"hash {m.hash}", stderr=to_stderr)
    note(f"strategy {m.strategy}: {s['rules']} rules, {s['entries']} entries, "
         f"{s['variables']} variables, {s['groups']} groups, {s['cells']} cells, "
         f"{s['bytes']} bytes", stderr=to_stderr)
    note(lint_summary(state.lint_errors, shown), stderr=to_stderr)
    return 0


def lint_summary(errors: list[Diagnostic], file: str) -> str:
    """One line: the lint errors that do not block `compile` (without `--strict`)."""
    if not errors:
        return "lint: no errors"
    codes = sorted({d.code for d in errors})
    n = len(errors)
    return (f"lint: {n} error{'s' if n != 1 else ''} ({', '.join(codes)}) "
            f"{'do' if n != 1 else 'does'} not block the bundle; `policyc lint {file}` "
            f"shows {'them' if n != 1 else 'it'}, `--strict` refuses {'them' if n != 1 else 'it'}")
