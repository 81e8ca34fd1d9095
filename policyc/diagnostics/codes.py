"""The one table of every diagnostic code policyc can emit.

Each code has a stable kebab name, a default severity and a one-line summary; its
documentation is `docs/rules/<CODE>.md`. A code is never reused. Every diagnostic
takes its severity from here (`policyc.diagnostics.diagnostic`); lint rules attach
their check to a code with `policyc.lint.registry.rule`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from policyc.diagnostics.model import Diagnostic, Related, Severity
from policyc.diagnostics.span import Span


@dataclass(frozen=True)
class Code:
    code: str
    name: str
    severity: Severity
    summary: str

    @property
    def doc_path(self) -> str:
        return f"docs/rules/{self.code}.md"


E, W, I = Severity.error, Severity.warning, Severity.info  # noqa: E741

CODES: dict[str, Code] = {c.code: c for c in (
    # ---- front end: parse, names, types, hierarchy structure (fatal) ----
    Code("POL001", "syntax-error", E, "the file does not follow the `.pol` grammar"),
    Code("POL002", "unreadable-input", E, "a file or folder cannot be read"),
    Code("POL003", "invalid-literal", E, "a number or priority literal is malformed"),
    Code("POL004", "limit-exceeded", E,
         "a file, literal or nesting depth is over a documented limit"),
    Code("POL101", "undefined-name", E, "a category, set or attribute is used but not declared"),
    Code("POL102", "undefined-parent", E, "`extends` names a policy that cannot be found"),
    Code("POL103", "hierarchy-cycle", E, "`extends` (or `derive`) forms a cycle"),
    Code("POL104", "duplicate-definition", E, "a name is declared twice"),
    Code("POL105", "type-mismatch", E, "a comparison does not fit the type of what it compares"),
    Code("POL106", "value-out-of-range", E, "a threshold or score is outside [0, 1]"),
    Code("POL107", "undeclared-enum-value", E, "an enum comparison uses an undeclared value"),
    Code("POL108", "override-missing-rule", E, "`override` or `drop` names no parent rule"),
    Code("POL109", "locked-rule-modified", E, "`override` or `drop` targets a locked rule"),
    Code("POL110", "conflicting-redeclaration", E,
         "a parent's attribute, category, set or classifier is redeclared differently"),
    Code("POL112", "invalid-detector", E,
         "a detector cannot be built (regex, validator, keywords)"),
    Code("POL113", "name-clash", E, "one name denotes two things (attribute, category, set)"),
    Code("POL115", "invalid-test", E, "a `test` block is malformed"),
    Code("POL116", "invalid-binding", E,
         "a classifier's model path leaves the policy's folder, is missing, or cannot be bound"),
    # ---- lint rules (one module each under policyc/lint/rules/) ----
    Code("POL201", "ambiguous-decision", E,
         "two rules match the same events with different decisions and the strategy cannot "
         "choose"),
    Code("POL202", "overruled-rule", I,
         "a rule is overruled by another rule where their guards overlap"),
    Code("POL203", "dead-rule", W, "a rule never decides any event"),
    Code("POL204", "redundant-rule", W, "removing a rule would not change any decision"),
    Code("POL205", "unsatisfiable-guard", W, "a rule's guard can never be true"),
    Code("POL206", "allowed-disallowed-overlap", W,
         "a category is in both an allowed and a disallowed set"),
    Code("POL207", "coverage-gap", E,
         "a policy without `default` leaves some events undecided"),
    Code("POL301", "locked-floor-loosened", E,
         "a child rule would loosen a parent's locked rule (it can never take effect there)"),
    Code("POL302", "narrowing-violated", E,
         "a child declared `narrowing` loosens its parent somewhere"),
    Code("POL303", "parent-loosened", W,
         "a child loosens a parent's decision somewhere (without `narrowing`)"),
    Code("POL304", "locked-threshold-raised", E,
         "a child raises a threshold that a parent's locked rule depends on"),
    Code("POL305", "unannotated-change", W,
         "a child rule changes a parent rule's decision without `override`"),
    Code("POL306", "locked-allow", W,
         "a locked rule decides `allow`, which is no floor (nothing is less restrictive)"),
    Code("POL401", "fail-open", W,
         "`on_error allow` passes events through when a binding fails"),
    Code("POL402", "unbound-category", I,
         "a category used by rules has no binding and no test scores it"),
    Code("POL403", "missing-owner", W, "the policy declares no `owner`"),
    Code("POL404", "missing-version", W, "the policy declares no version"),
)}


def diagnostic(code: str, message: str, span: Span | None = None, *, help: str | None = None,
               related: list[Related] | None = None, witness: dict[str, Any] | None = None,
               fatal: bool = False) -> Diagnostic:
    """A diagnostic with its code's default severity from the table (the only way the
    package builds one, so a code's severity is written once)."""
    return Diagnostic(code=code, severity=CODES[code].severity, message=message, span=span,
                      related=related or [], help=help, witness=witness, fatal=fatal)
