"""Codes emitted by the front end (parse, names, types, hierarchy structure)."""

from policyc.diagnostics import Severity
from policyc.lint.registry import declare

E = Severity.error

declare("POL001", "syntax-error", E, "the file does not follow the `.pol` grammar")
declare("POL002", "unreadable-input", E, "a file or folder cannot be read")
declare("POL003", "invalid-literal", E, "a number or priority literal is malformed")
declare("POL004", "limit-exceeded", E,
        "a file, literal or nesting depth is over a documented limit")
declare("POL101", "undefined-name", E, "a category, set or attribute is used but not declared")
declare("POL102", "undefined-parent", E, "`extends` names a policy that cannot be found")
declare("POL103", "hierarchy-cycle", E, "`extends` (or `derive`) forms a cycle")
declare("POL104", "duplicate-definition", E, "a name is declared twice")
declare("POL105", "type-mismatch", E, "a comparison does not fit the type of what it compares")
declare("POL106", "value-out-of-range", E, "a threshold or score is outside [0, 1]")
declare("POL107", "undeclared-enum-value", E, "an enum comparison uses an undeclared value")
declare("POL108", "override-missing-rule", E, "`override` or `drop` names no parent rule")
declare("POL109", "locked-rule-modified", E, "`override` or `drop` targets a locked rule")
declare("POL110", "conflicting-redeclaration", E,
        "a parent's attribute, category, set or classifier is redeclared differently")
declare("POL112", "invalid-detector", E, "a detector cannot be built (regex, validator, keywords)")
declare("POL113", "name-clash", E, "one name denotes two things (attribute, category, set)")
declare("POL115", "invalid-test", E, "a `test` block is malformed")
declare("POL116", "invalid-binding", E,
        "a classifier's model path leaves the policy's folder, is missing, or cannot be bound")
