"""Human output for diagnostics: rustc/ruff/Cedar style, coloured only on a terminal.

    error[POL201]: rules `a` and `b` overlap with different decisions and equal priority
      --> p.pol:12:3
       |
    12 |   rule a: refuse when audience == teen
       |   ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
    note: `b` is defined here
      --> p.pol:15:3
       |
    15 |   rule b: allow when audience == teen
       |   -----------------------------------
       |
       = help: give one of them a higher priority
       = witness: {"audience": "teen", "self_harm.intent": 0.6}

    1 error, 0 warnings, 0 info

The primary span is underlined with `^`, related spans with `-`. A span that covers
several lines is shown on its first line and underlined to the end of that line; a
span at or past the end of a line (an unexpected end of input) still gets one caret.
Columns are characters (code points) as in `Span`; the underline is placed by
display width, so wide characters (CJK, emoji) and tabs keep it aligned. When the
source of a file is not in `sources`, only the ` --> file:line:col` line is shown.
A source line longer than `SNIPPET_WIDTH` characters is cut around the span, with `…` where
text was left out.

Diagnostics are printed in the order given: callers pass `sort_diagnostics(...)`.
Colour is rich's business: `Console` decides from the terminal (and `NO_COLOR`);
every piece of text goes through `rich.text.Text`, so `[POL201]` or `[bold]` in a
message is never read as markup.
"""

from __future__ import annotations

import functools
import io
import json
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from policyc.diagnostics import Diagnostic, Severity, Span
from policyc.render.machine import json_default

__all__ = ["diagnostic_lines", "format_human", "render_human", "summary_line"]

TAB_WIDTH = 4
SNIPPET_WIDTH = 400  # characters of one source line shown; longer lines are cut around the span

_SEVERITY_STYLE = {
    Severity.error: "bold red",
    Severity.warning: "bold yellow",
    Severity.info: "bold cyan",
}
_GUTTER = "bold blue"
_NOTE = "bold green"


#: One output line as styled pieces: rich `Text` on a terminal, plain text otherwise.
Line = list[tuple[str, str]]


def render_human(
    diagnostics: Iterable[Diagnostic], sources: Mapping[str, str], console: Console
) -> None:
    """Print every diagnostic, a blank line after each, then the summary line."""
    diagnostics = list(diagnostics)
    if console.color_system is None:
        # no styles to render (a pipe, a file, NO_COLOR): plain text straight out;
        # going through rich took half a minute for 5k findings
        out = console.file
        for diagnostic in diagnostics:
            out.write("".join("".join(piece for piece, _ in line) + "\n"
                              for line in _diagnostic_pieces(diagnostic, sources)) + "\n")
        out.write(summary_text(diagnostics).plain + "\n")
        return
    newline = Text("\n")
    batch: list[Text] = []  # one print per batch: rich's per-call cost dominates
    for diagnostic in diagnostics:
        batch.extend(diagnostic_lines(diagnostic, sources))
        batch.append(Text())
        if len(batch) >= 2000:
            console.print(newline.join(batch), soft_wrap=True, highlight=False)
            batch = []
    if batch:
        console.print(newline.join(batch), soft_wrap=True, highlight=False)
    console.print(summary_text(diagnostics), soft_wrap=True, highlight=False)


def format_human(diagnostics: Iterable[Diagnostic], sources: Mapping[str, str]) -> str:
    """The same output as plain text (no colour, no wrapping): for golden tests and files."""
    buffer = io.StringIO()
    console = Console(
        file=buffer, force_terminal=False, no_color=True, color_system=None, width=100,
        highlight=False, emoji=False, markup=False,
    )
    render_human(diagnostics, sources, console)
    return buffer.getvalue()


def summary_line(diagnostics: Iterable[Diagnostic]) -> str:
    """`2 errors, 1 warning, 0 info` ("info" has no plural)."""
    return summary_text(diagnostics).plain


def summary_text(diagnostics: Iterable[Diagnostic]) -> Text:
    counts = dict.fromkeys(Severity, 0)
    for d in diagnostics:
        counts[Severity(d.severity)] += 1
    n_err, n_warn, n_info = counts[Severity.error], counts[Severity.warning], counts[Severity.info]
    text = Text()
    text.append(f"{n_err} error{'' if n_err == 1 else 's'}",
                _SEVERITY_STYLE[Severity.error] if n_err else "")
    text.append(", ")
    text.append(f"{n_warn} warning{'' if n_warn == 1 else 's'}",
                _SEVERITY_STYLE[Severity.warning] if n_warn else "")
    text.append(", ")
    text.append(f"{n_info} info", _SEVERITY_STYLE[Severity.info] if n_info else "")
    return text


# ---- one diagnostic ------------------------------------------------------------------------


def diagnostic_lines(diagnostic: Diagnostic, sources: Mapping[str, str]) -> list[Text]:
    """The lines of one diagnostic, without the blank line that follows it."""
    return [Text.assemble(*line) for line in _diagnostic_pieces(diagnostic, sources)]


def _diagnostic_pieces(diagnostic: Diagnostic, sources: Mapping[str, str]) -> list[Line]:
    severity = Severity(diagnostic.severity)
    style = _SEVERITY_STYLE[severity]
    spans = [diagnostic.span] + [r.span for r in diagnostic.related]
    width = max([len(str(s.line)) for s in spans if s is not None and s.line > 0] or [1])

    lines: list[Line] = [[
        (severity.value + (f"[{diagnostic.code}]" if diagnostic.code else ""), style),
        (": ", "bold"), (diagnostic.message, "bold")]]
    has_snippet = False
    if diagnostic.span is not None:
        has_snippet = _location(lines, diagnostic.span, sources, width, "^", style)
    for related in diagnostic.related:
        lines.append([("note", _NOTE), (": " + related.message, "")])
        has_snippet = False
        if related.span is not None:
            has_snippet = _location(lines, related.span, sources, width, "-", _GUTTER)

    extras: list[tuple[str, str]] = []
    if diagnostic.help:
        extras.append(("help", diagnostic.help))
    if diagnostic.witness is not None:
        extras.append(("witness", _json_inline(diagnostic.witness)))
    if extras and has_snippet:
        lines.append([(" " * width + " |", _GUTTER)])
    for label, value in extras:
        lines.append([(" " * width + " = ", _GUTTER), (label + ":", "bold"), (" " + value, "")])
    return lines


def _location(
    lines: list[Line], span: Span, sources: Mapping[str, str], width: int, mark: str,
    mark_style: str,
) -> bool:
    """Append ` --> file:line:col` and, when the source line is known, the snippet.

    Returns whether a snippet was shown.
    """
    lines.append([(" " * width + "--> ", _GUTTER), (f"{span.file}:{span.line}:{span.column}", "")])
    source_line = _source_line(sources.get(span.file), span.line)
    if source_line is None:
        return False
    shown, prefix_cells, mark_cells = _underline(*_window(source_line, span))
    lines.append([(" " * width + " |", _GUTTER)])
    code: Line = [(f"{span.line:>{width}} |", _GUTTER)]
    if shown.strip():
        code.append((" " + shown.rstrip(), ""))
    lines.append(code)
    lines.append([(" " * width + " | ", _GUTTER), (" " * prefix_cells, ""),
                  (mark * mark_cells, mark_style)])
    return True


def _source_line(source: str | None, line: int) -> str | None:
    """Line `line` (1-based) of `source`, split on `\\n` only, as the parser counts."""
    if source is None or line < 1:
        return None
    parts = _lines(source)
    if line > len(parts):
        return None
    return parts[line - 1].removesuffix("\r")


@functools.lru_cache(maxsize=8)
def _lines(source: str) -> list[str]:
    """A file's lines, split once for all its findings (str caches its hash); a leading byte
    order mark is not part of the first line (the parser skips it: columns count without it)."""
    return source.removeprefix("\ufeff").split("\n")


def _window(line: str, span: Span) -> tuple[str, Span]:
    """A long source line cut to `SNIPPET_WIDTH` characters around the span's start, with
    `…` where text was left out, and the span moved to match (a 10 MB line stays readable).
    """
    if len(line) <= SNIPPET_WIDTH:
        return line, span
    start = max(span.column - 1, 0)
    lo = max(min(start - SNIPPET_WIDTH // 3, len(line) - SNIPPET_WIDTH), 0)
    hi = lo + SNIPPET_WIDTH
    head = "…" if lo > 0 else ""
    tail = "…" if hi < len(line) else ""
    end = span.end_column - 1 if span.end_line == span.line else len(line)
    shift = len(head) - lo
    column = start + shift + 1
    end_column = max(min(end, hi) + shift + 1, column)
    moved = Span(span.file, span.line, column, span.line, end_column, span.start, span.end)
    return head + line[lo:hi] + tail, moved


def _underline(line: str, span: Span) -> tuple[str, int, int]:
    """(line as displayed, cells before the mark, cells of the mark; at least 1)."""
    start = max(span.column - 1, 0)
    if span.end_line == span.line:
        end = max(span.end_column - 1, start)
    else:  # multi-line: to the end of the first line
        end = max(len(line), start)
    shown = _display(line)
    prefix = _display(line[:start]) + " " * max(start - len(line), 0)
    inside = line[start:end]
    past_end = max(end - max(len(line), start), 0)
    marks = cell_len(_display(inside, column=cell_len(prefix))) + past_end
    return shown, cell_len(prefix), max(marks, 1)


_HIDDEN = frozenset({"Cf", "Zl", "Zp", "Co", "Cn"})


def _display(text: str, column: int = 0) -> str:
    """`text` as shown: tabs expanded, control characters made visible and harmless, and
    characters a reader cannot see (zero-width, bidi controls, BOM, odd spaces) written as
    `<U+200B>`."""
    if text.isascii() and text.isprintable():  # the usual line: shown as it is
        return text
    out: list[str] = []
    col = column
    for ch in text:
        if ch == "\t":
            n = TAB_WIDTH - col % TAB_WIDTH
            out.append(" " * n)
            col += n
            continue
        category = unicodedata.category(ch)
        if category == "Cc":
            ch = "\ufffd"
        elif category in _HIDDEN or (category == "Zs" and ch != " "):
            ch = f"<U+{ord(ch):04X}>"  # zero-width, bidi controls, odd spaces: made visible
        out.append(ch)
        col += cell_len(ch)
    return "".join(out)


def _json_inline(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=json_default)
