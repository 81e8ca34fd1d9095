"""The documented limits of the `.pol` front end (docs/language.md, "Limits"), and the check
that enforces the nesting limit right after parsing.

Why limits: every pass after the parser (semantics, lint, compile, fmt, the `test` runner)
walks guards, set expressions and category trees recursively. One check here, iterative and
run once on the AST, keeps them all far from Python's recursion limit, so no pass needs to
guard itself; a file over a limit is refused with a located POL004 error (exit 2).

The limits are generous for hand-written and generated policies alike:

* `MAX_NESTING` levels of `and`/`or`/`not` and set operators (`|`, `&`, `-`) in one guard or
  set expression, counted along any path from the top (a flat `a and b and c` is one level,
  parentheses alone are none; a chain `a | b | c` nests one level per `|`), and levels of
  nested categories;
* `MAX_EXTENDS` levels of `extends` above one policy (checked on the hierarchy,
  `semantics/hierarchy.py`);
* `MAX_GUARD_BOXES` boxes in the disjunctive normal form of one rule's guard, as bounded
  by `semantics.formula.dnf_bound` (checked when the rule is resolved, `resolve.py`):
  every analysis (lint, compile, diff) builds that form, and an `and` of `or`s multiplies;
* `MAX_LITERAL` characters in one string or number literal (quotes included);
* `MAX_FILE` characters in one file.
"""

from __future__ import annotations

from collections.abc import Iterator

from policyc.diagnostics import Diagnostic, Span, diagnostic
from policyc.syntax import ast

MAX_NESTING = 128
MAX_GUARD_BOXES = 4096  # boxes in the disjunctive normal form of one rule's guard (a bound)
MAX_EXTENDS = 128  # levels of `extends` above a policy (flattening recurses once per level)
MAX_LITERAL = 1 << 20  # 1 MiB of source text
MAX_FILE = 16 << 20  # 16 MiB of source text

#: Integers a double holds exactly (and every JSON reader agrees on): a priority's range.
MAX_PRIORITY = (1 << 53) - 1

CODE = "POL004"


def limit_error(span: Span | None, message: str, help: str) -> Diagnostic:
    return diagnostic(code=CODE, message=message, span=span,
                      help=help, fatal=True)


def file_too_large(path: str, size: int, unit: str = "characters") -> Diagnostic:
    return limit_error(Span(path, 1, 1, 1, 1),
                       f"file is too large: {size:,} {unit} (the limit is {MAX_FILE:,})",
                       "split the policy into several files with `extends`")


def literal_too_long(span: Span | None, kind: str, size: int) -> Diagnostic:
    return limit_error(span, f"{kind} literal is too long: {size:,} characters "
                             f"(the limit is {MAX_LITERAL:,})",
                       "keep long texts and patterns out of the policy: shorten the literal")


def _children(node: object) -> tuple[object, ...]:
    """The nodes below `node` that the passes recurse into."""
    if isinstance(node, (ast.Or, ast.And)):
        return node.items
    if isinstance(node, ast.Not):
        return (node.item,)
    if isinstance(node, ast.Quantified):
        return (node.set,)
    if isinstance(node, ast.SetOp):
        return (node.left, node.right)
    if isinstance(node, ast.Category):
        return node.children
    return ()


_LEVELS = (ast.Or, ast.And, ast.Not, ast.SetOp, ast.Category)


def too_deep(root: object) -> ast.Node | None:
    """The first node (in source order) that lies more than `MAX_NESTING` levels deep.

    Iterative (a depth-first walk in source order), so it cannot run out of stack itself.
    """
    stack: list[tuple[object, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, _LEVELS):
            depth += 1
            if depth > MAX_NESTING:
                return node  # type: ignore[return-value]
        stack.extend((child, depth) for child in reversed(_children(node)))
    return None


def _roots(policy: ast.Policy) -> Iterator[tuple[object, str]]:
    for item in policy.items:
        if isinstance(item, ast.Rule) and item.guard is not None:
            yield item.guard, "guard"
        elif isinstance(item, ast.SetDecl):
            yield item.expr, "set expression"
        elif isinstance(item, ast.Sugar):
            yield item.set, "set expression"
        elif isinstance(item, ast.Categories):
            for root in item.roots:
                yield root, "category tree"


def check_nesting(policy: ast.Policy) -> list[Diagnostic]:
    """A POL004 error for each guard, set expression or category tree nested too deeply."""
    out = []
    for root, what in _roots(policy):
        node = too_deep(root)
        if node is not None:
            help = ("name parts of it with `set` declarations, or split the rule"
                    if what != "category tree" else "flatten the category tree")
            if what == "set expression" or isinstance(node, ast.SetOp):
                help = ("list the names in one `{ a, b, ... }` literal, or name parts of the "
                        "expression with `set` declarations")
            out.append(limit_error(
                node.span, f"{what} is nested too deeply: more than {MAX_NESTING} levels",
                help))
    return out
