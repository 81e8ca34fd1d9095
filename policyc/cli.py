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


def _set_color(value: Optional[str]) -> Optional[str]:
    from policyc.console import configure

    configure(color=value)
    return value


def _set_quiet(value: bool) -> bool:
    from policyc.console import configure

    configure(quiet=value)
    return value


class Color(str, Enum):
    auto = "auto"
    always = "always"
    never = "never"


# Output conventions, accepted before the command (`policyc -q lint`) and after it
# (`policyc lint -q`): the callbacks set the shared state of `policyc.console`.
_COLOR_HELP = "Colour: auto (a terminal without NO_COLOR), always, never."
_QUIET_HELP = "Print results and errors only (no summaries, notes or progress)."
ColorOpt = Annotated[Optional[Color], typer.Option(
    "--color", metavar="WHEN", callback=_set_color, expose_value=False, is_eager=True,
    help=_COLOR_HELP)]
QuietOpt = Annotated[bool, typer.Option(
    "--quiet", "-q", callback=_set_quiet, expose_value=False, is_eager=True, help=_QUIET_HELP)]
PathOpt = Annotated[Optional[list[Path]], typer.Option(
    "--path", metavar="DIR", help="Extra folder to search for parent policies (repeatable).")]
StdinNameOpt = Annotated[Optional[str], typer.Option(
    "--stdin-filename", metavar="NAME",
    help="With `-`: the file name standard input stands for (messages, parent lookup).")]
FilesArg = Annotated[list[Path], typer.Argument(
    metavar="FILES", help="Policy files or folders (recursive); `-` reads standard input.")]


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


class OutFormat(str, Enum):
    """Commands whose result is text for people or one JSON object (`policyc/<kind>/v1`)."""

    text = "text"
    json = "json"


FormatOpt = Annotated[OutFormat, typer.Option(
    "--format", "-f", metavar="FORMAT", help="text or json.")]


def _version(value: bool) -> None:
    if value:
        from policyc import __version__

        typer.echo(f"policyc {__version__}")
        raise typer.Exit(0)


@app.callback()
def main_options(
    version: Annotated[bool, typer.Option("--version", "-V", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    color: Annotated[Optional[Color], typer.Option(
        "--color", metavar="WHEN", help=_COLOR_HELP)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help=_QUIET_HELP)] = False,
) -> None:
    """Policy-as-code compiler and linter for AI-safety guardrails."""
    from policyc.console import configure, reset

    reset()  # one process may run several commands (tests); the command's own flags follow
    configure(color=color, quiet=quiet)


# ---- shared output helpers ------------------------------------------------------------------


def _console(stderr: bool = False):  # type: ignore[no-untyped-def]
    from policyc.console import console

    return console(stderr=stderr)


def _fail(message: str, help: str | None = None, code: int = 2) -> NoReturn:
    from policyc.console import print_error

    print_error(message, help)
    raise typer.Exit(code)


def _print_diagnostics(diagnostics: list[Diagnostic], sources: dict[str, str],
                       stderr: bool = True) -> None:
    from policyc.render.human import render_human

    if diagnostics:
        render_human(diagnostics, sources, _console(stderr=stderr))


def _load(inputs: list[Path], path: list[Path] | None, stdin_filename: str | None = None
          ) -> Program:
    """Files and folders, or `-`; no policy found at all is a usage error (exit 2)."""
    from policyc.inputs import load_inputs

    return load_inputs(list(inputs), list(path or []), stdin_filename)


def _require_clean(program: Program) -> None:
    """Exit 2 with located diagnostics when the front end could not process the input."""
    fatal = [d for d in program.diagnostics if d.fatal]
    if fatal:
        _print_diagnostics(fatal, program.sources)
        raise typer.Exit(2)


# ---- fmt ---------------------------------------------------------------------------------------


@app.command()
def fmt(
    files: FilesArg,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 if a file would change.")] = False,
    diff: Annotated[bool, typer.Option(
        "--diff", help="Print a diff instead of writing; exit 1 if a file would change.")] = False,
    stdin_filename: StdinNameOpt = None,
    quiet: QuietOpt = False,
    color: ColorOpt = None,
) -> None:
    """Format policies canonically (keeps comments; idempotent).

    `policyc fmt -` formats standard input to standard output.
    """
    import difflib

    from policyc.console import note
    from policyc.diagnostics import PolicycError
    from policyc.inputs import read_stdin_text, require_policies, single_stdin, stdin_display
    from policyc.semantics.loader import expand_inputs
    from policyc.syntax.fmt import format_text

    def unified(name: str, old: str, new: str) -> None:
        sys.stdout.writelines(difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True),
            fromfile=f"a/{name}", tofile=f"b/{name}"))

    if single_stdin(files):
        name = stdin_display(stdin_filename)
        text = read_stdin_text(stdin_filename)
        try:
            out = format_text(text, name)
        except PolicycError as err:
            _print_diagnostics(err.diagnostics, {name: text})
            raise typer.Exit(2) from None
        if diff:
            unified(name, text, out)
        elif not check:
            sys.stdout.write(out)
        if out != text and (check or diff):
            note(f"would reformat {name}")
            raise typer.Exit(1)
        return
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
            from policyc.syntax.parse import parse_file

            errors.extend(parse_file(p)[1])
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
            unified(str(p), text, out)
        elif not check:
            p.write_text(out, encoding="utf-8")
    if errors:
        _print_diagnostics(errors, sources)
    verb = "would reformat" if (check or diff) else "reformatted"
    for name in changed:
        note(f"{verb} {name}")
    note(f"{len(changed)} file{'s' if len(changed) != 1 else ''} {verb}, {unchanged} unchanged")
    if errors:
        raise typer.Exit(2)
    if (check or diff) and changed:
        raise typer.Exit(1)


# ---- lint --------------------------------------------------------------------------------------


def _codes(values: list[str] | None) -> list[str]:
    return [c.strip().upper() for v in values or [] for c in v.split(",") if c.strip()]


@app.command()
def lint(
    files: FilesArg,
    format: Annotated[LintFormat, typer.Option(
        "--format", "-f", metavar="FORMAT", help="text, json, sarif or github.")
    ] = LintFormat.text,
    fail_on: Annotated[Optional[FailOn], typer.Option(
        "--fail-on", metavar="SEVERITY",
        help="Lowest severity that makes the exit code 1: error, warning, info "
        "[default: error].")] = None,
    select: Annotated[Optional[list[str]], typer.Option(
        "--select", metavar="CODES",
        help="Only these codes or prefixes (comma-separated, repeatable).")] = None,
    ignore: Annotated[Optional[list[str]], typer.Option(
        "--ignore", metavar="CODES", help="Skip these codes or prefixes.")] = None,
    path: PathOpt = None,
    stdin_filename: StdinNameOpt = None,
    quiet: QuietOpt = False,
    color: ColorOpt = None,
) -> None:
    """Report every diagnostic: syntax, names, types, overlaps, dead rules, gaps, hierarchy."""
    from policyc.diagnostics import Severity
    from policyc.inputs import given_files, is_stdin
    from policyc.lint.config import ConfigError, check_selectors, find_config
    from policyc.lint.runner import exit_code, run_rules

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
        _fail(str(err), err.help or "fix the `[tool.policyc]` table or `policyc.toml`")
    program = _load(files, [*(path or []), *map(Path, config.path)], stdin_filename)
    diagnostics = run_rules(program, config)
    threshold = Severity(fail_on.value) if fail_on else (config.fail_on or Severity.error)
    if format is LintFormat.text:
        _print_diagnostics(diagnostics, program.sources, stderr=False)
        if not diagnostics:
            from policyc.console import note

            n = given_files(files)
            reached = len(program.workspace.files) - n
            more = f" ({reached} parent file{'s' if reached != 1 else ''} read)" \
                if reached > 0 else ""
            note(f"{n} file{'s' if n != 1 else ''} checked{more}: no findings", stderr=False)
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
def rules(format: FormatOpt = OutFormat.text, quiet: QuietOpt = False,
          color: ColorOpt = None) -> None:
    """List every diagnostic code with its name, severity and summary."""
    from policyc.lint.registry import all_codes

    specs = list(all_codes().values())
    if format is OutFormat.json:
        from policyc.render.machine import dumps

        sys.stdout.write(dumps({"schema": "policyc/rules/v1", "rules": [
            {"code": s.code, "name": s.name, "severity": s.severity.value,
             "summary": s.summary, "lint_rule": s.check is not None, "doc": s.doc_path}
            for s in specs]}))
        return
    for spec in specs:
        typer.echo(f"{spec.code}  {spec.name:<28} {spec.severity.value:<8} {spec.summary}")


# ---- graph -------------------------------------------------------------------------------------


@app.command()
def graph(
    files: FilesArg,
    format: Annotated[GraphFormat, typer.Option(
        "--format", "-f", metavar="FORMAT", help="mermaid, dot or svg.")] = GraphFormat.mermaid,
    path: PathOpt = None,
    stdin_filename: StdinNameOpt = None,
    quiet: QuietOpt = False,
    color: ColorOpt = None,
) -> None:
    """Print the policy hierarchy and the rule-overlap graph (mermaid, dot or svg)."""
    from policyc.graph import render_graph

    program = _load(files, path, stdin_filename)
    _require_clean(program)
    try:
        sys.stdout.write(render_graph(program, format.value))
    except RuntimeError as err:
        _fail(str(err), "install Graphviz (`dot`) for svg, or use `--format dot`")


# ---- check / explain ---------------------------------------------------------------------------

TargetArg = Annotated[Path, typer.Argument(
    metavar="TARGET", help="A compiled bundle, a `.pol` file, or a policy name such as "
    "`std.baseline`; `-` reads standard input.")]
TextOpt = Annotated[Optional[str], typer.Option(
    "--text", metavar="TEXT", help="Text to classify.")]
ContextOpt = Annotated[Optional[list[str]], typer.Option(
    "--context", "-c", metavar="KEY=VALUE", help="Attribute value (repeatable).")]
ScoreOpt = Annotated[Optional[list[str]], typer.Option(
    "--score", "-s", metavar="CATEGORY=X",
    help="Score of a leaf category, 0 to 1 (repeatable).")]


@app.command()
def check(
    target: TargetArg,
    text: TextOpt = None,
    context: ContextOpt = None,
    score: ScoreOpt = None,
    format: FormatOpt = OutFormat.text,
    json_out: Annotated[bool, typer.Option(
        "--json", help="Same as `--format json`.")] = False,
    input: Annotated[Optional[Path], typer.Option(
        "--input", "-i", metavar="FILE",
        help="Batch: events as JSON Lines (`-`: standard input).")] = None,
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", metavar="FILE",
        help="Batch: write decisions here (default or `-`: stdout).")] = None,
    audit_log: Annotated[Optional[Path], typer.Option(
        "--audit-log", metavar="FILE",
        help="Append `policyc/audit/v1` records (JSON Lines).")] = None,
    path: PathOpt = None,
    stdin_filename: StdinNameOpt = None,
    quiet: QuietOpt = False,
    color: ColorOpt = None,
) -> None:
    """Decide one event, or a batch of events with `--input`."""
    from policyc.checking import run_check

    raise typer.Exit(run_check(target, text, context or [], score or [],
                               json_out or format is OutFormat.json, input, output,
                               audit_log, list(path or []), stdin_filename=stdin_filename))


@app.command()
def explain(
    target: TargetArg,
    text: TextOpt = None,
    context: ContextOpt = None,
    score: ScoreOpt = None,
    format: FormatOpt = OutFormat.text,
    path: PathOpt = None,
    stdin_filename: StdinNameOpt = None,
    quiet: QuietOpt = False,
    color: ColorOpt = None,
) -> None:
    """Which rules match an event, which one decides, and why."""
    from policyc.checking import run_explain

    raise typer.Exit(run_explain(target, text, context or [], score or [], list(path or []),
                                 json_out=format is OutFormat.json,
                                 stdin_filename=stdin_filename))


# ---- compile -----------------------------------------------------------------------------------


@app.command(name="compile")
def compile_(
    file: Annotated[Path, typer.Argument(
        metavar="FILE", help="The policy to compile; `-` reads standard input.")],
    output: Annotated[Path, typer.Option(
        "--output", "-o", metavar="BUNDLE", help="Bundle file to write; `-` for stdout.")],
    strict: Annotated[bool, typer.Option(
        "--strict", help="Also refuse on lint errors (overlap, ambiguity, gaps).")] = False,
    format: FormatOpt = OutFormat.text,
    path: PathOpt = None,
    stdin_filename: StdinNameOpt = None,
    quiet: QuietOpt = False,
    color: ColorOpt = None,
) -> None:
    """Compile a policy into a bundle for the runtime checker."""
    from policyc.compile.command import run_compile

    raise typer.Exit(run_compile(file, output, strict, list(path or []),
                                 stdin_filename=stdin_filename, format=format.value))


# ---- diff --------------------------------------------------------------------------------------


@app.command()
def diff(
    old: Annotated[Path, typer.Argument(
        metavar="OLD",
        help="Old version: a `.pol` file, a bundle, or a policy name such as `std.baseline`.")],
    new: Annotated[Path, typer.Argument(
        metavar="NEW", help="New version: a `.pol` file, a bundle, or a policy name.")],
    format: Annotated[DiffFormat, typer.Option(
        "--format", "-f", metavar="FORMAT", help="text, json or markdown.")] = DiffFormat.text,
    fail_on: Annotated[Optional[DiffFailOn], typer.Option(
        "--fail-on", metavar="CHANGE",
        help="Exit 1 on loosening (`loosened`), or on any semantic change (`any`).")] = None,
    replay: Annotated[Optional[Path], typer.Option(
        "--replay", metavar="FILE", help="Events (JSON Lines) to replay through both versions.")
    ] = None,
    exact: Annotated[bool, typer.Option(
        "--exact", help="Always split regions into exact boxes, however many (may be slow "
        "on large policies); by default a changed rule whose boxes would be too many is "
        "reported as scoped rows.")] = False,
    path: PathOpt = None,
    quiet: QuietOpt = False,
    color: ColorOpt = None,
) -> None:
    """Where two versions decide differently, region by region, and in which direction."""
    from policyc.diff.command import run_diff

    raise typer.Exit(run_diff(old, new, format.value, fail_on.value if fail_on else None,
                              replay, list(path or []), exact=exact))


# ---- test / eval ------------------------------------------------------------------------------


@app.command()
def test(
    files: FilesArg,
    format: Annotated[TestFormat, typer.Option(
        "--format", "-f", metavar="FORMAT", help="text, json or junit.")] = TestFormat.text,
    path: PathOpt = None,
    stdin_filename: StdinNameOpt = None,
    quiet: QuietOpt = False,
    color: ColorOpt = None,
) -> None:
    """Run the `test` blocks of policies and report rule coverage."""
    from policyc.evaluate.tests import run_tests_command

    raise typer.Exit(run_tests_command(list(files), format.value, list(path or []),
                                       stdin_filename=stdin_filename))


@app.command(name="eval")
def eval_(
    bundle: TargetArg,
    data: Annotated[Path, typer.Argument(
        metavar="DATA", help="Labelled events as JSON Lines.")],
    format: FormatOpt = OutFormat.text,
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", metavar="FILE",
        help="Also write the metrics JSON (`policyc/eval/v1`) to this file; `-` for stdout.")
    ] = None,
    json_file: Annotated[Optional[Path], typer.Option(
        "--json", metavar="FILE", help="Same as `--output FILE` (kept for compatibility).")
    ] = None,
    report: Annotated[Optional[Path], typer.Option(
        "--report", metavar="DIR", help="Folder for the HTML report with plots.")] = None,
    sweep: Annotated[bool, typer.Option(
        "--sweep", help="Recommend a threshold per category for --target-fpr.")] = False,
    target_fpr: Annotated[float, typer.Option(
        "--target-fpr", metavar="RATE", help="False-positive rate the sweep aims at.")] = 0.05,
    path: PathOpt = None,
    stdin_filename: StdinNameOpt = None,
    quiet: QuietOpt = False,
    color: ColorOpt = None,
) -> None:
    """Metrics and release gates on a labelled data set."""
    from policyc.evaluate.command import run_eval

    if output is not None and json_file is not None:
        _fail("`--output` and `--json` both name the metrics file", "give one of them")
    raise typer.Exit(run_eval(bundle, data, output or json_file, report, sweep, target_fpr,
                              list(path or []), json_stdout=format is OutFormat.json,
                              stdin_filename=stdin_filename))


@app.command()
def replay(
    target: TargetArg,
    events: Annotated[Path, typer.Argument(
        metavar="EVENTS", help="Logged events: JSON Lines or Parquet.")],
    against: Annotated[Optional[Path], typer.Option(
        "--against", metavar="OLD", help="Count what changes against this policy or bundle.")
    ] = None,
    engine: Annotated[str, typer.Option(
        "--engine", metavar="ENGINE", help="local (default) or ray (`policyc[ray]`).")
    ] = "local",
    format: FormatOpt = OutFormat.text,
    fail_on: Annotated[Optional[DiffFailOn], typer.Option(
        "--fail-on", metavar="CHANGE",
        help="Exit 1 when a row is loosened (`loosened`) or changes at all (`any`).")] = None,
    limit: Annotated[int, typer.Option(
        "--limit", metavar="N", help="Flipped rows listed (counts cover all).")] = 20,
    path: PathOpt = None,
    quiet: QuietOpt = False,
    color: ColorOpt = None,
) -> None:
    """Decide logged events under a policy; with --against, count what changes."""
    from policyc.replay_command import run_replay

    raise typer.Exit(run_replay(target, events, against, engine, format is OutFormat.json,
                                fail_on.value if fail_on else None, limit, list(path or [])))


def main() -> Any:
    """Console entry point: typer's usage errors already exit 2 (CLI.md)."""
    # A short-lived process holding a big policy's trees and decision maps: full
    # collections over them cost up to a quarter of a 5k-rule diff or lint and free
    # almost nothing, so collect far less often (still bounded, unlike gc.disable()).
    gc.set_threshold(100_000, 50, 50)
    try:
        return app(prog_name="policyc")
    except KeyboardInterrupt:  # pragma: no cover
        sys.stderr.write("interrupted\n")
        raise SystemExit(130) from None


if __name__ == "__main__":  # pragma: no cover
    main()
