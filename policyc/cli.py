"""The `policyc` command line (CLI.md): fixed exit codes, lazy imports for a fast start.

0: success; 1: findings at or above `--fail-on`, failed tests or gates, semantic
changes `--fail-on` names; 2: input that could not be processed (syntax, unknown
names, unreadable files, bad bundles, bad flags). Never a traceback for bad input.
"""

from __future__ import annotations

import gc
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Optional

import typer

if TYPE_CHECKING:
    from policyc.diagnostics import Diagnostic
    from policyc.semantics.program import Program

app = typer.Typer(
    name="policyc", no_args_is_help=True, add_completion=False, rich_markup_mode=None,
    help="Policy-as-code compiler and linter for AI-safety guardrails.",
    context_settings={"help_option_names": ["-h", "--help"]},
)

PathOpt = Annotated[Optional[list[Path]], typer.Option(
    "--path", help="Extra folder to search for parent policies (repeatable).")]


class LintFormat(str, Enum):
    text = "text"
    json = "json"
    sarif = "sarif"
    github = "github"


class FailOn(str, Enum):
    error = "error"
    warning = "warning"
    info = "info"


class DiffFormat(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


class DiffFailOn(str, Enum):
    loosened = "loosened"
    any = "any"


class GraphFormat(str, Enum):
    mermaid = "mermaid"
    dot = "dot"
    svg = "svg"


class TestFormat(str, Enum):
    text = "text"
    json = "json"
    junit = "junit"


def _version(value: bool) -> None:
    if value:
        from policyc import __version__

        typer.echo(f"policyc {__version__}")
        raise typer.Exit(0)


@app.callback()
def main_options(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Policy-as-code compiler and linter for AI-safety guardrails."""


# ---- shared output helpers ------------------------------------------------------------------


def _console(stderr: bool = False):  # type: ignore[no-untyped-def]
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _fail(message: str, help: str | None = None, code: int = 2) -> NoReturn:
    console = _console(stderr=True)
    console.print(f"[bold red]error[/]: {message}", markup=True)
    if help:
        console.print(f"  = help: {help}", markup=False)
    raise typer.Exit(code)


def _print_diagnostics(diagnostics: list[Diagnostic], sources: dict[str, str],
                       stderr: bool = True) -> None:
    from policyc.render.human import render_human

    if diagnostics:
        render_human(diagnostics, sources, _console(stderr=stderr))


def _load(inputs: list[Path], path: list[Path] | None) -> Program:
    from policyc.semantics.program import load_program

    return load_program(list(inputs), list(path or []))


def _require_clean(program: Program) -> None:
    """Exit 2 with located diagnostics when the front end could not process the input."""
    fatal = [d for d in program.diagnostics if d.fatal]
    if fatal:
        _print_diagnostics(fatal, program.sources)
        raise typer.Exit(2)


# ---- fmt ---------------------------------------------------------------------------------------


@app.command()
def fmt(
    files: Annotated[list[Path], typer.Argument(help="Files or folders to format.")],
    check: Annotated[bool, typer.Option("--check", help="Exit 1 if a file would change.")] = False,
    diff: Annotated[bool, typer.Option("--diff", help="Print a diff instead of writing.")] = False,
) -> None:
    """Format policies canonically (keeps comments; idempotent)."""
    import difflib

    from policyc.diagnostics import PolicycError
    from policyc.semantics.loader import expand_inputs
    from policyc.syntax.fmt import format_text

    paths, problems = expand_inputs(list(files))
    sources: dict[str, str] = {}
    errors = list(problems)
    changed: list[str] = []
    for p in paths:
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            from policyc.syntax.parse import parse_file

            errors.extend(parse_file(p)[1])
            del err
            continue
        sources[str(p)] = text
        try:
            out = format_text(text, str(p))
        except PolicycError as err:
            errors.extend(err.diagnostics)
            continue
        if out == text:
            continue
        changed.append(str(p))
        if diff:
            sys.stdout.writelines(difflib.unified_diff(
                text.splitlines(keepends=True), out.splitlines(keepends=True),
                fromfile=f"a/{p}", tofile=f"b/{p}"))
        elif not check:
            p.write_text(out, encoding="utf-8")
    if errors:
        _print_diagnostics(errors, sources)
    console = _console(stderr=True)
    verb = "would reformat" if (check or diff) else "reformatted"
    for name in changed:
        console.print(f"{verb} {name}", markup=False)
    console.print(f"{len(changed)} file{'s' if len(changed) != 1 else ''} {verb}, "
                  f"{len(paths) - len(changed) - len(errors)} unchanged", markup=False)
    if errors:
        raise typer.Exit(2)
    if check and changed:
        raise typer.Exit(1)


# ---- lint --------------------------------------------------------------------------------------


def _codes(values: list[str] | None) -> list[str]:
    return [c.strip().upper() for v in values or [] for c in v.split(",") if c.strip()]


@app.command()
def lint(
    files: Annotated[list[Path], typer.Argument(help="Files or folders (recursive).")],
    format: Annotated[LintFormat, typer.Option("--format", "-f")] = LintFormat.text,
    fail_on: Annotated[Optional[FailOn], typer.Option(
        "--fail-on", help="Lowest severity that makes the exit code 1 [default: error].")] = None,
    select: Annotated[Optional[list[str]], typer.Option(
        "--select", help="Only these codes or prefixes (comma-separated, repeatable).")] = None,
    ignore: Annotated[Optional[list[str]], typer.Option(
        "--ignore", help="Skip these codes or prefixes.")] = None,
    path: PathOpt = None,
) -> None:
    """Report every diagnostic: syntax, names, types, overlaps, dead rules, gaps, hierarchy."""
    from policyc.diagnostics import Severity
    from policyc.lint.config import ConfigError, find_config
    from policyc.lint.runner import exit_code, lint_paths

    try:
        config = find_config(files[0] if files else Path.cwd())
    except ConfigError as err:
        _fail(str(err), "fix the `[tool.policyc]` table or `policyc.toml`")
    if select:
        config.select = _codes(select)
    if ignore:
        config.ignore = [*config.ignore, *_codes(ignore)]
    program, diagnostics = lint_paths(list(files), config, list(path or []))
    threshold = Severity(fail_on.value) if fail_on else (config.fail_on or Severity.error)
    if format is LintFormat.text:
        _print_diagnostics(diagnostics, program.sources, stderr=False)
        if not diagnostics:
            n = len(program.workspace.files)
            _console().print(f"{n} file{'s' if n != 1 else ''} checked: no findings",
                             markup=False)
    else:
        from policyc.render import machine

        if format is LintFormat.json:
            sys.stdout.write(machine.dumps(machine.to_lint_json(diagnostics)))
        elif format is LintFormat.sarif:
            from policyc.lint.registry import all_codes

            sys.stdout.write(machine.dumps(machine.to_sarif(
                diagnostics, all_codes(), docs_url=config.docs_url or machine.DEFAULT_DOCS_URL)))
        else:
            out = machine.to_github(diagnostics)
            sys.stdout.write(out + ("\n" if out and not out.endswith("\n") else ""))
    raise typer.Exit(exit_code(diagnostics, threshold))


@app.command()
def rules() -> None:
    """List every diagnostic code with its name, severity and summary."""
    from policyc.lint.registry import all_codes

    for spec in all_codes().values():
        typer.echo(f"{spec.code}  {spec.name:<28} {spec.severity.value:<8} {spec.summary}")


# ---- graph -------------------------------------------------------------------------------------


@app.command()
def graph(
    files: Annotated[list[Path], typer.Argument(help="Files or folders.")],
    format: Annotated[GraphFormat, typer.Option("--format", "-f")] = GraphFormat.mermaid,
    path: PathOpt = None,
) -> None:
    """Print the policy hierarchy and the rule-overlap graph (mermaid, dot or svg)."""
    from policyc.graph import render_graph

    program = _load(files, path)
    _require_clean(program)
    try:
        sys.stdout.write(render_graph(program, format.value))
    except RuntimeError as err:
        _fail(str(err), "install Graphviz (`dot`) for svg, or use `--format dot`")


# ---- check / explain ---------------------------------------------------------------------------


@app.command()
def check(
    target: Annotated[Path, typer.Argument(help="A compiled bundle or a `.pol` file.")],
    text: Annotated[Optional[str], typer.Option("--text", help="Text to classify.")] = None,
    context: Annotated[Optional[list[str]], typer.Option(
        "--context", "-c", help="Attribute as key=value (repeatable).")] = None,
    score: Annotated[Optional[list[str]], typer.Option(
        "--score", "-s", help="Category score as category=x (repeatable).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the decision as JSON.")] = False,
    input: Annotated[Optional[Path], typer.Option(
        "--input", "-i", help="Batch: events as JSON Lines (`-`: standard input).")] = None,
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Batch: write decisions here (default or `-`: stdout).")] = None,
    audit_log: Annotated[Optional[Path], typer.Option(
        "--audit-log", help="Append `policyc/audit/v1` records (JSON Lines).")] = None,
    path: PathOpt = None,
) -> None:
    """Decide one event, or a batch of events with `--input`."""
    from policyc.checking import run_check

    raise typer.Exit(run_check(target, text, context or [], score or [], json_out, input, output,
                               audit_log, list(path or [])))


@app.command()
def explain(
    target: Annotated[Path, typer.Argument(help="A compiled bundle or a `.pol` file.")],
    text: Annotated[Optional[str], typer.Option("--text")] = None,
    context: Annotated[Optional[list[str]], typer.Option("--context", "-c")] = None,
    score: Annotated[Optional[list[str]], typer.Option("--score", "-s")] = None,
    path: PathOpt = None,
) -> None:
    """Which rules match an event, which one decides, and why."""
    from policyc.checking import run_explain

    raise typer.Exit(run_explain(target, text, context or [], score or [], list(path or [])))


# ---- compile -----------------------------------------------------------------------------------


@app.command(name="compile")
def compile_(
    file: Annotated[Path, typer.Argument(help="The policy to compile.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Bundle file to write.")],
    strict: Annotated[bool, typer.Option(
        "--strict", help="Also refuse on lint errors (overlap, ambiguity, gaps).")] = False,
    path: PathOpt = None,
) -> None:
    """Compile a policy into a bundle for the runtime checker."""
    from policyc.compile.command import run_compile

    raise typer.Exit(run_compile(file, output, strict, list(path or [])))


# ---- diff --------------------------------------------------------------------------------------


@app.command()
def diff(
    old: Annotated[Path, typer.Argument(help="Old version: a `.pol` file or a bundle.")],
    new: Annotated[Path, typer.Argument(help="New version: a `.pol` file or a bundle.")],
    format: Annotated[DiffFormat, typer.Option("--format", "-f")] = DiffFormat.text,
    fail_on: Annotated[Optional[DiffFailOn], typer.Option(
        "--fail-on", help="Exit 1 on loosening, or on any semantic change.")] = None,
    replay: Annotated[Optional[Path], typer.Option(
        "--replay", help="Events (JSON Lines) to replay through both versions.")] = None,
    exact: Annotated[bool, typer.Option(
        "--exact", help="Always split regions into exact boxes, however many (may be slow "
        "on large policies); by default a changed rule whose boxes would be too many is "
        "reported as scoped rows.")] = False,
    path: PathOpt = None,
) -> None:
    """Where two versions decide differently, region by region, and in which direction."""
    from policyc.diff.command import run_diff

    raise typer.Exit(run_diff(old, new, format.value, fail_on.value if fail_on else None,
                              replay, list(path or []), exact=exact))


# ---- test / eval ------------------------------------------------------------------------------


@app.command()
def test(
    files: Annotated[list[Path], typer.Argument(help="Files or folders.")],
    format: Annotated[TestFormat, typer.Option("--format", "-f")] = TestFormat.text,
    path: PathOpt = None,
) -> None:
    """Run the `test` blocks of policies and report rule coverage."""
    from policyc.evaluate.tests import run_tests_command

    raise typer.Exit(run_tests_command(list(files), format.value, list(path or [])))


@app.command(name="eval")
def eval_(
    bundle: Annotated[Path, typer.Argument(help="A compiled bundle or a `.pol` file.")],
    data: Annotated[Path, typer.Argument(help="Labelled events as JSON Lines.")],
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Write metrics JSON.")] = None,
    report: Annotated[Optional[Path], typer.Option(
        "--report", help="Folder for the HTML report with plots.")] = None,
    sweep: Annotated[bool, typer.Option(
        "--sweep", help="Recommend a threshold per category for --target-fpr.")] = False,
    target_fpr: Annotated[float, typer.Option("--target-fpr")] = 0.05,
    path: PathOpt = None,
) -> None:
    """Metrics and release gates on a labelled data set."""
    from policyc.evaluate.command import run_eval

    raise typer.Exit(run_eval(bundle, data, json_out, report, sweep, target_fpr,
                              list(path or [])))


def main() -> Any:
    """Console entry point: typer's usage errors already exit 2 (CLI.md)."""
    # A short-lived process holding a big policy's trees and decision maps: full
    # collections over them cost up to a quarter of a 5k-rule diff or lint and free
    # almost nothing, so collect far less often (still bounded, unlike gc.disable()).
    gc.set_threshold(100_000, 50, 50)
    try:
        return app()
    except KeyboardInterrupt:  # pragma: no cover
        sys.stderr.write("interrupted\n")
        raise SystemExit(130) from None


if __name__ == "__main__":  # pragma: no cover
    main()
