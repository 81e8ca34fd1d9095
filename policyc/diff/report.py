"""Diff reports: rich text grouped by variables, JSON (`policyc/diff/v1`), markdown."""

from __future__ import annotations

import json

from policyc.diff.semantic import Change, DiffReport
from policyc.semantics.regions.changes import region_text
from policyc.semantics.regions.decision_map import Resolution


def outcome_text(o: Resolution) -> str:
    if o.decision is None:
        return "(no decision)"
    return f"{o.decision} by `{o.rule or 'default'}`"


def scope_text(c: Change) -> str:
    """The scoped form's condition (see `Difference`), empty for exact regions."""
    if c.scope is None:
        return ""
    rule, version = c.scope
    return f", where `{rule}` wins in {version}"


def _group_key(c: Change) -> str:
    return ", ".join(c.region) or "everything"


def to_text(report: DiffReport) -> str:
    s = report.summary()
    lines = [f"{report.old.name} {report.old.version} → {report.new.name} {report.new.version}: "
             f"{s['loosened']} loosened, {s['tightened']} tightened, {s['changed']} changed"]
    if not report.changes and not report.bindings:
        lines.append("no semantic change: every event gets the same decision")
    groups: dict[str, list[Change]] = {}
    for c in report.changes:
        groups.setdefault(_group_key(c), []).append(c)
    for key, changes in groups.items():
        lines.append("")
        lines.append(f"── {key}")
        for c in changes:
            mark = {"loosened": "▼ loosened", "tightened": "▲ tightened",
                    "changed": "◆ changed"}[c.kind]
            lines.append(f"  {mark}: {region_text(c.region)}{scope_text(c)}")
            lines.append(f"      {outcome_text(c.old)} → {outcome_text(c.new)}")
            lines.append(f"      witness: {json.dumps(c.witness, ensure_ascii=False)}")
            if c.accepted:
                lines.append(f"      accepted by `{c.accepted.target}`: {c.accepted.reason}")
    if report.bindings:
        lines.append("")
        lines.append("── bindings (models cannot be analyzed; these categories may decide "
                     "differently)")
        for b in report.bindings:
            rules = ", ".join(f"`{r}`" for r in b.rules) or "no rule"
            lines.append(f"  {b.category} ({b.binding}): {b.change}; read by {rules}")
    return "\n".join(lines) + "\n"


def to_markdown(report: DiffReport) -> str:
    s = report.summary()
    unaccepted = len(report.unaccepted_loosenings())
    icon = "🔴" if unaccepted else ("🟡" if report.changes or report.bindings else "🟢")
    out = [f"### {icon} policyc diff: `{report.old.name}` {report.old.version} → "
           f"{report.new.version}", "",
           f"**{s['loosened']} loosened** ({unaccepted} not accepted) · "
           f"**{s['tightened']} tightened** · **{s['changed']} changed** · "
           f"{len(report.bindings)} binding change{'s' if len(report.bindings) != 1 else ''}", ""]
    if not report.changes and not report.bindings:
        out.append("No semantic change: every event gets the same decision.")
        return "\n".join(out) + "\n"
    if report.changes:
        out += ["| | region | old | new | witness |", "|---|---|---|---|---|"]
        for c in report.changes:
            mark = {"loosened": "🔻 loosened", "tightened": "🔺 tightened",
                    "changed": "🔷 changed"}[c.kind]
            if c.accepted:
                mark += f" (accepted: {_md(c.accepted.reason)})"
            out.append(f"| {mark} | {_md(region_text(c.region) + scope_text(c))} "
                       f"| {_md(outcome_text(c.old))} "
                       f"| {_md(outcome_text(c.new))} | "
                       f"`{_md(json.dumps(c.witness, ensure_ascii=False))}` |")
        out.append("")
    if report.bindings:
        out += ["**Binding changes** (cannot be analyzed; review the model or pattern):", ""]
        for b in report.bindings:
            rules = ", ".join(f"`{r}`" for r in b.rules) or "no rule"
            out.append(f"- `{b.category}` ({b.binding}): {b.change}; read by {rules}")
        out.append("")
    out.append(f"<sub>old `{report.old_hash[:19]}…` · new `{report.new_hash[:19]}…`</sub>")
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
