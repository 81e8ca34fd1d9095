"""Name resolution and type checks: AST guards and set expressions → formulas.

A `Scope` is the merged schema a policy sees (its own and its parents'
declarations). Guards of inherited rules are resolved again in the child's scope,
because thresholds are late-bound (LANGUAGE.md §3: a child's threshold replaces
the parent's, also for the parent's rules).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from policyc.diagnostics import Diagnostic, Related, Span, diagnostic
from policyc.semantics.formula import FALSE, Atom, FNot, Formula, conj, disj, dnf_bound
from policyc.semantics.model import (
    CategoryInfo,
    ContextVar,
    FlatPolicy,
    FlatRule,
    RuleSource,
    ThresholdDecl,
    leaves_under,
    nearest_threshold,
)
from policyc.syntax import ast
from policyc.syntax.limits import MAX_GUARD_BOXES, limit_error

Report = Callable[[Diagnostic], None]


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    guess = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean `{guess[0]}`?" if guess else None


def error(code: str, message: str, span: Span | None, help: str | None = None,
          fatal: bool = True) -> Diagnostic:
    return diagnostic(code=code, message=message, span=span, help=help,
                      fatal=fatal)


@dataclass
class Scope:
    contexts: dict[str, ContextVar]
    categories: dict[str, CategoryInfo]
    derived: dict[str, tuple[str, ...]]
    thresholds: dict[str | None, ThresholdDecl]
    sets: dict[str, frozenset[str]]
    #: `category_true` per category: thousands of rules name the same few categories
    _truth: dict[str, Formula] = field(default_factory=dict, init=False, repr=False,
                                       compare=False)

    # ---- categories ------------------------------------------------------------------

    def threshold(self, category: str) -> float:
        return nearest_threshold(self.categories, self.thresholds, category)

    def leaves_under(self, category: str) -> tuple[str, ...]:
        return leaves_under(self.categories, category)

    def score_vars(self, leaf: str) -> tuple[str, ...]:
        """Variables whose max is the leaf's score: itself plus bridge sources, transitively."""
        out = [leaf]
        for source in self.derived.get(leaf, ()):
            for v in self.score_vars(source):
                if v not in out:
                    out.append(v)
        return tuple(out)

    def score_atom(self, leaf: str, op: str, x: float) -> Formula:
        """`score(leaf) op x`, unfolding bridges: max(a, b) >= x ⇔ a >= x or b >= x."""
        vs = self.score_vars(leaf)
        parts: list[Formula] = [Atom(v, op, x) for v in vs]
        if op in (">=", ">"):
            return disj(parts)
        if op in ("<", "<="):
            return conj(parts)
        # == / != on a max: max == x ⇔ all <= x and some == x
        le = conj([Atom(v, "<=", x) for v in vs])
        eq = conj([le, disj([Atom(v, "==", x) for v in vs])])
        return eq if op == "==" else FNot(eq)

    def category_true(self, category: str) -> Formula:
        """`C`: a leaf at or above its threshold; an inner category: any leaf under it."""
        truth = self._truth.get(category)
        if truth is None:
            truth = self._truth[category] = disj([self.score_atom(leaf, ">=", self.threshold(leaf))
                                                  for leaf in self.leaves_under(category)])
        return truth

    # ---- resolution --------------------------------------------------------------------

    def resolve_set(self, expr: ast.SetExpr, report: Report) -> frozenset[str]:
        """A set expression → the set of leaf categories it denotes."""
        if isinstance(expr, ast.SetLiteral):
            out: set[str] = set()
            for name in expr.items:
                out |= self._category_leaves(name, expr.span, report)
            return frozenset(out)
        if isinstance(expr, ast.SetRef):
            if expr.name in self.sets:
                return self.sets[expr.name]
            if expr.name in self.categories:
                return frozenset(self.leaves_under(expr.name))
            report(error("POL101", f"unknown set or category `{expr.name}`", expr.span,
                         did_you_mean(expr.name, [*self.sets, *self.categories])
                         or "declare it with `set NAME = {...}` or in `categories`"))
            return frozenset()
        left = self.resolve_set(expr.left, report)
        right = self.resolve_set(expr.right, report)
        if expr.op == "|":
            return left | right
        if expr.op == "&":
            return left & right
        return left - right

    def _category_leaves(self, name: str, span: Span | None, report: Report) -> frozenset[str]:
        if name in self.categories:
            return frozenset(self.leaves_under(name))
        report(error("POL101", f"unknown category `{name}`", span,
                     did_you_mean(name, self.categories) or "declare it in `categories { ... }`"))
        return frozenset()

    def resolve_guard(self, guard: ast.Guard | None, report: Report) -> Formula:
        if guard is None:
            return conj([])
        if isinstance(guard, ast.Or):
            return disj([self.resolve_guard(g, report) for g in guard.items])
        if isinstance(guard, ast.And):
            return conj([self.resolve_guard(g, report) for g in guard.items])
        if isinstance(guard, ast.Not):
            return FNot(self.resolve_guard(guard.item, report))
        if isinstance(guard, ast.Quantified):
            members = sorted(self.resolve_set(guard.set, report))
            parts = [self.category_true(m) for m in members]
            if guard.quantifier == "any":
                return disj(parts)
            if guard.quantifier == "all":
                return conj(parts)
            return FNot(disj(parts))
        if isinstance(guard, ast.NameRef):
            return self._name_ref(guard, report)
        if isinstance(guard, ast.ScoreCmp):
            return self._score_cmp(guard, report)
        if isinstance(guard, ast.Compare):
            return self._compare(guard, report)
        return self._in(guard, report)

    def _name_ref(self, g: ast.NameRef, report: Report) -> Formula:
        if g.name in self.categories:
            return self.category_true(g.name)
        var = self.contexts.get(g.name)
        if var is None:
            report(error("POL101", f"unknown category or attribute `{g.name}`", g.span,
                         did_you_mean(g.name, [*self.categories, *self.contexts])
                         or "declare it in `categories` or with `context NAME: TYPE`"))
            return conj([])
        if var.kind != "bool":
            example = f"{g.name} == {var.values[0]}" if var.kind == "enum" and var.values \
                else f"{g.name} > 0"
            report(error("POL105", f"`{g.name}` is a {var.kind} attribute, not a condition",
                         g.span, f"compare it, e.g. `{example}`"))
            return conj([])
        return Atom(g.name, "==", True)

    def _score_cmp(self, g: ast.ScoreCmp, report: Report) -> Formula:
        info = self.categories.get(g.category)
        if info is None:
            report(error("POL101", f"unknown category `{g.category}`", g.span,
                         did_you_mean(g.category, self.categories)))
            return conj([])
        if not info.is_leaf:
            report(error("POL105", f"`score()` needs a leaf category; `{g.category}` has "
                                   f"children", g.span,
                         f"name a leaf such as `{self.leaves_under(g.category)[0]}`, or use "
                         f"`{g.category}` alone for any leaf above its threshold"))
            return conj([])
        if not 0.0 <= g.value <= 1.0:
            report(error("POL106", f"score bound `{_num(g.value)}` is outside [0, 1]", g.span,
                         "category scores are probabilities between 0 and 1"))
        return self.score_atom(g.category, g.op, g.value)

    def _attribute(self, name: str, span: Span | None, report: Report) -> ContextVar | None:
        var = self.contexts.get(name)
        if var is not None:
            return var
        if name in self.categories:
            report(error("POL105", f"`{name}` is a category, not an attribute", span,
                         f"compare its score instead: `score({name}) >= 0.5`"))
        else:
            report(error("POL101", f"unknown attribute `{name}`", span,
                         did_you_mean(name, self.contexts)
                         or "declare it with `context NAME: enum { ... }`, `bool` or `number`"))
        return None

    def check_value(self, var: ContextVar, value: ast.Value, span: Span | None,
                    report: Report) -> bool:
        """Whether a constant fits the attribute's type; reports POL105/POL107 if not."""
        if var.kind == "enum":
            if isinstance(value, str) and value in var.values:
                return True
            if isinstance(value, str):
                report(error("POL107", f"`{value}` is not a value of `{var.name}`", span,
                             did_you_mean(value, var.values)
                             or f"declared values: {', '.join(var.values)}"))
            else:
                report(error("POL105", f"`{var.name}` is an enum; `{_num(value)}` is not one "
                                       f"of its values", span,
                             f"declared values: {', '.join(var.values)}"))
            return False
        if var.kind == "bool":
            if isinstance(value, bool):
                return True
            report(error("POL105", f"`{var.name}` is a bool; compare it with `true` or `false`",
                         span, f"or write `{var.name}` / `not {var.name}`"))
            return False
        if isinstance(value, float) and not isinstance(value, bool):
            return True
        report(error("POL105", f"`{var.name}` is a number; `{value}` is not a number", span,
                     "compare numbers with numbers, e.g. `account_age_days < 3`"))
        return False

    def _compare(self, g: ast.Compare, report: Report) -> Formula:
        var = self._attribute(g.attribute, g.span, report)
        if var is None or not self.check_value(var, g.value, g.span, report):
            return conj([])
        if var.kind != "number" and g.op not in ("==", "!="):
            report(error("POL105", f"`{g.op}` does not apply to {var.kind} attribute "
                                   f"`{var.name}`", g.span, "use `==`, `!=` or `in { ... }`"))
            return conj([])
        return Atom(var.name, g.op, g.value)

    def _in(self, g: ast.In, report: Report) -> Formula:
        var = self._attribute(g.attribute, g.span, report)
        if var is None:
            return conj([])
        # a list, not a generator: every bad value is reported, not only the first
        if not all([self.check_value(var, v, g.span, report) for v in g.values]):  # noqa: C419
            return conj([])
        atom = Atom(var.name, "in", frozenset(g.values))
        return FNot(atom) if g.negated else atom


def _num(x: object) -> str:
    if isinstance(x, float) and x == int(x):
        return str(int(x))
    return str(x)


def duplicate(what: str, name: str, span: ast.Span | None,
              first: ast.Span | None) -> Diagnostic:
    return diagnostic(code="POL104", fatal=True,
                      message=f"duplicate {what} `{name}`", span=span,
                      related=[Related(message="first declared here", span=first)],
                      help="each name is declared once per policy: remove or rename one")


def _silent(d: Diagnostic) -> None:
    pass


def resolve_rule(report: Report, src: RuleSource, order: int, scope: Scope, me: str,
                 floors: dict[tuple[str, str], list[Formula]],
                 floor_thr: dict[tuple[str, str], list[dict[str | None, ThresholdDecl]]]
                 | None = None) -> FlatRule:
    """A rule's guard (or sugar set) resolved in the policy's merged scope: its formula."""
    # an inherited rule was checked when its own policy was flattened: report once
    if src.origin != me:
        report = _silent
    formula: Formula
    category_sets: tuple[frozenset[str], ...] = ()
    if src.sugar_set is not None:
        members = scope.resolve_set(src.sugar_set, report)
        category_sets = (members,)
        formula = disj([scope.category_true(m) for m in sorted(members)])
    else:
        formula = scope.resolve_guard(src.guard, report)
    in_force = None
    if src.locked and src.origin != me:
        # LANGUAGE.md §5: a floor keeps the region it had in every parent it came through
        # (their thresholds), and grows with this policy's: a child tightens, never loosens
        kept = [f for f in dict.fromkeys(floors.get((src.origin, src.id), []))
                if f != formula]
        # ... and with this policy's bridges: a score a child's `derive` raises to a
        # parent's threshold is at it (the parents' regions above read the raw scores,
        # so a bridge added below met only the child's, maybe raised, thresholds)
        for thr in (floor_thr or {}).get((src.origin, src.id), []):
            if thr != scope.thresholds and scope.derived:
                bridged = replace(scope, thresholds=thr)
                f = (disj([bridged.category_true(m) for m in sorted(category_sets[0])])
                     if src.sugar_set is not None else bridged.resolve_guard(src.guard, _silent))
                if f != formula and f not in kept:
                    kept.append(f)
        if kept:
            in_force, formula = formula, disj([formula, *kept])
    if dnf_bound(formula, MAX_GUARD_BOXES) > MAX_GUARD_BOXES:
        report(limit_error(
            src.guard.span if src.guard is not None else src.span,
            f"guard of rule `{src.id}` is too complex: its disjunctive normal form has more "
            f"than {MAX_GUARD_BOXES:,} boxes",
            "split the rule into several rules with the same decision, each with a simpler "
            "guard (an `and` of `or`s multiplies the alternatives)"))
        formula, in_force = FALSE, None  # an error: no analysis may build the huge form
    return FlatRule(src.id, src.decision, formula, src.priority, src.locked, order,
                    src.origin, src.span, src.override, src.guard,
                    src.sugar,  # type: ignore[arg-type]
                    category_sets, in_force)


def inherited_floors(parents: list[FlatPolicy]) -> dict[tuple[str, str], list[Formula]]:
    """(origin, id) of each locked rule the parents have -> its region in each of them."""
    out: dict[tuple[str, str], list[Formula]] = {}
    for parent in parents:
        for r in parent.rules:
            if r.locked:
                out.setdefault((r.origin, r.id), []).append(r.formula)
    return out


def floor_thresholds(parents: list[FlatPolicy]
                     ) -> dict[tuple[str, str], list[dict[str | None, ThresholdDecl]]]:
    """(origin, id) of each locked rule the parents have -> the thresholds of every policy
    it came through (each parent and the ancestors above it that have the rule)."""
    out: dict[tuple[str, str], list[dict[str | None, ThresholdDecl]]] = {}
    for parent in parents:
        for p in (parent, *parent.ancestors.values()):
            for r in p.rules:
                if r.locked:
                    out.setdefault((r.origin, r.id), []).append(p.thresholds)
    return out
