"""Diff reports: rich text grouped by variables, JSON (`policyc/diff/v1`), markdown."""

from __future__ import annotations

import json

from policyc.diff.semantic import Change, DiffReport
from policyc.semantics.regions.changes import constraint_text, region_text
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


def row_region_text(c: Change) -> str:
    """A row's region in words, its exceptions after it (the `except` form):
    `…, except where audience in {teen, child} and self_harm.intent ≥ 0.5`."""
    text = region_text(c.region)
    if c.exceptions:
        text += ", except where " + " or where ".join(
            " and ".join(f"{name} {constraint_text(x)}" for name, x in h.items())
            for h in c.exceptions)
    return text


def _group_key(c: Change) -> str:
    """Rows are grouped by their causes (`diff/causes.py`)."""
    return " + ".join(e.text for e in c.causes) or "no edit found"


def _decision_text(o: Resolution) -> str:
    return "(no decision)" if o.decision is None else str(o.decision)


def effect_text(rows: list[Change]) -> str:
    """`loosens refuse → warn in 2 rows; tightens …`: a cause's rows, loosenings first."""
    if not rows:
        return "no effect on decisions"
    verbs = {"loosened": "loosens", "tightened": "tightens", "changed": "changes"}
    parts = []
    for kind, verb in verbs.items():
        pairs: dict[str, int] = {}
        for c in rows:
            if c.kind == kind:
                key = f"{_decision_text(c.old)} → {_decision_text(c.new)}"
                pairs[key] = pairs.get(key, 0) + 1
        if pairs:
            parts.append(f"{verb} " + ", ".join(
                f"{k} in {n} row{'s' if n != 1 else ''}" for k, n in pairs.items()))
    return "; ".join(parts)


def _summary_line(report: DiffReport) -> str:
    s = report.summary()
    return (f"{s['loosened']} loosened, {s['tightened']} tightened, {s['changed']} changed "
            f"({s['pairs']} decision pair{'s' if s['pairs'] != 1 else ''})")


def to_text(report: DiffReport) -> str:
    lines = [f"{report.old.name} {report.old.version} → {report.new.name} {report.new.version}: "
             f"{_summary_line(report)}"]
    if not report.changes and not report.bindings:
        lines.append("no semantic change: every event gets the same decision")
    for cause, rows in report.cause_effects():
        lines.append(f"  {cause.text}: {effect_text(rows)}")
    groups: dict[str, list[Change]] = {}
    for c in report.changes:
        groups.setdefault(_group_key(c), []).append(c)
    for key, changes in groups.items():
        lines.append("")
        lines.append(f"── {key}")
        for c in changes:
            mark = {"loosened": "▼ loosened", "tightened": "▲ tightened",
                    "changed": "◆ changed"}[c.kind]
            lines.append(f"  {mark}: {row_region_text(c)}{scope_text(c)}")
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
    """A GitHub PR comment: the causes and their effects in a table, the rows folded
    by kind (loosenings first) in `<details>`; rows that would take the comment over
    `COMMENT_LIMIT` characters are left out, and counted in a closing line."""
    s = report.summary()
    unaccepted = len(report.unaccepted_loosenings())
    icon = "🔴" if unaccepted else ("🟡" if report.changes or report.bindings else "🟢")
    out = [f"### {icon} policyc diff: `{report.old.name}` {report.old.version} → "
           f"{report.new.version}", "",
           f"**{s['loosened']} loosened** ({unaccepted} not accepted) · "
           f"**{s['tightened']} tightened** · **{s['changed']} changed** · "
           f"{s['pairs']} decision pair{'s' if s['pairs'] != 1 else ''} · "
           f"{len(report.bindings)} binding change{'s' if len(report.bindings) != 1 else ''}", ""]
    if not report.changes and not report.bindings:
        out.append("No semantic change: every event gets the same decision.")
        return "\n".join(out) + "\n"
    effects = report.cause_effects()
    if effects:
        out += ["| cause | effect |", "|---|---|"]
        out += [f"| {_md(e.text)} | {_md(effect_text(rows))} |" for e, rows in effects]
        out.append("")
    tail: list[str] = []
    if report.bindings:
        tail += ["**Binding changes** (cannot be analyzed; review the model or pattern):", ""]
        for b in report.bindings:
            rules = ", ".join(f"`{r}`" for r in b.rules) or "no rule"
            tail.append(f"- `{b.category}` ({b.binding}): {b.change}; read by {rules}")
        tail.append("")
    tail.append(f"<sub>old `{report.old_hash[:19]}…` · new `{report.new_hash[:19]}…`</sub>")
    # what the rows may take: a GitHub comment holds COMMENT_LIMIT characters
    room = COMMENT_LIMIT - _size(out) - _size(tail) - _OMITTED_ROOM
    labels = {"loosened": "🔻 loosened", "tightened": "🔺 tightened", "changed": "🔷 changed"}
    omitted = 0
    for kind, label in labels.items():
        rows = [c for c in report.changes if c.kind == kind]
        if not rows:
            continue
        section = [f"<details><summary>{label}: {len(rows)} row{'s' if len(rows) != 1 else ''}"
                   "</summary>", "",
                   "| region | old | new | causes | witness |", "|---|---|---|---|---|"]
        shown = 0
        for c in rows:
            line = _md_row(c)
            if omitted or _size(section) + len(line) + 1 + _size(["", "</details>", ""]) > room:
                omitted += 1
                continue
            section.append(line)
            shown += 1
        if shown:
            section += ["", "</details>", ""]
            out += section
            room -= _size(section)
    if omitted:
        out += [f"_{omitted} more row{'s' if omitted != 1 else ''} not shown (a GitHub comment "
                f"holds {COMMENT_LIMIT:,} characters): `policyc diff --format json` lists "
                "every row._", ""]
    out += tail
    return "\n".join(out) + "\n"


#: GitHub's limit on a pull-request comment, in characters; `to_markdown` keeps under it.
COMMENT_LIMIT = 65_536
_OMITTED_ROOM = 200  # the "N more rows not shown" line


def _size(lines: list[str]) -> int:
    return sum(len(line) + 1 for line in lines)


def _md_row(c: Change) -> str:
    region = row_region_text(c) + scope_text(c)
    if c.accepted:
        region += f" (accepted: {c.accepted.reason})"
    return (f"| {_md(region)} | {_md(outcome_text(c.old))} | {_md(outcome_text(c.new))} "
            f"| {_md('; '.join(e.text for e in c.causes))} | "
            f"`{_md(json.dumps(c.witness, ensure_ascii=False))}` |")


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
