"""The lint view of the code table: every code with the check that emits it, if any.

Codes, names, default severities and summaries are declared once, in
`policyc.diagnostics.codes`. Semantic rules attach their check to a code with
`@rule("POLxxx")` from one module each under `lint/rules/`; front-end codes (syntax,
names, types) have no check. Docs live in `docs/rules/<CODE>.md`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from policyc.diagnostics import CODES, Diagnostic, Severity

if TYPE_CHECKING:
    from policyc.lint.context import LintContext

Check = Callable[["LintContext"], Iterable[Diagnostic]]


@dataclass(frozen=True)
class CodeSpec:
    code: str
    name: str
    severity: Severity
    summary: str
    check: Check | None = None  # None: emitted by the front end, not a lint rule

    @property
    def doc_path(self) -> str:
        return f"docs/rules/{self.code}.md"


CHECKS: dict[str, Check] = {}


def rule(code: str) -> Callable[[Check], Check]:
    """Decorator attaching a lint rule's check function to its code in the table."""

    def wrap(check: Check) -> Check:
        if code not in CODES:
            raise ValueError(f"code {code} is not in policyc.diagnostics.codes")
        if code in CHECKS:
            raise ValueError(f"code {code} has two checks")
        CHECKS[code] = check
        return check

    return wrap


def all_codes() -> dict[str, CodeSpec]:
    """Every code of the table with its check (imports every rule module once)."""
    import policyc.lint.rules  # noqa: F401

    return {code: CodeSpec(c.code, c.name, c.severity, c.summary, CHECKS.get(code))
            for code, c in sorted(CODES.items())}
