"""Where a diagnostic points: a 1-based source range.

Lives below `syntax/` so the diagnostic model and the AST share it without a cycle;
the AST carries one on every node (`policyc.syntax.ast.Node.span`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    """A 1-based source range: where a node came from, for diagnostics only."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    start: int = 0  # character offsets into the source text
    end: int = 0
