"""Every name in a policy's sources, as occurrences (declarations and references).

The AST keeps spans on nodes, not on each name: a name's exact range is found in its
node's text (the first whole-word match from where the previous name of the node
ended), so comments and strings outside that node never count. What a bare name means
is decided as the semantics does: in a guard, a category else a bool attribute; in a
set position, a declared set else a category (LANGUAGE.md §3).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from policyc.semantics.model import FlatPolicy
from policyc.syntax import ast

Kind = Literal["category", "set", "attribute", "rule", "policy"]


@dataclass(frozen=True, slots=True)
class Occurrence:
    kind: Kind
    name: str
    file: str
    start: int  # character offsets in the file's text
    end: int
    decl: bool = False


_WORD = r"[A-Za-z0-9_]"


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9_.]){re.escape(name)}(?!{_WORD}|\.{_WORD})")


class _Scanner:
    """Finds one module's names in its text."""

    def __init__(self, module: ast.Module, text: str, flat: FlatPolicy | None):
        self.file = module.path
        self.text = text
        self.flat = flat
        self.out: list[Occurrence] = []

    def find(self, kind: Kind, name: str, node: ast.Node, cursor: int | None = None,
             decl: bool = False) -> int:
        """Record `name` at its first whole-word match inside `node`'s span (from `cursor`);
        returns where the match ends (or the cursor, when there is none)."""
        span = node.span
        if span is None:
            return cursor or 0
        lo = span.start if cursor is None else max(cursor, span.start)
        m = _pattern(name).search(self.text, lo, max(span.end, lo))
        if m is None:
            return lo
        self.out.append(Occurrence(kind, name, self.file, m.start(), m.end(), decl))
        return m.end()

    # what a name means where the semantics leaves it open
    def _is_set(self, name: str) -> bool:
        return self.flat is not None and name in self.flat.sets

    def _is_category(self, name: str) -> bool:
        return self.flat is None or name in self.flat.categories

    def module(self, module: ast.Module) -> list[Occurrence]:
        policy = module.policy
        self.find("policy", policy.name, policy, decl=True)
        for item in policy.items:
            self.item(item)
        return self.out

    def item(self, item: ast.Item) -> None:  # noqa: C901 - one branch per declaration
        if isinstance(item, ast.Extends):
            for p in item.parents:
                self.find("policy", p.name, p)
        elif isinstance(item, ast.Context):
            self.find("attribute", item.name, item, decl=True)
        elif isinstance(item, ast.Categories):
            for root in item.roots:
                self.category(root, "")
        elif isinstance(item, ast.Derive):
            at = self.find("category", item.category, item)
            for s in item.sources:
                at = self.find("category", s, item, at)
        elif isinstance(item, ast.Classifier):
            for label in item.labels:
                self.find("category", label.category, label)
        elif isinstance(item, ast.Detector | ast.Threshold) and item.category:
            self.find("category", item.category, item)
        elif isinstance(item, ast.SetDecl):
            self.find("set", item.name, item, decl=True)
            self.set_expr(item.expr)
        elif isinstance(item, ast.Rule):
            self.find("rule", item.name, item, decl=True)
            if item.guard is not None:
                self.guard(item.guard)
        elif isinstance(item, ast.Sugar):
            self.set_expr(item.set)
        elif isinstance(item, ast.Drop):
            self.find("rule", item.name, item)
        elif isinstance(item, ast.Test):
            for a in item.given:
                attribute = a.name in self.flat.contexts if self.flat is not None \
                    else "." not in a.name
                self.find("attribute" if attribute else "category", a.name, a)
            if item.expect_rule is not None and item.span is not None:
                m = re.compile(rf"\bby\s+({re.escape(item.expect_rule)})\b").search(
                    self.text, item.span.start, item.span.end)
                if m is not None:
                    self.out.append(Occurrence("rule", item.expect_rule, self.file,
                                               m.start(1), m.end(1)))

    def category(self, node: ast.Category, prefix: str) -> None:
        path = f"{prefix}{node.name}"
        if node.span is not None:
            m = _pattern(node.name).search(self.text, node.span.start, node.span.end)
            if m is not None:
                self.out.append(Occurrence("category", path, self.file, m.start(), m.end(),
                                           decl=True))
        for child in node.children:
            self.category(child, path + ".")

    def set_expr(self, expr: ast.SetExpr) -> None:
        if isinstance(expr, ast.SetLiteral):
            at = None
            for name in expr.items:
                at = self.find("category", name, expr, at)
        elif isinstance(expr, ast.SetRef):
            self.find("set" if self._is_set(expr.name) else "category", expr.name, expr)
        else:
            self.set_expr(expr.left)
            self.set_expr(expr.right)

    def guard(self, g: ast.Guard) -> None:
        if isinstance(g, ast.Or | ast.And):
            for item in g.items:
                self.guard(item)
        elif isinstance(g, ast.Not):
            self.guard(g.item)
        elif isinstance(g, ast.NameRef):
            self.find("category" if self._is_category(g.name) else "attribute", g.name, g)
        elif isinstance(g, ast.Quantified):
            self.set_expr(g.set)
        elif isinstance(g, ast.ScoreCmp):
            self.find("category", g.category, g)
        elif isinstance(g, ast.Compare | ast.In):
            self.find("attribute", g.attribute, g)


def module_occurrences(module: ast.Module, text: str, flat: FlatPolicy | None
                       ) -> list[Occurrence]:
    return _Scanner(module, text, flat).module(module)


class Index:
    """Occurrences over several files (a document, its parents, other open documents)."""

    def __init__(self, occurrences: list[Occurrence]):
        self.occurrences = occurrences
        self.by_file: dict[str, list[Occurrence]] = {}
        for o in occurrences:
            self.by_file.setdefault(o.file, []).append(o)

    def at(self, file: str, offset: int) -> Occurrence | None:
        """The occurrence under `offset`; on the first segments of a category path, the
        ancestor category those segments name (`self_harm` in `self_harm.intent`)."""
        for o in self.by_file.get(file, []):
            if o.start <= offset <= o.end:
                if o.kind == "category" and not o.decl:
                    cut = o.name.find(".", offset - o.start)
                    if cut >= 0:
                        return Occurrence("category", o.name[:cut], o.file, o.start,
                                          o.start + cut)
                return o
        return None

    def named(self, kind: Kind, name: str) -> Iterator[Occurrence]:
        """Every occurrence of a symbol, including category paths that pass through it
        (a reference to `self_harm.intent` also refers to `self_harm`)."""
        for o in self.occurrences:
            if o.kind != kind:
                continue
            if o.name == name:
                yield o
            elif kind == "category" and not o.decl and o.name.startswith(name + "."):
                yield Occurrence(kind, name, o.file, o.start, o.start + len(name))

    def declarations(self, kind: Kind, name: str) -> list[Occurrence]:
        return [o for o in self.named(kind, name) if o.decl]
