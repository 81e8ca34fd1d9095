"""One diagnostic model for the front end, lint, compile and diff.

Collected, never raised one at a time: a run reports everything it found, sorted
by file, position and code so output is deterministic.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel, Field

from policyc.diagnostics.span import Span


class Severity(str, Enum):
    error = "error"
    warning = "warning"
    info = "info"

    @property
    def rank(self) -> int:
        return {"info": 0, "warning": 1, "error": 2}[self.value]


class Related(BaseModel):
    """A secondary location that explains the primary one (e.g. the other rule)."""

    message: str
    span: Span | None = None


class Diagnostic(BaseModel):
    code: str
    severity: Severity
    message: str
    span: Span | None = None
    related: list[Related] = Field(default_factory=list)
    help: str | None = None
    witness: dict[str, Any] | None = None
    #: True when the input could not be processed at all (syntax, unknown names, ...):
    #: such diagnostics make every command exit 2.
    fatal: bool = False

    def sort_key(self) -> tuple[str, int, int, str, str]:
        s = self.span
        return (s.file if s else "", s.line if s else 0, s.column if s else 0, self.code,
                self.message)


def sort_diagnostics(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """Deterministic order: file, line, column, code, message; duplicates dropped."""
    seen: set[tuple[object, ...]] = set()
    out: list[Diagnostic] = []
    for d in sorted(diagnostics, key=Diagnostic.sort_key):
        key = (d.code, d.message, d.span)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


class PolicycError(Exception):
    """Input that cannot be processed; carries the diagnostics that say why."""

    def __init__(self, diagnostics: list[Diagnostic]):
        super().__init__("; ".join(d.message for d in diagnostics))
        self.diagnostics = diagnostics
