"""Checking `test` blocks (LANGUAGE.md §7) against the flattened policy they test."""

from __future__ import annotations

from policyc.diagnostics import Related, diagnostic
from policyc.semantics.model import FlatPolicy
from policyc.semantics.resolve import Report, Scope, did_you_mean, duplicate, error
from policyc.syntax import ast


def check_tests(report: Report, flat: FlatPolicy) -> None:
    """Each `test` block names an expected action, known rules, and leaf scores in [0, 1]
    or attribute values of their declared type."""
    names: dict[str, ast.Span | None] = {}
    rule_ids = {r.id for r in flat.rules}
    scope = Scope(flat.contexts, flat.categories, flat.derived, flat.thresholds, flat.sets)
    for t in flat.tests:
        if t.name in names:
            report(duplicate("test", t.name, t.span, names[t.name]))
        names[t.name] = t.span
        if t.expect is None:
            report(error("POL115", f"test `{t.name}` has no `expect`", t.span,
                              "add `expect ACTION`"))
        if t.expect_rule is not None and t.expect_rule not in rule_ids:
            report(error("POL115", f"test `{t.name}` expects unknown rule "
                                        f"`{t.expect_rule}`", t.span,
                              did_you_mean(t.expect_rule, rule_ids)
                              or "`by` names a rule of this policy or its parents"))
        given: dict[str, ast.Span | None] = {}
        for a in t.given:
            if a.name in given:  # the later value would silently win
                report(diagnostic(
                    code="POL104", fatal=True, message=f"test `{t.name}` gives `{a.name}` twice",
                    span=a.span, related=[Related(message="first given here",
                                                  span=given[a.name])],
                    help="give each score or attribute once"))
            given.setdefault(a.name, a.span)
            if a.name in flat.categories:
                info = flat.categories[a.name]
                if not info.is_leaf:
                    report(error("POL115", f"`given` sets leaf scores; `{a.name}` has "
                                                f"children", a.span,
                                 f"give a score to one of its leaves, e.g. "
                                 f"`{_a_leaf(flat, a.name)} = {_num(a.value)}`"))
                elif isinstance(a.value, bool) or not isinstance(a.value, float) \
                        or not 0.0 <= a.value <= 1.0:
                    report(error("POL106", f"score for `{a.name}` must be a number in "
                                                f"[0, 1]", a.span,
                                 "a score is a probability, e.g. `" + a.name + " = 0.9`"))
            elif a.name in flat.contexts:
                scope.check_value(flat.contexts[a.name], a.value, a.span, report)
            else:
                report(error("POL101", f"unknown category or attribute `{a.name}`",
                                  a.span, did_you_mean(a.name, [*flat.categories,
                                                                 *flat.contexts])
                                  or "`given` sets a leaf category's score or a `context` "
                                     "attribute of this policy"))


def _a_leaf(flat: FlatPolicy, name: str) -> str:
    """The first leaf under category `name` (for a hint)."""
    leaves = sorted(c for c, info in flat.categories.items()
                    if info.is_leaf and c.startswith(name + "."))
    return leaves[0] if leaves else name


def _num(value: object) -> str:
    return "0.9" if isinstance(value, bool) or not isinstance(value, float) else f"{value:g}"
