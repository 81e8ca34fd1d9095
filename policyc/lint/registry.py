"""Every diagnostic code policyc can emit: code, kebab name, default severity, summary.

Semantic rules register themselves with `@rule(...)` from one module each under
`lint/rules/`; front-end codes (syntax, names, types) are declared in `codes.py`.
A code is never reused; docs live in `docs/rules/<CODE>.md`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from policyc.diagnostics import Diagnostic, Severity

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


REGISTRY: dict[str, CodeSpec] = {}


def declare(code: str, name: str, severity: Severity, summary: str,
            check: Check | None = None) -> CodeSpec:
    if code in REGISTRY:
        raise ValueError(f"code {code} registered twice")
    spec = CodeSpec(code, name, severity, summary, check)
    REGISTRY[code] = spec
    return spec


def rule(code: str, name: str, severity: Severity, summary: str) -> Callable[[Check], Check]:
    """Decorator registering a lint rule's check function under a stable code."""

    def wrap(check: Check) -> Check:
        declare(code, name, severity, summary, check)
        return check

    return wrap


def all_codes() -> dict[str, CodeSpec]:
    """The full registry (imports every rule module once)."""
    import policyc.lint.codes  # noqa: F401
    import policyc.lint.rules  # noqa: F401

    return dict(sorted(REGISTRY.items()))


def make(code: str, message: str, **kwargs: object) -> Diagnostic:
    """A diagnostic with the code's default severity."""
    spec = REGISTRY[code]
    return Diagnostic(code=code, severity=spec.severity, message=message, **kwargs)  # type: ignore[arg-type]
