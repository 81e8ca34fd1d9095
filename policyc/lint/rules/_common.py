"""Helpers shared by lint rules (not a rule: the leading underscore keeps it unregistered)."""

from __future__ import annotations

from policyc.diagnostics import Related
from policyc.semantics.model import FlatRule


def related(rule: FlatRule, message: str | None = None) -> Related:
    return Related(message=message or f"rule `{rule.id}`", span=rule.span)


def names(rules: list[FlatRule], limit: int = 4) -> str:
    shown = ", ".join(f"`{r.id}`" for r in rules[:limit])
    more = len(rules) - limit
    return shown + (f" and {more} more" if more > 0 else "")
