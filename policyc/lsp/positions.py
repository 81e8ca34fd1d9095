"""Source positions: policyc counts characters (code points), LSP counts UTF-16 code units
(or UTF-8 / UTF-32, when client and server agree on it at initialization)."""

from __future__ import annotations

import re
from bisect import bisect_right

from lsprotocol import types as lsp

from policyc.diagnostics import Span

_NEWLINE = re.compile("\n")
#: the position encoding in force: "utf-16" (LSP's default), "utf-8" or "utf-32"
_encoding = ["utf-16"]


def set_encoding(kind: str) -> None:
    _encoding[0] = kind if kind in ("utf-8", "utf-16", "utf-32") else "utf-16"


class LineIndex:
    """Offsets ↔ (line, UTF-16 column) for one text."""

    def __init__(self, text: str):
        self.text = text
        self.starts = [0, *(m.end() for m in _NEWLINE.finditer(text))]
        self.ascii = text.isascii()  # then a column is an offset difference in any encoding

    def _line_of(self, offset: int) -> int:
        return bisect_right(self.starts, offset) - 1

    def position(self, offset: int) -> lsp.Position:
        offset = max(0, min(offset, len(self.text)))
        line = self._line_of(offset)
        if self.ascii:
            return lsp.Position(line=line, character=offset - self.starts[line])
        prefix = self.text[self.starts[line]:offset]
        return lsp.Position(line=line, character=units(prefix))

    def offset(self, pos: lsp.Position) -> int:
        """The character offset of an LSP position (clamped to its line)."""
        if pos.line >= len(self.starts):
            return len(self.text)
        start = self.starts[pos.line]
        end = self.starts[pos.line + 1] - 1 if pos.line + 1 < len(self.starts) else len(self.text)
        count = 0
        i = start
        while i < end and count < pos.character:
            count += _width(self.text[i])
            i += 1
        return i

    def range(self, start: int, end: int) -> lsp.Range:
        return lsp.Range(start=self.position(start), end=self.position(end))

    def span_range(self, span: Span) -> lsp.Range:
        """A span's range; spans built without offsets fall back to their line/column."""
        if span.end > span.start or span.start > 0:
            return self.range(span.start, span.end)
        return self.line_col_range(span)

    def line_col_range(self, span: Span) -> lsp.Range:
        def pos(line: int, col: int) -> lsp.Position:
            i = max(0, line - 1)
            if i >= len(self.starts):
                return lsp.Position(line=i, character=0)
            return self.position(self.starts[i] + max(0, col - 1))

        return lsp.Range(start=pos(span.line, span.column),
                         end=pos(span.end_line, span.end_column))


def _width(ch: str) -> int:
    if _encoding[0] == "utf-16":
        return 2 if ord(ch) > 0xFFFF else 1
    return len(ch.encode("utf-8")) if _encoding[0] == "utf-8" else 1


def units(s: str) -> int:
    """Length of `s` in the units of the position encoding in force (UTF-16 by default)."""
    if _encoding[0] == "utf-16":
        return len(s) + sum(1 for ch in s if ord(ch) > 0xFFFF) if not s.isascii() else len(s)
    return len(s.encode("utf-8")) if _encoding[0] == "utf-8" else len(s)
