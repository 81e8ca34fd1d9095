"""Terminal output conventions shared by every command (docs/cli.md, *Output*).

- Colour: `--color auto|always|never`. `auto` colours only a terminal, and never
  when `NO_COLOR` is set to a non-empty value (https://no-color.org); "no colour"
  means no escape sequence at all (rich's own `NO_COLOR` handling keeps bold and
  underline). `always` colours pipes and files too (`FORCE_COLOR` does the same).
- `--quiet`: results and errors only; summaries, progress and notes are dropped.
- Errors that are not diagnostics (a bad flag value, an unreadable output): one
  `error: message` line and an optional `= help:` line on stderr, exit code 2.

Every console of the package comes from `console()`, so the settings hold everywhere.
`fail()` is the one way a command reports such an error and gets its exit code.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    from policyc.diagnostics import Diagnostic

COLOR_CHOICES = ("auto", "always", "never")

_settings: dict[str, Any] = {"color": "auto", "quiet": False}


def configure(color: str | None = None, quiet: bool | None = None) -> None:
    """Set the process-wide output options (the CLI's global and per-command flags)."""
    if color is not None:
        _settings["color"] = getattr(color, "value", color)  # an Enum member or its value
    if quiet:
        _settings["quiet"] = True


def safe_streams() -> None:
    """Standard output and error never fail on a lone surrogate: an event's id may hold
    one (`"\\ud800"` is valid JSON) and UTF-8 cannot. It is written as its backslash
    escape, `\\ud800`, which inside a JSON string is exactly the JSON escape for it."""
    import sys

    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def reset() -> None:
    """Back to the defaults (tests running several commands in one process)."""
    _settings.update(color="auto", quiet=False)


def quiet() -> bool:
    return bool(_settings["quiet"])


def color_mode() -> str:
    """`always`, `never`, or `auto` resolved against `NO_COLOR`."""
    mode = str(_settings["color"])
    if mode == "auto" and os.environ.get("NO_COLOR", ""):
        return "never"
    return mode


def console(stderr: bool = False, **options: Any) -> Console:
    """A rich console that follows `--color` and `NO_COLOR` (markup off unless asked)."""
    options.setdefault("highlight", False)
    options.setdefault("soft_wrap", True)
    mode = color_mode()
    if mode == "never":
        options["color_system"] = None  # no escape sequences at all, not even bold
    elif mode == "always":
        options.setdefault("force_terminal", True)
        made = Console(stderr=stderr, **options)
        if made.color_system is None:  # TERM=dumb or unset: still colour, as asked
            made = Console(stderr=stderr, color_system="standard", **options)
        return made
    return Console(stderr=stderr, **options)


def note(message: str, stderr: bool = True) -> None:
    """An informational line (summaries, "written to …"): dropped under `--quiet`."""
    if not quiet():
        console(stderr=stderr).print(message, markup=False)


def print_error(message: str, help: str | None = None) -> None:
    """`error: message` and `= help: …` on stderr: the one shape of a non-diagnostic error."""
    from rich.text import Text

    err = console(stderr=True)
    line = Text()
    line.append("error", "bold red")
    line.append(f": {message}")
    err.print(line)
    if help:
        err.print(f"  = help: {help}", markup=False)


def fail(message: str, help: str | None = None) -> int:
    """Print a non-diagnostic error (`print_error`) and return its exit code, 2."""
    print_error(message, help)
    return 2


def cannot_write(path: object, exc: OSError) -> int:
    """`fail` for an output file that cannot be written, with a fix for the usual causes."""
    import errno

    helps = {
        errno.EISDIR: "that is a folder: give a file name",
        errno.ENOTDIR: "a part of the path is a file, not a folder",
        errno.EEXIST: "a part of the path is a file, not a folder",  # from mkdir(parents)
        errno.EACCES: "you may not write there: choose a writable location",
        errno.EPERM: "you may not write there: choose a writable location",
        errno.EROFS: "that file system is read-only: choose a writable location",
        errno.ENOSPC: "the disk is full: free some space, or write somewhere else",
    }
    if exc.errno == errno.ENOENT:
        folder = os.path.dirname(str(path)) or "."
        if os.path.isdir(folder):  # e.g. /proc: the folder is there, the file cannot be
            helps[errno.ENOENT] = f"no file can be created in `{folder}`: write elsewhere"
        else:
            helps[errno.ENOENT] = f"the folder `{folder}` does not exist: create it first"
    return fail(f"cannot write `{path}`: {exc.strerror or exc}",
                helps.get(exc.errno or 0, "check the output path"))


def print_diagnostics(diagnostics: Sequence[Diagnostic], sources: dict[str, str],
                      stderr: bool = True) -> None:
    """Render located diagnostics (with their source lines) on stderr, or stdout."""
    from policyc.render.human import render_human

    if diagnostics:
        render_human(diagnostics, sources, console(stderr=stderr))


class UsageError(typer.BadParameter):
    """Input a command cannot process (a bad flag value, no policies found): exit 2.

    Raised anywhere under a command, typer/click catch it and call `show()`, which
    prints it in the one shape above; `report()` does the same for code that returns
    exit codes itself.
    """

    exit_code = 2

    def __init__(self, message: str, help: str | None = None):
        super().__init__(message)
        self.help = help

    def __str__(self) -> str:
        return str(self.message)

    def show(self, file: Any = None) -> None:
        print_error(str(self), self.help)

    def report(self) -> int:
        self.show()
        return 2


def did_you_mean(name: str, choices: Any, n: int = 1) -> str | None:
    """"did you mean `x`?" for the closest choice, or None."""
    import difflib

    close = difflib.get_close_matches(name, [str(c) for c in choices], n=n, cutoff=0.6)
    if not close:
        return None
    return "did you mean " + " or ".join(f"`{c}`" for c in close) + "?"
