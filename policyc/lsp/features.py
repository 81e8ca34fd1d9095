"""What the language server answers, as lsprotocol values computed from an `Analysis`."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

from lsprotocol import types as lsp

from policyc.diagnostics import Severity
from policyc.lint.fixes import fix_for
from policyc.lsp.analysis import Analysis
from policyc.lsp.index import Occurrence
from policyc.runtime.actions import ACTIONS
from policyc.semantics.model import FlatPolicy
from policyc.syntax import ast
from policyc.syntax.ast import STRATEGIES

DOCS_URL = "https://github.com/policyc/policyc/blob/main/docs/rules/{code}.md"
_SEVERITY = {Severity.error: lsp.DiagnosticSeverity.Error,
             Severity.warning: lsp.DiagnosticSeverity.Warning,
             Severity.info: lsp.DiagnosticSeverity.Information}
#: findings about code that does nothing: editors grey it out
_UNNECESSARY = {"POL203", "POL204", "POL205"}


@cache
def uri_of(file: str) -> str:
    """Cached: a thousand findings name a handful of files, and resolving is a syscall each."""
    return Path(file).resolve().as_uri()


def _location(analysis: Analysis, file: str, start: int, end: int) -> lsp.Location | None:
    lines = analysis.lines_of(file)
    if lines is None:
        return None
    return lsp.Location(uri=uri_of(file), range=lines.range(start, end))


def _span_location(analysis: Analysis, span: ast.Span) -> lsp.Location | None:
    lines = analysis.lines_of(span.file)
    if lines is None:
        return None
    return lsp.Location(uri=uri_of(span.file), range=lines.span_range(span))


# ---- diagnostics ---------------------------------------------------------------------------


def diagnostics(analysis: Analysis) -> list[lsp.Diagnostic]:
    """The document's findings; one located in another file (a parent that does not
    parse, say) is shown on the document's first line, pointing there."""
    out = []
    head = lsp.Range(start=lsp.Position(line=0, character=0),
                     end=lsp.Position(line=0, character=len(analysis.text.split("\n", 1)[0])))
    located: dict[ast.Span, lsp.Location | None] = {}  # a rule is named by many findings

    def location(span: ast.Span) -> lsp.Location | None:
        if span not in located:
            located[span] = _span_location(analysis, span)
        return located[span]

    for d in analysis.diagnostics:
        related = [lsp.DiagnosticRelatedInformation(location=loc, message=r.message)
                   for r in d.related if r.span is not None
                   for loc in [location(r.span)] if loc is not None]
        message = d.message
        if d.span is not None and d.span.file == analysis.path:
            where = analysis.lines.span_range(d.span)
        else:
            where = head
            loc = _span_location(analysis, d.span) if d.span is not None else None
            if loc is not None:
                related.insert(0, lsp.DiagnosticRelatedInformation(location=loc,
                                                                   message=d.message))
                message = f"{d.span.file}:{d.span.line}:{d.span.column}: {d.message}"  # type: ignore[union-attr]
        if d.witness is not None:
            message += "\nwitness: " + json.dumps(d.witness, ensure_ascii=False)
        if d.help:
            message += f"\nhelp: {d.help}"
        out.append(lsp.Diagnostic(
            range=where, message=message, severity=_SEVERITY[d.severity], code=d.code,
            code_description=lsp.CodeDescription(href=DOCS_URL.format(code=d.code)),
            source="policyc", related_information=related or None,
            tags=[lsp.DiagnosticTag.Unnecessary] if d.code in _UNNECESSARY else None,
            data={"code": d.code, "line": d.span.line, "column": d.span.column}
            if d.span is not None else None))
    return out


# ---- hover ---------------------------------------------------------------------------------


def _where(o_file: str | None, analysis: Analysis) -> str:
    if o_file is None:
        return ""
    return " (this file)" if o_file == analysis.path else f" (`{Path(o_file).name}`)"


def _threshold_line(flat: FlatPolicy, name: str) -> str:
    node: str | None = name
    while node is not None:
        decl = flat.thresholds.get(node)
        if decl is not None:
            how = "its own" if node == name else f"from `{node}`"
            return f"threshold in force: **{decl.value:g}** ({how}, declared in `{decl.origin}`)"
        info = flat.categories.get(node)
        node = info.parent if info else None
    default = flat.thresholds.get(None)
    if default is not None:
        return f"threshold in force: **{default.value:g}** (`threshold default` of " \
               f"`{default.origin}`)"
    return "threshold in force: **0.5** (no `threshold` declared)"


def _hover_category(flat: FlatPolicy, name: str, analysis: Analysis) -> str | None:
    info = flat.categories.get(name)
    if info is None:
        return None
    lines = [f"**category** `{name}`" + (" (leaf)" if info.is_leaf else "")]
    if info.doc:
        lines.append(info.doc)
    lines.append(_threshold_line(flat, name))
    if not info.is_leaf:
        lines.append("leaves: " + ", ".join(f"`{leaf}`" for leaf in flat.leaves_under(name)))
    if name in flat.derived:
        lines.append("derived: max of " + ", ".join(f"`{s}`" for s in flat.derived[name]))
    lines.append(f"declared in `{info.origin}`" + _where(
        info.span.file if info.span else None, analysis))
    return "\n\n".join(lines)


def _hover_rule(flat: FlatPolicy, name: str, analysis: Analysis) -> str | None:
    rule = flat.rule(name)
    replaced = [(kind, origin) for rid, kind, _, origin in flat.replaced if rid == name]
    if rule is None and not replaced:
        # a parent's rule seen from its own file's point of view
        for anc in flat.ancestors.values():
            if anc.rule(name) is not None:
                return _hover_rule(anc, name, analysis)
        return None
    lines = []
    if rule is not None:
        tags = [t for t, on in (("locked", rule.locked), ("override", rule.override)) if on]
        lines.append(f"**rule** `{rule.id}`: `{rule.decision}`"
                     + (f" ({', '.join(tags)})" if tags else ""))
        lines.append(f"priority {rule.priority}" + (
            " (used: `resolve priority`)" if flat.strategy == "priority"
            else f" (not used by `resolve {flat.strategy}`)"))
        if rule.locked:
            lines.append("locked: a floor — children cannot override, drop or loosen it")
        if rule.override:
            parent = next((o for rid, k, _, o in flat.replaced if rid == name), None)
            lines.append("overrides the rule of the same name" + (
                f" in `{parent}`" if parent else ""))
        lines.append(f"declared in `{rule.origin}`" + _where(
            rule.span.file if rule.span else None, analysis))
    for kind, origin in replaced:
        if rule is None or kind == "drop":
            lines.append(f"`{name}` of `{origin}` is {'dropped' if kind == 'drop' else 'overridden'}"
                         f" by `{flat.name}`")
    return "\n\n".join(lines)


def _hover_set(flat: FlatPolicy, name: str) -> str | None:
    members = flat.sets.get(name)
    if members is None:
        return None
    return f"**set** `{name}` ({len(members)} leaf categor{'y' if len(members) == 1 else 'ies'})" \
           "\n\n" + (", ".join(f"`{m}`" for m in sorted(members)) or "(empty)")


def _hover_attribute(flat: FlatPolicy, name: str) -> str | None:
    var = flat.contexts.get(name)
    if var is None:
        return None
    kind = f"enum {{ {', '.join(var.values)} }}" if var.kind == "enum" else var.kind
    value = var.default
    default = "" if value is None else \
        f" = {str(value).lower() if isinstance(value, bool) else value}"
    return f"**context** `{name}: {kind}{default}`\n\ndeclared in `{var.origin}`"


def _hover_policy(analysis: Analysis, name: str) -> str | None:
    module = analysis.program.workspace.modules.get(name)
    if module is None:
        return None
    p = module.policy
    lines = [f"**policy** `{name}` version `{p.version}`" if p.version else f"**policy** `{name}`"]
    owner = next((i.value for i in p.items if isinstance(i, ast.Owner)), None)
    if owner:
        lines.append(f"owner: {owner}")
    parents = [r.name + (" narrowing" if r.narrowing else "") for i in p.items
               if isinstance(i, ast.Extends) for r in i.parents]
    if parents:
        lines.append("extends " + ", ".join(f"`{x}`" for x in parents))
    lines.append(f"file: `{module.path}`")
    return "\n\n".join(lines)


def symbol_at(analysis: Analysis, offset: int) -> Occurrence | None:
    return analysis.index.at(analysis.path, offset)


def _flat_for(analysis: Analysis, o: Occurrence) -> FlatPolicy | None:
    """The flattened policy a name is read in: the document's, or a parent's own."""
    flat = analysis.flat
    if flat is None or o.file == analysis.path:
        return flat
    module = analysis.program.workspace.files.get(o.file)
    if module is not None and module.policy.name in flat.ancestors:
        return flat.ancestors[module.policy.name]
    return flat


def hover(analysis: Analysis, offset: int) -> lsp.Hover | None:
    o = symbol_at(analysis, offset)
    if o is None:
        return None
    flat = _flat_for(analysis, o)
    text: str | None = None
    if o.kind == "policy":
        text = _hover_policy(analysis, o.name)
    elif flat is not None:
        text = {"category": lambda: _hover_category(flat, o.name, analysis),
                "rule": lambda: _hover_rule(flat, o.name, analysis),
                "set": lambda: _hover_set(flat, o.name),
                "attribute": lambda: _hover_attribute(flat, o.name)}[o.kind]()
    if text is None:
        return None
    return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=text),
                     range=analysis.lines.range(o.start, o.end))


# ---- definition and references ------------------------------------------------------------


def definition(analysis: Analysis, offset: int) -> list[lsp.Location]:
    o = symbol_at(analysis, offset)
    if o is None:
        return []
    if o.kind == "policy":
        module = analysis.program.workspace.modules.get(o.name)
        if module is None or module.policy.span is None:
            return []
        found = [x for x in analysis.index.declarations("policy", o.name)
                 if x.file == module.path]
        if found:
            return [loc for x in found for loc in [_location(analysis, x.file, x.start, x.end)]
                    if loc]
        loc = _span_location(analysis, module.policy.span)
        return [loc] if loc else []
    decls = analysis.index.declarations(o.kind, o.name)
    others = [d for d in decls if (d.file, d.start) != (o.file, o.start)]
    # on an `override` (a declaration itself) the definition is the parent's rule
    chosen = others or decls
    return [loc for d in chosen for loc in [_location(analysis, d.file, d.start, d.end)] if loc]


def references(analysis: Analysis, offset: int, include_declaration: bool
               ) -> list[lsp.Location]:
    o = symbol_at(analysis, offset)
    if o is None:
        return []
    seen = set()
    out = []
    for r in analysis.index.named(o.kind, o.name):
        if r.decl and not include_declaration:
            continue
        key = (r.file, r.start, r.end)
        if key in seen:
            continue
        seen.add(key)
        loc = _location(analysis, r.file, r.start, r.end)
        if loc:
            out.append(loc)
    return out


# ---- completion ----------------------------------------------------------------------------


@cache
def keywords() -> tuple[str, ...]:
    """The grammar's keywords (read from `policy.lark`, so the two cannot drift)."""
    from policyc.syntax.parse import grammar_path

    words = set(re.findall(r'"([a-z_][a-z_-]*)"', grammar_path().read_text(encoding="utf-8")))
    return tuple(sorted(words - set(ACTIONS) - set(STRATEGIES)))


_ENUM_CONTEXT = re.compile(
    r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:==|!=|(?:not\s+)?in\s*\{[^{}]*)\s*([A-Za-z0-9_]*)$")
_PATH_CONTEXT = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*)\.([A-Za-z0-9_]*)$")


def completion(analysis: Analysis, flat: FlatPolicy | None, text: str, offset: int
               ) -> list[lsp.CompletionItem]:
    """Context-aware where the text says what comes (an enum value after `attr ==`, a
    child after `category.`), else everything that may stand there."""
    line_start = text.rfind("\n", 0, offset) + 1
    before = text[line_start:offset]
    items: list[lsp.CompletionItem] = []
    kinds = lsp.CompletionItemKind
    if flat is not None:
        m = _ENUM_CONTEXT.search(before)
        var = flat.contexts.get(m.group(1)) if m else None
        if var is not None and var.kind in ("enum", "bool"):
            values = var.values if var.kind == "enum" else ("true", "false")
            return [lsp.CompletionItem(label=v, kind=kinds.EnumMember,
                                       detail=f"value of `{var.name}`") for v in values]
        m = _PATH_CONTEXT.search(before)
        if m and m.group(1) in flat.categories:
            info = flat.categories[m.group(1)]
            return [_category_item(flat, c, label=c.rsplit(".", 1)[1]) for c in info.children]
        for name in flat.categories:
            items.append(_category_item(flat, name))
        for name, members in flat.sets.items():
            items.append(lsp.CompletionItem(
                label=name, kind=kinds.Variable,
                detail=f"set of {len(members)}: " + ", ".join(sorted(members)[:6])
                + (", …" if len(members) > 6 else "")))
        for name, var in flat.contexts.items():
            detail = f"enum {{ {', '.join(var.values)} }}" if var.kind == "enum" else var.kind
            items.append(lsp.CompletionItem(label=name, kind=kinds.Field,
                                            detail=f"context {detail}"))
        for rule in flat.rules:
            if not rule.sugar:
                items.append(lsp.CompletionItem(label=rule.id, kind=kinds.Function,
                                                detail=f"rule: {rule.decision}"))
    for action in ACTIONS:
        items.append(lsp.CompletionItem(label=action, kind=kinds.Constant, detail="action"))
    for strategy in STRATEGIES:
        items.append(lsp.CompletionItem(label=strategy, kind=kinds.Constant,
                                        detail="resolve strategy"))
    for word in keywords():
        items.append(lsp.CompletionItem(label=word, kind=kinds.Keyword))
    return items


def _category_item(flat: FlatPolicy, name: str, label: str | None = None) -> lsp.CompletionItem:
    info = flat.categories[name]
    what = "leaf category" if info.is_leaf else "category"
    return lsp.CompletionItem(
        label=label or name, kind=lsp.CompletionItemKind.Class,
        detail=f"{what} `{name}`, threshold {flat.threshold(name):g}" if info.is_leaf
        else f"{what} `{name}`", documentation=info.doc, filter_text=label or name)


# ---- symbols -------------------------------------------------------------------------------


def document_symbols(analysis: Analysis) -> list[lsp.DocumentSymbol]:
    module = analysis.module
    if module is None or module.policy.span is None:
        return []
    lines = analysis.lines
    K = lsp.SymbolKind

    def sym(name: str, kind: lsp.SymbolKind, node: ast.Node, detail: str | None = None,
            children: list[lsp.DocumentSymbol] | None = None) -> lsp.DocumentSymbol:
        assert node.span is not None
        r = lines.span_range(node.span)
        return lsp.DocumentSymbol(name=name, kind=kind, range=r, selection_range=r,
                                  detail=detail, children=children)

    def category(node: ast.Category, prefix: str) -> lsp.DocumentSymbol:
        path = prefix + node.name
        return sym(path, K.Class, node, node.doc,
                   [category(c, path + ".") for c in node.children] or None)

    children: list[lsp.DocumentSymbol] = []
    sugar = {"allow": 0, "disallow": 0}
    for item in module.policy.items:
        if item.span is None:
            continue
        if isinstance(item, ast.Context):
            children.append(sym(item.name, K.Field, item, "context"))
        elif isinstance(item, ast.Categories):
            children.extend(category(c, "") for c in item.roots)
        elif isinstance(item, ast.SetDecl):
            children.append(sym(item.name, K.Variable, item, "set"))
        elif isinstance(item, ast.Rule):
            children.append(sym(item.name, K.Function, item, str(item.action)
                                + (" (locked)" if item.locked else "")
                                + (" (override)" if item.override else "")))
        elif isinstance(item, ast.Sugar):
            sugar[item.kind] += 1
            children.append(sym(f"{item.kind}#{sugar[item.kind]}", K.Function, item, "sugar"))
        elif isinstance(item, ast.Test):
            children.append(sym(f'test "{item.name}"', K.Event, item))
        elif isinstance(item, ast.Classifier):
            children.append(sym(item.name, K.Module, item, "classifier"))
    return [sym(module.policy.name, K.Namespace, module.policy, module.policy.version or None,
                children)]


# ---- code actions --------------------------------------------------------------------------


def code_actions(analysis: Analysis, start: int, end: int, uri: str) -> list[lsp.CodeAction]:
    """A quick fix for each finding in the range that has a mechanical fix (lint/fixes.py)."""
    module = analysis.module
    if module is None:
        return []
    out = []
    published = {(d.code, d.range.start.line): d for d in diagnostics(analysis)}
    for d in analysis.diagnostics:
        if d.span is None or d.span.file != analysis.path:
            continue
        if d.span.end < start or d.span.start > end:
            continue
        fix = fix_for(d, module, analysis.text)
        if fix is None:
            continue
        edits = [lsp.TextEdit(range=analysis.lines.range(e.start, e.end), new_text=e.text)
                 for e in fix.edits]
        shown = published.get((d.code, analysis.lines.span_range(d.span).start.line))
        out.append(lsp.CodeAction(
            title=f"{fix.title} ({d.code})" + ("" if fix.safe else " — changes meaning"),
            kind=lsp.CodeActionKind.QuickFix, is_preferred=fix.safe,
            diagnostics=[shown] if shown else None,
            edit=lsp.WorkspaceEdit(changes={uri: edits})))
    return out
