"""Declarations a policy makes at most once (`resolve`, `default`, `on_error`, `owner`, a
`meta` key, a `gate` metric, a parent in `extends`).

Why: the merge keeps one of each, so a second declaration would silently replace or drop
the first (two `default`s: the later one decided, with no finding). Like a duplicate rule
name, it is an error (POL104) pointing at the second, with the first as a related span.
"""

from __future__ import annotations

from policyc.diagnostics import Related, diagnostic
from policyc.semantics.resolve import Report
from policyc.syntax import ast

_SINGLE: tuple[tuple[type[ast.Node], str], ...] = (
    (ast.Resolve, "resolve"), (ast.Default, "default"), (ast.OnError, "on_error"),
    (ast.Owner, "owner"))


def _keys(item: ast.Node) -> list[tuple[str, str, ast.Span | None]]:
    """(key, what the policy does twice, span) for each once-only thing `item` declares."""
    for kind, keyword in _SINGLE:
        if isinstance(item, kind):
            return [(keyword, f"has two `{keyword}` declarations", item.span)]
    if isinstance(item, ast.Meta):
        return [(f"meta {item.key}", f"has two `meta {item.key}` entries", item.span)]
    if isinstance(item, ast.Gate):
        return [(f"gate {item.metric}", f"has two gates on `{item.metric}`", item.span)]
    if isinstance(item, ast.Extends):
        return [(f"extends {p.name}", f"extends `{p.name}` twice", p.span)
                for p in item.parents]
    return []


def check_once(report: Report, policy: ast.Policy) -> None:
    """POL104 for the second of two declarations that a policy makes at most once."""
    first: dict[str, ast.Span | None] = {}
    for item in policy.items:
        for key, what, span in _keys(item):
            if key not in first:
                first[key] = span
                continue
            report(diagnostic(
                code="POL104", fatal=True,
                message=f"policy `{policy.name}` {what}", span=span,
                related=[Related(message="first declared here", span=first[key])],
                help="keep one: the policy takes only one, so the other would be silently "
                     "replaced or dropped"))
