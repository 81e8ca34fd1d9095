"""What `policyc explain` shows: the decision, the event as the policy saw it (every
attribute, defaults included, and the scores), the strategy, which rule decided and why,
and, for each matched rule, the conditions of the guard region the event fell in
(thresholds included): as text (`explain_text`) or JSON (`explain_json`).

Everything is read from the bundle (`Checker`), so a `.pol` file and its compiled
bundle explain alike. A rule's guard is a union of boxes (entries); per variable an
entry allows some pieces of its cut line (see `runtime/events.py`: even pieces lie
between cuts, odd pieces are the cuts), which this module turns back into
`audience in {teen}` and `self_harm.intent >= 0.5`.

JSON (`policyc/explain/v1`) is the decision object (`policyc/decision/v1` keys) plus
`strategy`, `winner`, `floor`, `context` (name → {value, source: given|default}),
and `rules`: one object per matched rule with its decision, `locked`, `priority` and
`conditions` (a list of `{"variable", "text"}`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policyc.runtime.bundle import VariableSpec
from policyc.runtime.checker import Checker
from policyc.runtime.decision import RuntimeDecision
from policyc.semantics.model import Decision

SCHEMA = "policyc/explain/v1"


def context_used(checker: Checker, context: Mapping[str, Any]) -> list[tuple[str, Any, str]]:
    """(attribute, value, "given" | "default") for every attribute, in declaration order."""
    out = []
    for var in checker.variables:
        if var.kind == "score":
            continue
        if var.name in context:
            out.append((var.name, context[var.name], "given"))
        elif var.default is not None:
            out.append((var.name, var.default, "default"))
    return out


def _point(checker: Checker, d: RuntimeDecision, context: Mapping[str, Any]) -> list[int] | None:
    """The event's piece on every variable, or None when it cannot be placed."""
    given = {name: value for name, value, _ in context_used(checker, context)}
    pieces = []
    enc = checker.encoder
    try:
        for i, var in enumerate(checker.variables):
            value = d.scores.get(var.name, 0.0) if var.kind == "score" else given[var.name]
            pieces.append(enc.piece[i](value))
    except (KeyError, ValueError):
        return None
    return pieces


def _show_value(x: Any) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float):
        return f"{x:g}"
    return str(x)


def _condition(var: VariableSpec, allowed: list[int]) -> str | None:
    """The text of one variable's constraint in an entry; None when it allows everything."""
    if len(allowed) == var.n_pieces:
        return None
    if var.kind == "enum":
        values = [str(var.values[p]) for p in allowed]
        return f"{var.name} == {values[0]}" if len(values) == 1 else \
            f"{var.name} in {{{', '.join(values)}}}"
    if var.kind == "bool":
        return f"{var.name} == {_show_value(bool(allowed[0]))}"
    cuts = list(var.cuts)
    lo, hi = allowed[0], allowed[-1]
    low = high = None
    if lo % 2 == 1:
        low = (">=", cuts[(lo - 1) // 2])
    elif lo > 0:
        low = (">", cuts[lo // 2 - 1])
    if hi % 2 == 1:
        high = ("<=", cuts[(hi - 1) // 2])
    elif hi // 2 < len(cuts):
        high = ("<", cuts[hi // 2])
    if var.kind == "score":
        low = None if low is not None and low[1] <= 0.0 and low[0] == ">=" else low
        high = None if high is not None and high[1] >= 1.0 and high[0] == "<=" else high
    if low is not None and high is not None and low[1] == high[1]:
        return f"{var.name} == {_show_value(low[1])}"
    if low is not None and high is not None:
        flip = {">=": "<=", ">": "<"}[low[0]]
        return f"{_show_value(low[1])} {flip} {var.name} {high[0]} {_show_value(high[1])}"
    if low is not None:
        return f"{var.name} {low[0]} {_show_value(low[1])}"
    if high is not None:
        return f"{var.name} {high[0]} {_show_value(high[1])}"
    return None


def rule_conditions(checker: Checker, d: RuntimeDecision, context: Mapping[str, Any]
                    ) -> dict[str, list[tuple[str, str]]]:
    """Matched rule id → [(variable, condition)] of the first guard box the event is in."""
    point = _point(checker, d, context)
    if point is None:
        return {}
    bits = checker.encoder.bits
    mask = checker.all_entries
    for i, p in enumerate(point):
        mask &= bits[i][p]
    out: dict[str, list[tuple[str, str]]] = {}
    for e, r in enumerate(checker.entry_rule):
        rid = checker.rule_ids[r]
        if not mask >> e & 1 or rid in out:
            continue
        conditions = []
        for i, var in enumerate(checker.variables):
            allowed = [p for p in range(var.n_pieces) if bits[i][p] >> e & 1]
            text = _condition(var, allowed)
            if text is not None:
                conditions.append((var.name, text))
        out[rid] = conditions
    return out


def explain_json(checker: Checker, d: RuntimeDecision, context: Mapping[str, Any]
                 ) -> dict[str, Any]:
    by_id = {r.id: r for r in checker.rules}
    conditions = rule_conditions(checker, d, context)
    decision = d.to_dict()
    decision.pop("schema", None)
    return {
        "schema": SCHEMA, **decision, "strategy": checker.strategy, "winner": d.winner,
        "floor": d.floor,
        "context": {name: {"value": value, "source": source}
                    for name, value, source in context_used(checker, context)},
        "rules": [{"rule": rid, "action": by_id[rid].decision.action,
                   "argument": by_id[rid].decision.argument, "locked": by_id[rid].locked,
                   "priority": by_id[rid].priority,
                   "conditions": [{"variable": v, "text": t}
                                  for v, t in conditions.get(rid, [])]}
                  for rid in d.matched],
    }


def show_decision(action: str, argument: str | None) -> str:
    """`refuse` or `redirect("…")`: a decision as the policy language writes it."""
    return str(Decision(action, argument))


def explain_text(checker: Checker, d: RuntimeDecision, context: dict[str, Any] | None = None
                 ) -> str:
    """The event as the policy saw it, which rules matched and on which conditions, the
    strategy, which rule decided and why."""
    by_id = {r.id: r for r in checker.rules}
    context = context or {}
    lines = [f"policy {d.policy} {d.version} ({d.hash})", f"strategy: {checker.strategy}"]
    used = context_used(checker, context)
    if used:
        lines.append("context: " + ", ".join(
            f"{k}={_show_value(v)}" + (" (default)" if src == "default" else "")
            for k, v, src in used))
    lines.append("scores: " + (", ".join(f"{k}={v:g}" for k, v in sorted(d.scores.items()))
                               or "none (every category 0)"))
    if d.matched:
        conditions = rule_conditions(checker, d, context)
        lines.append("matched:")
        for rid in d.matched:
            r = by_id[rid]
            tags = (" locked" if r.locked else "") + (f" priority {r.priority}"
                                                      if r.priority else "")
            lines.append(f"  {rid}: {show_decision(r.decision.action, r.decision.argument)}{tags}")
            when = [t for _, t in conditions.get(rid, [])]
            lines.append("    when " + (" and ".join(when) if when else "always"))
    else:
        lines.append("matched: none")
    decided = show_decision(d.action, d.argument)
    if d.rule is None:
        if d.errors:
            lines.append(f"decided: {decided} by on_error ({'; '.join(d.errors)})")
        else:
            lines.append(f"decided: {decided} by `default` (no rule matched)")
        return "\n".join(lines)
    winner = by_id[d.winner] if d.winner else None
    others = [by_id[r] for r in d.matched if r != d.winner]
    why = ""
    if winner is not None:
        w = show_decision(winner.decision.action, winner.decision.argument)
        losers = sorted({show_decision(r.decision.action, r.decision.argument) for r in others
                         if r.decision != winner.decision})
        s = checker.strategy
        if not others:
            why = "the only matching rule"
        elif s == "most-restrictive" or s == "unique":
            why = f"{s}: {w} beats {', '.join(losers)}" if losers else \
                f"{s}: all matching rules agree; the first in order decides"
            if s == "unique" and losers:
                why += " (ambiguous under `unique`: fail closed)"
        elif s == "least-restrictive":
            why = f"least-restrictive: {w} beats {', '.join(losers)}" if losers else \
                "least-restrictive: all matching rules agree"
        elif s == "first-match":
            why = f"first-match: `{winner.id}` comes first in flattened order"
        elif s == "priority":
            why = f"priority: `{winner.id}` has the highest priority ({winner.priority})"
        else:
            why = f"most-specific: `{winner.id}`'s region lies inside the others'"
    lines.append(f"strategy picked: `{d.winner}` ({why})")
    if d.floor is not None and winner is not None:
        lines.append(f"locked floor `{d.floor}` raised "
                     f"{show_decision(winner.decision.action, winner.decision.argument)} to {decided}")
    if d.errors:
        lines.append("errors: " + "; ".join(d.errors))
    lines.append(f"decided: {decided} by rule `{d.rule}`")
    return "\n".join(lines)
