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

from pathlib import Path

from rich.console import Console

from policyc.diagnostics import Diagnostic


def run_compile(file: Path, output: Path, strict: bool, path: list[Path]) -> int:
    from policyc.compile.pipeline import compile_file
    from policyc.render.human import render_human

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    state = compile_file(file, list(path), strict, lint=True)
    sources = state.program.sources if state.program is not None else {}
    if state.diagnostics:
        render_human(state.diagnostics, sources, err)
    if state.bundle is None or state.manifest is None:
        fatal = any(d.fatal for d in state.diagnostics)
        err.print(f"error: {file} was not compiled" + ("" if fatal else " (--strict)"),
                  markup=False)
        return 2 if fatal else 1
    try:
        output.write_bytes(state.bundle)
    except OSError as exc:
        err.print(f"error: cannot write {output}: {exc.strerror or exc}", markup=False)
        return 2
    s = state.stats
    out = Console(highlight=False, soft_wrap=True)
    out.print(f"compiled {state.manifest.policy} {state.manifest.version} -> {output}",
              markup=False)
    out.print(f"hash {state.manifest.hash}", markup=False)
    out.print(f"strategy {state.manifest.strategy}: {s['rules']} rules, {s['entries']} entries, "
              f"{s['variables']} variables, {s['groups']} groups, {s['cells']} cells, "
              f"{s['bytes']} bytes", markup=False)
    out.print(lint_summary(state.lint_errors, file), markup=False)
    return 0


def lint_summary(errors: list[Diagnostic], file: Path) -> str:
    """One line: the lint errors that do not block `compile` (without `--strict`)."""
    if not errors:
        return "lint: no errors"
    codes = sorted({d.code for d in errors})
    n = len(errors)
    return (f"lint: {n} error{'s' if n != 1 else ''} ({', '.join(codes)}) "
            f"{'do' if n != 1 else 'does'} not block the bundle; `policyc lint {file}` "
            f"shows {'them' if n != 1 else 'it'}, `--strict` refuses {'them' if n != 1 else 'it'}")
