"""Bidirectional control characters in strings and comments ("Trojan Source",
CVE-2021-42574).

Why: an embedding, override or isolate control (U+202A-U+202E, U+2066-U+2069) reorders how
the text after it is displayed, so a reviewer can read a rule, a string or a comment that
is not what the parser sees. Outside strings and comments every such character is already a
syntax error (an invisible character); inside them it is refused too, as rustc refuses it:
a string that needs one writes it as an escape (`\\u202e`), which displays as written.
"""

from __future__ import annotations

import re

from policyc.diagnostics import Diagnostic, Span, diagnostic
from policyc.syntax.errors import char_name

_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


def is_bidi_control(ch: str) -> bool:
    return _BIDI.fullmatch(ch) is not None


def bidi_controls(text: str, path: str) -> list[Diagnostic]:
    """POL001 at each bidirectional control character of `text` (one per line)."""
    out: list[Diagnostic] = []
    last_line = 0
    for m in _BIDI.finditer(text):
        pos = m.start()
        line = text.count("\n", 0, pos) + 1
        if line == last_line:
            continue
        last_line = line
        column = pos - (text.rfind("\n", 0, pos) + 1) + 1
        ch = m.group()
        out.append(diagnostic(
            code="POL001", fatal=True,
            message=f"bidirectional control character {char_name(ch)} in a string or comment",
            span=Span(path, line, column, line, column + 1),
            help=f"it makes the source display differently from how it reads: delete it, or "
                 f"in a string write the escape `\\u{ord(ch):04x}`"))
    return out
