"""Mechanical fixes for lint findings, as text edits (`policyc lint --fix`, the LSP's code
actions): one source of truth for both.

A fix is *safe* when applying it cannot change any decision the policy makes or break
one of its tests (`policyc lint --fix` applies those); an *unsafe* fix is what the help
line suggests but changes meaning or names (`--unsafe-fixes`, and in the editor as a
code action that is not preferred):

| code | fix | safe |
|---|---|---|
| POL203 dead rule | remove the rule (a dead `override R` becomes `drop R`) | yes |
| POL205 unsatisfiable guard | remove the rule (a guard that is never true) | yes |
| POL204 redundant rule | remove the rule (a test may still name it) | no |
| POL305 unannotated change | `rule r:` → `override p:` (the parent rule `p` goes entirely) | no |
| POL306 locked allow | drop `locked` (children may then override the rule) | no |
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from policyc.diagnostics import Diagnostic
from policyc.syntax import ast

if TYPE_CHECKING:
    from policyc.semantics.program import Program


@dataclass(frozen=True, slots=True)
class Edit:
    """Replace source characters `[start, end)` (Python string offsets) with `text`."""

    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Fix:
    code: str
    title: str
    file: str
    edits: tuple[Edit, ...]
    safe: bool


def _node_at(module: ast.Module, span: ast.Span) -> ast.Node | None:
    """The rule-like item of `module` declared exactly at `span`."""
    for item in module.policy.items:
        if isinstance(item, ast.Rule | ast.Sugar) and item.span is not None \
                and (item.span.start, item.span.end) == (span.start, span.end):
            return item
    return None


def _whole_lines(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen `[start, end)` to whole lines when nothing but blanks (and a trailing comment)
    shares them, so removing a rule leaves no empty line behind."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line_end = len(text) if line_end < 0 else line_end + 1
    before = text[line_start:start]
    after = text[end:line_end].strip()
    if before.strip() == "" and (after == "" or after.startswith("#")):
        return line_start, line_end
    return start, end


def _removal(code: str, node: ast.Node, text: str, file: str, what: str, safe: bool) -> Fix:
    assert node.span is not None
    if isinstance(node, ast.Rule) and node.override:
        # removing a dead override would bring the parent's rule back: drop it instead
        return Fix(code, f"replace the dead override with `drop {node.name}`", file,
                   (Edit(node.span.start, node.span.end, f"drop {node.name}"),), safe)
    start, end = _whole_lines(text, node.span.start, node.span.end)
    return Fix(code, f"remove {what}", file, (Edit(start, end, ""),), safe)


def _label(node: ast.Node) -> str:
    if isinstance(node, ast.Rule):
        return f"rule `{node.name}`"
    assert isinstance(node, ast.Sugar)
    return f"the `{node.kind}` rule"


_HEAD = re.compile(r"rule\s+([A-Za-z_][A-Za-z0-9_]*)")
_PARENT_RULE = re.compile(r"parent rule `([^`]+)`")


def fix_for(d: Diagnostic, module: ast.Module, text: str) -> Fix | None:
    """The fix for one finding in `module` (whose source is `text`), or None."""
    if d.span is None or d.fatal or d.span.file != module.path:
        return None
    node = _node_at(module, d.span)
    if node is None or node.span is None:
        return None
    file = module.path
    if d.code in ("POL203", "POL205"):
        from policyc.lint.rules.pol203_dead_rule import FLOORED_HELP

        return _removal(d.code, node, text, file, f"{_label(node)} (never decides)"
                        if d.code == "POL203" else f"{_label(node)} (its guard is never true)",
                        safe=d.help != FLOORED_HELP)
    if d.code == "POL204":
        return _removal(d.code, node, text, file, f"redundant {_label(node)}", safe=False)
    if d.code == "POL305" and isinstance(node, ast.Rule) and not node.locked \
            and not node.override:
        parent = _PARENT_RULE.search(d.message)
        head = _HEAD.match(text, node.span.start)
        if parent is None or head is None:
            return None
        return Fix(d.code, f"make it `override {parent.group(1)}`", file,
                   (Edit(head.start(), head.end(), f"override {parent.group(1)}"),), safe=False)
    if d.code == "POL306" and isinstance(node, ast.Rule) and node.locked:
        m = re.compile(r"locked\s+").match(text, node.span.start)
        if m is None:
            return None
        return Fix(d.code, "remove `locked` (an `allow` is no floor)", file,
                   (Edit(m.start(), m.end(), ""),), safe=False)
    return None


def apply_edits(text: str, edits: Iterable[Edit]) -> tuple[str, int]:
    """Apply non-overlapping edits (an edit overlapping an earlier-kept one is skipped);
    returns the new text and how many edits were applied."""
    kept: list[Edit] = []
    for e in sorted(set(edits), key=lambda e: (e.start, e.end)):
        if kept and e.start < kept[-1].end:
            continue
        kept.append(e)
    out = text
    for e in reversed(kept):
        out = out[:e.start] + e.text + out[e.end:]
    return out, len(kept)


def collect_fixes(diagnostics: Iterable[Diagnostic], modules: dict[str, ast.Module],
                  sources: dict[str, str], unsafe: bool = False) -> dict[str, list[Fix]]:
    """Fixes per file for the findings in `modules` (display path → module)."""
    out: dict[str, list[Fix]] = {}
    for d in diagnostics:
        if d.span is None or d.span.file not in modules or d.span.file not in sources:
            continue
        fix = fix_for(d, modules[d.span.file], sources[d.span.file])
        if fix is not None and (fix.safe or unsafe):
            out.setdefault(fix.file, []).append(fix)
    return out


def fix_program(program: Program, diagnostics: Iterable[Diagnostic], unsafe: bool = False
                ) -> dict[str, tuple[str, str, int]]:
    """One pass of fixes over the files given (`program.roots`, never a parent found on the
    search path): display path → (old text, new text, fixes applied), changed files only."""
    modules = {m.path: m for m in program.roots}
    out: dict[str, tuple[str, str, int]] = {}
    for file, fixes in collect_fixes(diagnostics, modules, program.sources, unsafe).items():
        old = program.sources[file]
        new, applied = apply_edits(old, [e for f in fixes for e in f.edits])
        if new != old:
            out[file] = (old, new, len(fixes) if applied == sum(len(f.edits) for f in fixes)
                         else applied)
    return out
