"""The `policyc` command line (CLI.md): the typer wiring only (options, help, exit codes).

Each command's work is `policyc.commands.<name>.run(...)`, which returns the exit code;
it is imported when the command runs, so `policyc --help` stays fast.

0: success; 1: findings at or above `--fail-on`, failed tests or gates, semantic
changes `--fail-on` names; 2: input that could not be processed (syntax, unknown
names, unreadable files, bad bundles, bad flags). Never a traceback for bad input.
"""

from __future__ import annotations

import gc
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

app = typer.Typer(
    name="policyc", no_args_is_help=True, add_completion=False, rich_markup_mode=None,
    help="Policy-as-code compiler and linter for AI-safety guardrails.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _set_color(value: Optional[str]) -> Optional[str]:
    from policyc.commands.console import configure

    configure(color=value)
    return value


def _set_quiet(value: bool) -> bool:
    from policyc.commands.console import configure

    configure(quiet=value)
    return value


class Color(str, Enum):
    auto = "auto"
    always = "always"
    never = "never"


# Output conventions, accepted before the command (`policyc -q lint`) and after it
# (`policyc lint -q`): the callbacks set the shared state of `policyc.commands.console`.
_COLOR_HELP = "Colour: auto (a terminal without NO_COLOR), always, never."
_QUIET_HELP = "Print results and errors only (no summaries, notes or progress)."
ColorOpt = Annotated[Optional[Color], typer.Option(
    "--color", metavar="WHEN", callback=_set_color, expose_value=False, is_eager=True,
    help=_COLOR_HELP)]
QuietOpt = Annotated[bool, typer.Option(
    "--quiet", "-q", callback=_set_quiet, expose_value=False, is_eager=True, help=_QUIET_HELP)]
def _check_search_path(value: Optional[list[Path]]) -> Optional[list[Path]]:
    if value:
        from policyc.commands.inputs import check_search_path

        check_search_path(value)
    return value


PathOpt = Annotated[Optional[list[Path]], typer.Option(
    "--path", metavar="DIR", callback=_check_search_path,
    help="Extra folder to search for parent policies (repeatable).")]
StdinNameOpt = Annotated[Optional[str], typer.Option(
    "--stdin-filename", metavar="NAME",
    help="With `-`: the file name standard input stands for (messages, parent lookup).")]
VerifyKeyOpt = Annotated[Optional[list[Path]], typer.Option(
    "--verify-key", metavar="PUBLIC_KEY", help="Trusted Ed25519 public key (PEM, "
    "repeatable): a bundle not signed by one of them is refused; policy source compiled "
    "here is not a bundle [default: POLICYC_VERIFY_KEY].")]
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
    from policyc.commands.console import configure, reset

    reset()  # one process may run several commands (tests); the command's own flags follow
    configure(color=color, quiet=quiet)


# ---- commands: options and help here, the work in `policyc.commands.<name>.run` ----------------
# (imported when the command runs, so `policyc --help` stays fast)


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
    from policyc.commands import fmt as command

    raise typer.Exit(command.run(list(files), check, diff, stdin_filename))


# ---- lint --------------------------------------------------------------------------------------


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
    fix: Annotated[bool, typer.Option(
        "--fix", help="Apply the safe mechanical fixes (`-`: print the fixed source).")] = False,
    unsafe_fixes: Annotated[bool, typer.Option(
        "--unsafe-fixes", help="With --fix/--diff: also the fixes that change meaning.")] = False,
    diff: Annotated[bool, typer.Option(
        "--diff", help="Print the fixes as a diff instead of writing; exit 1 if any.")] = False,
    path: PathOpt = None,
    stdin_filename: StdinNameOpt = None,
    quiet: QuietOpt = False,
    color: ColorOpt = None,
) -> None:
    """Report every diagnostic: syntax, names, types, overlaps, dead rules, gaps, hierarchy."""
    from policyc.commands import lint as command

    raise typer.Exit(command.run(list(files), format.value, fail_on.value if fail_on else None,
                                 select, ignore, list(path or []), stdin_filename,
                                 fix=fix, unsafe_fixes=unsafe_fixes, diff=diff))



@app.command()
def rules(format: FormatOpt = OutFormat.text, quiet: QuietOpt = False,
          color: ColorOpt = None) -> None:
    """List every diagnostic code with its name, severity and summary."""
    from policyc.commands import rules as command

    raise typer.Exit(command.run(json_out=format is OutFormat.json))


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
    from policyc.commands import graph as command

    raise typer.Exit(command.run(list(files), format.value, list(path or []), stdin_filename))


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
    verify_key: VerifyKeyOpt = None,
    path: PathOpt = None,
    stdin_filename: StdinNameOpt = None,
    quiet: QuietOpt = False,
    color: ColorOpt = None,
) -> None:
    """Decide one event, or a batch of events with `--input`."""
    from policyc.commands import check as command

    raise typer.Exit(command.run(target, text, context or [], score or [],
                                 json_out or format is OutFormat.json, input, output,
                                 audit_log, list(path or []), stdin_filename=stdin_filename,
                                 verify_key=verify_key))


@app.command()
def explain(
    target: TargetArg,
    text: TextOpt = None,
    context: ContextOpt = None,
    score: ScoreOpt = None,
    format: FormatOpt = OutFormat.text,
    verify_key: VerifyKeyOpt = None,
    path: PathOpt = None,
    stdin_filename: StdinNameOpt = None,
    quiet: QuietOpt = False,
    color: ColorOpt = None,
) -> None:
    """Which rules match an event, which one decides, and why."""
    from policyc.commands import explain as command

    raise typer.Exit(command.run(target, text, context or [], score or [], list(path or []),
                                 json_out=format is OutFormat.json,
                                 stdin_filename=stdin_filename, verify_key=verify_key))


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
    from policyc.commands import compile as command

    raise typer.Exit(command.run(file, output, strict, list(path or []),
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
    limit: Annotated[int, typer.Option(
        "--limit", metavar="N", min=0, help="With --replay: flipped event ids listed per "
        "cause (counts cover all).")] = 20,
    verify_key: VerifyKeyOpt = None,
    path: PathOpt = None,
    quiet: QuietOpt = False,
    color: ColorOpt = None,
) -> None:
    """Where two versions decide differently, region by region, and in which direction."""
    from policyc.commands import diff as command

    raise typer.Exit(command.run(old, new, format.value, fail_on.value if fail_on else None,
                                 replay, list(path or []), exact=exact, verify_key=verify_key,
                                 limit=limit))


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
    from policyc.commands import test as command

    raise typer.Exit(command.run(list(files), format.value, list(path or []),
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
    slice_by: Annotated[Optional[list[str]], typer.Option(
        "--slice-by", metavar="FIELD[,FIELD…]",
        help="Break the rates down by these data fields (e.g. kind,language,obfuscation).")
    ] = None,
    where: Annotated[Optional[list[str]], typer.Option(
        "--where", metavar="FIELD=VALUE",
        help="Evaluate only rows whose field has this value (repeatable).")] = None,
    split: Annotated[Optional[str], typer.Option(
        "--split", metavar="train|test",
        help="Evaluate only rows of this `split` (same as --where split=…); "
             "sweep on train, report on test.")] = None,
    verify_key: VerifyKeyOpt = None,
    path: PathOpt = None,
    stdin_filename: StdinNameOpt = None,
    quiet: QuietOpt = False,
    color: ColorOpt = None,
) -> None:
    """Metrics and release gates on a labelled data set."""
    from policyc.commands import eval as command

    raise typer.Exit(command.run(bundle, data, output, json_file, report, sweep, target_fpr,
                                 list(path or []), json_stdout=format is OutFormat.json,
                                 stdin_filename=stdin_filename, slice_by=slice_by,
                                 where=where, split=split, verify_key=verify_key))


@app.command()
def lsp(
    stdio: Annotated[bool, typer.Option(
        "--stdio", help="Speak LSP over standard input/output (the default, the only one).")
    ] = True,
) -> None:
    """Run the language server (LSP over stdio) for editors: diagnostics, hover, go to
    definition, completion, formatting, code actions."""
    from policyc.commands import lsp as command

    raise typer.Exit(command.run())


@app.command()
def serve(
    bundles: Annotated[list[str], typer.Argument(
        metavar="BUNDLES", help="Bundle files (`NAME=PATH` names one; default: its file "
        "stem), or folders whose *.pbundle files are served by stem.")],
    default: Annotated[Optional[str], typer.Option(
        "--default", metavar="NAME", help="Policy of /v1/check [default: the first].")] = None,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", help="Port (0: any free one).")] = 8321,
    verify_key: VerifyKeyOpt = None,
    decision_log: Annotated[Optional[Path], typer.Option(
        "--decision-log", metavar="FILE", help="Append policyc/audit/v1 records here.")
    ] = None,
    log_text: Annotated[bool, typer.Option(
        "--log-text", help="Also log each event's text (default: a salted hash).")] = False,
    log_max_bytes: Annotated[str, typer.Option(
        "--log-max-bytes", metavar="SIZE", help="Rotate the log past this size.")] = "100M",
    log_backups: Annotated[int, typer.Option(
        "--log-backups", metavar="N", help="Rotated logs kept.")] = 5,
    max_body: Annotated[str, typer.Option(
        "--max-body", metavar="SIZE", help="Largest request body.")] = "8M",
    max_text: Annotated[int, typer.Option(
        "--max-text", metavar="CHARS", help="Longest text of one event.")] = 262_144,
    max_batch: Annotated[int, typer.Option(
        "--max-batch", metavar="N", help="Most events in one batch.")] = 100_000,
    timeout: Annotated[float, typer.Option(
        "--timeout", metavar="SECONDS", help="Model bindings' time per request; past it "
        "`on_error` decides.")] = 1.0,
    body_timeout: Annotated[float, typer.Option(
        "--body-timeout", metavar="SECONDS", help="Time to receive a request's body; past "
        "it the answer is 408.")] = 30.0,
    token_file: Annotated[Optional[Path], typer.Option(
        "--token-file", metavar="FILE", help="Require this bearer token "
        "[default: POLICYC_SERVE_TOKEN].")] = None,
    watch_interval: Annotated[float, typer.Option(
        "--watch-interval", metavar="SECONDS", help="How often bundle files are polled.")
    ] = 1.0,
    workers: Annotated[int, typer.Option(
        "--workers", metavar="N", help="Threads running model bindings.")] = 2,
    quiet: QuietOpt = False,
    color: ColorOpt = None,
) -> None:
    """Serve decisions over HTTP, reloading bundles when their files change."""
    from policyc.commands.serve import run_serve

    raise typer.Exit(run_serve(
        bundles, default=default, host=host, port=port, verify_key=list(verify_key or []),
        decision_log=decision_log, log_text=log_text, log_max_bytes=log_max_bytes,
        log_backups=log_backups, max_body=max_body, max_text=max_text, max_batch=max_batch,
        timeout=timeout, body_timeout=body_timeout, token_file=token_file,
        watch_interval=watch_interval, workers=workers))


@app.command()
def sign(
    bundle: Annotated[Optional[Path], typer.Argument(metavar="BUNDLE",
                                                     help="The bundle to sign.")] = None,
    key: Annotated[Optional[Path], typer.Option(
        "--key", "-k", metavar="PRIVATE_KEY", help="Ed25519 private key (PEM).")] = None,
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", metavar="FILE", help="Write here [default: in place].")] = None,
    generate_key: Annotated[Optional[Path], typer.Option(
        "--generate-key", metavar="FILE", help="Write a new key pair (FILE, FILE.pub).")
    ] = None,
    quiet: QuietOpt = False,
    color: ColorOpt = None,
) -> None:
    """Sign a bundle (Ed25519) so loads given `--verify-key` trust it."""
    from policyc.commands.serve import run_sign

    raise typer.Exit(run_sign(bundle, key, output, generate_key))


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
        "--limit", metavar="N", min=0, help="Flipped rows listed (counts cover all).")] = 20,
    verify_key: VerifyKeyOpt = None,
    path: PathOpt = None,
    quiet: QuietOpt = False,
    color: ColorOpt = None,
) -> None:
    """Decide logged events under a policy; with --against, count what changes."""
    from policyc.commands.replay import run_replay

    raise typer.Exit(run_replay(target, events, against, engine, format is OutFormat.json,
                                fail_on.value if fail_on else None, limit, list(path or []),
                                verify_key=verify_key))


def main() -> Any:
    """Console entry point: typer's usage errors already exit 2 (CLI.md)."""
    # A short-lived process holding a big policy's trees and decision maps: full
    # collections over them cost up to a quarter of a 5k-rule diff or lint and free
    # almost nothing, so collect far less often (still bounded, unlike gc.disable()).
    gc.set_threshold(100_000, 50, 50)
    from policyc.commands.console import safe_streams

    safe_streams()
    try:
        return app(prog_name="policyc")
    except KeyboardInterrupt:  # pragma: no cover
        sys.stderr.write("interrupted\n")
        raise SystemExit(130) from None


if __name__ == "__main__":  # pragma: no cover
    main()
