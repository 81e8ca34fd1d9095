"""The canonical formatter behind `policyc fmt`: AST (+ comments) → text.

Canonical style (kept small and stable; `fmt(fmt(x)) == fmt(x)` and
`parse(fmt(x)) == parse(x)`):

Layout
  * 2-space indent inside `policy { }` and every nested block; one item per line; a rule
    longer than the width puts its `when ...` on a continuation line, indented two levels.
  * Items keep their source order (order matters for `first-match` and for readers).
  * In the policy body, a blank line is kept wherever the source had one or more blank lines
    between two body lines (items or own-line comments); runs collapse to one. There are no
    blank lines anywhere else: not after `{`, not before `}`, not inside nested blocks. Own-line
    comments before and after the policy keep single blank lines the same way.
  * An empty block prints as `{}` (`policy p {}`, `test "t" {}`, `categories {}`).
  * The file ends with exactly one newline.

Items
  * `[locked ]rule name: action[ when guard][ priority N]` and `override name: ...` on one line.
  * Guards use the fewest parentheses the precedence needs (`or` < `and` < `not` < atoms):
    `a or b and c`, `(a or b) and c`, `not (a and b)`, `not not a`.
  * Set expressions likewise (`|` < `&` < `-`, all left-associative): `a | b & c - d`,
    `(a | b) & c`, `a - (b - c)`; `any`/`all`/`none` take an atom: `any (a | b)`.
  * `categories {` + one root per line + `}`. A leaf is `name` or `name "doc"`. A node with
    children is `name { a, b, c }` on one line when every child is a leaf without a doc, no
    comment lies inside it and the line fits in 100 columns; else a block, one child per line.
  * `classifier n = onnx "path" [tokenizer "path"] {` / `labels { a = "x", b = "y" }` /
    one option a line (`activation sigmoid`) / `on_error refuse` / `}`;
    no body when it has no labels and no `on_error`. The labels go one per line in a nested
    `labels { }` block when they do not fit in 100 columns or comments sit between them.
  * `test "name" {` / `given a = 1, b = x` / `text "..."` / `expect refuse by rule_id` / `}`,
    always in that order (repeated `given` clauses are merged into one).
  * `detector c = keywords { "x", "y" }` on one line when it fits in 100 columns, else a
    block with one keyword per line (comments among the keywords move before the detector).
  * Lists are written with `, ` and without a trailing comma: `enum { a, b }`,
    `keywords { "x", "y" }`, set literals `{ a, b }` (empty: `{}`), `extends a, b narrowing`.
  * Rules, sets and other one-line items are never wrapped, however long.

Literals
  * Numbers: the shortest text that reads back as the same float (`repr`), without a
    trailing `.0`: `0.5`, `3`, `1e-05`, `1e+16`, `-0`. Priorities are integers.
  * Strings are re-escaped: `\\\\`, `\\"`, `\\n`, `\\t`, `\\r`; a lone surrogate (only reachable
    through a `\\uXXXX` escape) is written back as `\\uXXXX` so the output is valid UTF-8,
    and so is a bidirectional control (`syntax/bidi.py`: raw, it would be refused);
    every other character is written as itself.

Comments (never lost, never reordered relative to the line-level element they belong to)
  * A line-level element is an item, a category, a label, an `on_error` in a classifier, a
    `given`/`text`/`expect` clause in a test.
  * A comment on the same line right after an element stays trailing on the line where that
    element ends (two spaces, then the comment); for a block that is its `}` line.
  * A comment on the line that opens a block, before the block's first element, stays trailing
    on the `{` line (and forces a nested category into block form).
  * Any other comment goes on its own line, at the indentation of the next element, before it;
    a comment inside a one-line element (e.g. between the lines of a multi-line guard) moves to
    its own line before that element; a comment after the last element of a block stays on its
    own line before the `}`; comments after the policy's `}` stay after it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from policyc.diagnostics import PolicycError, Severity, Span
from policyc.syntax import ast
from policyc.syntax.bidi import is_bidi_control
from policyc.syntax.parse import BOM, parse_text

__all__ = ["format_module", "format_text", "quote", "format_number"]

INDENT = "  "
WIDTH = 100

# ---- literals ----------------------------------------------------------------------------------

_ESCAPE = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def quote(value: str) -> str:
    """A string literal that reads back as `value`.

    >>> print(quote('a"b\\\\c\\n'))
    "a\\"b\\\\c\\n"
    """
    out = []
    for ch in value:
        if ch in _ESCAPE:
            out.append(_ESCAPE[ch])
        elif 0xD800 <= ord(ch) <= 0xDFFF or is_bidi_control(ch):
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def format_number(value: float) -> str:
    """Shortest round-tripping form, integral values without `.0`.

    >>> [format_number(x) for x in (0.5, 3.0, 1e-05, 1e16, -0.0)]
    ['0.5', '3', '1e-05', '1e+16', '-0']
    """
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"cannot format the non-finite number {number!r}")
    text = repr(number)
    return text[:-2] if text.endswith(".0") else text


def _value(value: ast.Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return format_number(value)
    return value


def _option(option: ast.ClassifierOption) -> str:
    value = option.value
    if option.kind == "string":
        return f"{option.name} {quote(str(value))}"
    if option.kind == "number":
        return f"{option.name} {format_number(float(value))}"
    return f"{option.name} {value}"


def _action(action: ast.Action) -> str:
    return action.kind if action.argument is None else f"{action.kind}({quote(action.argument)})"


# ---- sets and guards ---------------------------------------------------------------------------

_SET_PREC = {"|": 1, "&": 2, "-": 3}
_SET_ATOM = 4


def _set(expr: ast.SetExpr, min_prec: int = 0) -> str:
    if isinstance(expr, ast.SetLiteral):
        return "{ " + ", ".join(expr.items) + " }" if expr.items else "{}"
    if isinstance(expr, ast.SetRef):
        return expr.name
    prec = _SET_PREC[expr.op]
    # left-associative: the right operand needs parentheses at equal precedence
    text = f"{_set(expr.left, prec)} {expr.op} {_set(expr.right, prec + 1)}"
    return f"({text})" if prec < min_prec else text


_OR, _AND, _NOT, _ATOM = 1, 2, 3, 4


def guard_text(guard: ast.Guard) -> str:
    """A guard as `fmt` writes it (diff causes show a changed guard this way)."""
    return _guard(guard)


def _guard(guard: ast.Guard, min_prec: int = 0) -> str:
    if isinstance(guard, ast.Or):
        prec, text = _OR, " or ".join(_guard(g, _OR) for g in guard.items)
    elif isinstance(guard, ast.And):
        prec, text = _AND, " and ".join(_guard(g, _AND) for g in guard.items)
    elif isinstance(guard, ast.Not):
        prec, text = _NOT, "not " + _guard(guard.item, _NOT)
    else:
        return _atom(guard)
    return f"({text})" if prec < min_prec else text


def _atom(guard: ast.Guard) -> str:
    if isinstance(guard, ast.NameRef):
        return guard.name
    if isinstance(guard, ast.Quantified):
        return f"{guard.quantifier} {_set(guard.set, _SET_ATOM)}"
    if isinstance(guard, ast.ScoreCmp):
        return f"score({guard.category}) {guard.op} {format_number(guard.value)}"
    if isinstance(guard, ast.Compare):
        return f"{guard.attribute} {guard.op} {_value(guard.value)}"
    if isinstance(guard, ast.In):
        values = ", ".join(_value(v) for v in guard.values)
        return f"{guard.attribute} {'not in' if guard.negated else 'in'} {{ {values} }}"
    raise TypeError(f"not a guard: {guard!r}")  # pragma: no cover


# ---- one-line items ----------------------------------------------------------------------------


def _rule(rule: ast.Rule) -> str:
    if rule.locked and rule.override:
        raise ValueError(f"rule `{rule.name}` cannot be both `locked` and an `override`")
    head = "override" if rule.override else ("locked rule" if rule.locked else "rule")
    text = f"{head} {rule.name}: {_action(rule.action)}"
    if rule.guard is not None:
        text += f" when {_guard(rule.guard)}"
    if rule.priority is not None:
        text += f" priority {int(rule.priority)}"
    return text


def _context_type(ctype: ast.ContextType) -> str:
    if isinstance(ctype, ast.EnumType):
        return "enum { " + ", ".join(ctype.values) + " }"
    return "bool" if isinstance(ctype, ast.BoolType) else "number"


def _simple_item(item: ast.Item) -> str:
    """Items that always print on one line."""
    if isinstance(item, ast.Extends):
        return "extends " + ", ".join(p.name + (" narrowing" if p.narrowing else "")
                                      for p in item.parents)
    if isinstance(item, ast.Owner):
        return f"owner {quote(item.value)}"
    if isinstance(item, ast.Meta):
        return f"meta {item.key} {quote(item.value)}"
    if isinstance(item, ast.Context):
        text = f"context {item.name}: {_context_type(item.type)}"
        return text if item.default is None else f"{text} = {_value(item.default)}"
    if isinstance(item, ast.Derive):
        return f"derive {item.category} = max({', '.join(item.sources)})"
    if isinstance(item, ast.Detector):
        if item.kind == "regex":
            text = f"detector {item.category} = regex {quote(item.pattern or '')}"
            return text if item.validator is None else f"{text} validate {item.validator}"
        words = ", ".join(quote(k) for k in item.keywords)
        return f"detector {item.category} = keywords " + (f"{{ {words} }}" if words else "{}")
    if isinstance(item, ast.Threshold):
        return f"threshold {item.category or 'default'} {format_number(item.value)}"
    if isinstance(item, ast.SetDecl):
        return f"set {item.name} = {_set(item.expr)}"
    if isinstance(item, ast.Resolve):
        return f"resolve {item.strategy}"
    if isinstance(item, ast.Default):
        return f"default {_action(item.action)}"
    if isinstance(item, ast.OnError):
        return f"on_error {_action(item.action)}"
    if isinstance(item, ast.Rule):
        return _rule(item)
    if isinstance(item, ast.Sugar):
        return f"{item.kind} {_set(item.set)}"
    if isinstance(item, ast.Drop):
        return f"drop {item.name}"
    if isinstance(item, ast.Gate):
        return f"gate {item.metric} {item.op} {format_number(item.value)}"
    raise TypeError(f"not an item: {item!r}")  # pragma: no cover


# ---- comment placement ---------------------------------------------------------------------------


def _off(comment: ast.Comment) -> int:
    return comment.span.start if comment.span else 0


def _line(comment: ast.Comment) -> int:
    return comment.span.line if comment.span else 0


@dataclass
class _Slot:
    """A line-level element's source extent, and the comments that belong to it."""

    start: int
    end: int
    line: int
    end_line: int
    container: bool = False  # comments inside go to `inner`, placed by the element itself
    leading: list[ast.Comment] = field(default_factory=list)  # own lines before it
    interior: list[ast.Comment] = field(default_factory=list)  # inside a one-line element
    trailing: list[ast.Comment] = field(default_factory=list)  # after it, same line
    inner: list[ast.Comment] = field(default_factory=list)

    @classmethod
    def of(cls, span: Span | None, container: bool = False) -> _Slot | None:
        if span is None:
            return None
        return cls(span.start, span.end, span.line, span.end_line, container)

    def before(self) -> list[ast.Comment]:
        return self.leading + self.interior


def _distribute(comments: Sequence[ast.Comment], slots: Sequence[_Slot | None],
                open_line: int | None) -> tuple[list[ast.Comment], list[ast.Comment]]:
    """Attach each comment of a block to one of its elements.

    Returns the comments that trail the block's opening line and those that stay before its
    closing brace.
    """
    located = sorted((s for s in slots if s is not None), key=lambda s: s.start)
    header: list[ast.Comment] = []
    close: list[ast.Comment] = []
    for comment in sorted(comments, key=_off):
        offset, line = _off(comment), _line(comment)
        inside = next((s for s in located if s.start <= offset < s.end), None)
        if inside is not None:
            (inside.inner if inside.container else inside.interior).append(comment)
            continue
        prev = None
        for s in located:
            if s.end <= offset:
                prev = s
        if prev is not None and prev.end_line == line:
            prev.trailing.append(comment)
        elif prev is None and line == open_line:
            header.append(comment)
        else:
            nxt = next((s for s in located if s.start > offset), None)
            (nxt.leading if nxt is not None else close).append(comment)
    return header, close


# ---- output ------------------------------------------------------------------------------------


class _Out:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def line(self, depth: int, text: str, trailing: Sequence[ast.Comment] = ()) -> None:
        extra = list(trailing)
        if extra:
            text = f"{text}  {extra[0].text}"
        self.lines.append(INDENT * depth + text)
        for comment in extra[1:]:  # only reachable with hand-made comment lists
            self.comment(depth, comment)

    def comment(self, depth: int, comment: ast.Comment) -> None:
        self.lines.append(INDENT * depth + comment.text)

    def comments(self, depth: int, comments: Sequence[ast.Comment]) -> None:
        for comment in comments:
            self.comment(depth, comment)

    def blank(self) -> None:
        if self.lines and self.lines[-1] != "":
            self.lines.append("")


Emit = Callable[[int, list[ast.Comment]], None]  # (depth, trailing comments) -> None


class _Formatter:
    def __init__(self, source: str | None) -> None:
        self.source = source
        self.out = _Out()

    # ---- blocks --------------------------------------------------------------------------------

    def block(self, depth: int, head: str, header: list[ast.Comment],
              body: Callable[[], None], close: list[ast.Comment],
              trailing: list[ast.Comment], empty: bool) -> None:
        """`head {` + body + `}`, or `head {}` when there is nothing inside."""
        if empty and not header and not close:
            self.out.line(depth, head + " {}", trailing)
            return
        self.out.line(depth, head + " {", header)
        body()
        self.out.comments(depth + 1, close)
        self.out.line(depth, "}", trailing)

    def children(self, depth: int, elements: Sequence[tuple[_Slot | None, Emit]]) -> None:
        for slot, emit in elements:
            if slot is None:
                emit(depth, [])
                continue
            self.out.comments(depth, slot.before())
            emit(depth, slot.trailing)

    # ---- policy --------------------------------------------------------------------------------

    def module(self, module: ast.Module) -> str:
        policy = module.policy
        comments = sorted(module.comments, key=_off)
        span = policy.span
        if span is None:  # a hand-built module: keep its comments on top
            before, inside, after = comments, [], []
        else:
            before = [c for c in comments if _off(c) < span.start]
            after = [c for c in comments if _off(c) >= span.end]
            inside = [c for c in comments if span.start <= _off(c) < span.end]
        out = self.out
        prev: int | None = None
        for comment in before:
            if prev is not None and _line(comment) - prev >= 2:
                out.blank()
            out.comment(0, comment)
            prev = _line(comment)
        if prev is not None and span is not None and span.line - prev >= 2:
            out.blank()

        slots = [self.item_slot(item) for item in policy.items]
        header, close = _distribute(inside, slots, span.line if span else None)
        head = f"policy {policy.name}"
        if policy.version:
            head += f" version {quote(policy.version)}"
        trailing = [c for c in after if span is not None and _line(c) == span.end_line]
        rest = [c for c in after if c not in trailing]
        # the body writes the comments before `}` itself, to keep blank lines among them
        self.block(0, head, header, lambda: self.policy_body(policy, slots, close), [],
                   trailing, empty=not policy.items and not close)
        prev = span.end_line if span is not None else None
        for comment in rest:
            if prev is not None and _line(comment) - prev >= 2:
                out.blank()
            out.comment(0, comment)
            prev = _line(comment)
        return "\n".join(out.lines) + "\n"

    def policy_body(self, policy: ast.Policy, slots: list[_Slot | None],
                    close: list[ast.Comment]) -> None:
        """Items with their comments; single blank lines kept between body lines."""
        out = self.out
        prev: int | None = None  # source line of the last body line written
        for item, slot in zip(policy.items, slots, strict=True):
            if slot is None:
                self.item(item, None, 1, [])
                prev = None
                continue
            for comment in slot.leading:
                if prev is not None and _line(comment) - prev >= 2:
                    out.blank()
                out.comment(1, comment)
                prev = _line(comment)
            if prev is not None and slot.line - prev >= 2:
                out.blank()
            out.comments(1, slot.interior)
            self.item(item, slot, 1, slot.trailing)
            prev = slot.end_line
        for comment in close:
            if prev is not None and _line(comment) - prev >= 2:
                out.blank()
            out.comment(1, comment)
            prev = _line(comment)

    def item_slot(self, item: ast.Item) -> _Slot | None:
        container = isinstance(item, (ast.Categories, ast.Classifier, ast.Test))
        return _Slot.of(item.span, container)

    def item(self, item: ast.Item, slot: _Slot | None, depth: int,
             trailing: list[ast.Comment]) -> None:
        inner = slot.inner if slot is not None else []
        if isinstance(item, ast.Categories):
            self.categories(item, inner, depth, trailing)
        elif isinstance(item, ast.Classifier):
            self.classifier(item, inner, depth, trailing)
        elif isinstance(item, ast.Test):
            self.test(item, inner, depth, trailing)
        elif isinstance(item, ast.Detector) and item.kind == "keywords":
            self.keywords(item, depth, trailing)
        elif isinstance(item, ast.Rule) and item.guard is not None:
            self.rule(item, depth, trailing)
        else:
            self.out.line(depth, _simple_item(item), trailing)

    def rule(self, item: ast.Rule, depth: int, trailing: list[ast.Comment]) -> None:
        """A rule on one line, or, past the width, its guard on a continuation line."""
        text = _simple_item(item)
        if len(INDENT * depth + text) <= WIDTH:
            self.out.line(depth, text, trailing)
            return
        head = _rule(item.model_copy(update={"guard": None, "priority": None}))
        tail = f"when {_guard(item.guard)}"  # type: ignore[arg-type]
        if item.priority is not None:
            tail += f" priority {int(item.priority)}"
        self.out.line(depth, head)
        self.out.line(depth + 2, tail, trailing)

    def keywords(self, item: ast.Detector, depth: int, trailing: list[ast.Comment]) -> None:
        text = _simple_item(item)
        if len(INDENT * depth + text) <= WIDTH:
            self.out.line(depth, text, trailing)
            return
        self.out.line(depth, f"detector {item.category} = keywords {{")
        for word in item.keywords:
            self.out.line(depth + 1, quote(word))
        self.out.line(depth, "}", trailing)

    # ---- categories ----------------------------------------------------------------------------

    def categories(self, item: ast.Categories, inner: list[ast.Comment], depth: int,
                   trailing: list[ast.Comment]) -> None:
        slots = [_Slot.of(c.span, container=bool(c.children)) for c in item.roots]
        header, close = _distribute(inner, slots, item.span.line if item.span else None)
        elements = [(s, self.category_emitter(c, s)) for c, s in zip(item.roots, slots,
                                                                       strict=True)]
        self.block(depth, "categories", header, lambda: self.children(depth + 1, elements),
                   close, trailing, empty=not item.roots)

    def category_emitter(self, category: ast.Category, slot: _Slot | None) -> Emit:
        def emit(depth: int, trailing: list[ast.Comment]) -> None:
            self.category(category, slot.inner if slot is not None else [], depth, trailing)
        return emit

    def category(self, category: ast.Category, inner: list[ast.Comment], depth: int,
                 trailing: list[ast.Comment]) -> None:
        head = category.name if category.doc is None else f"{category.name} {quote(category.doc)}"
        if not category.children:
            self.out.line(depth, head, trailing)
            return
        slots = [_Slot.of(c.span, container=bool(c.children)) for c in category.children]
        header, close = _distribute(inner, slots, category.span.line if category.span else None)
        inline = f"{head} {{ {', '.join(c.name for c in category.children)} }}"
        if (not inner and all(not c.children and c.doc is None for c in category.children)
                and len(INDENT * depth + inline) <= WIDTH):
            self.out.line(depth, inline, trailing)
            return
        elements = [(s, self.category_emitter(c, s))
                    for c, s in zip(category.children, slots, strict=True)]
        self.block(depth, head, header, lambda: self.children(depth + 1, elements), close,
                   trailing, empty=False)

    # ---- classifier ----------------------------------------------------------------------------

    def classifier(self, item: ast.Classifier, inner: list[ast.Comment], depth: int,
                   trailing: list[ast.Comment]) -> None:
        head = f"classifier {item.name} = onnx {quote(item.path)}"
        if item.tokenizer is not None:
            head += f" tokenizer {quote(item.tokenizer)}"
        label_slots = [_Slot.of(label.span) for label in item.labels]
        option_slots = [_Slot.of(option.span) for option in item.options]
        error_slot = _Slot.of(item.on_error.span) if item.on_error is not None else None
        header, close = _distribute(inner, [*label_slots, *option_slots, error_slot],
                                    item.span.line if item.span else None)
        empty = not item.labels and not item.options and item.on_error is None
        if empty and not header and not close:
            self.out.line(depth, head, trailing)
            return

        def body() -> None:
            if item.labels:
                self.labels(item.labels, label_slots, depth + 1)
            self.children(depth + 1, [
                (slot, self._line_of(_option(option)))
                for option, slot in zip(item.options, option_slots, strict=True)])
            if item.on_error is not None:
                text = f"on_error {_action(item.on_error)}"
                self.children(depth + 1, [(error_slot, lambda d, t: self.out.line(d, text, t))])

        self.block(depth, head, header, body, close, trailing, empty=empty)

    def _line_of(self, text: str) -> Emit:
        """Emit one line of `text` (with its trailing comments)."""
        return lambda d, t: self.out.line(d, text, t)

    def labels(self, labels: tuple[ast.Label, ...], slots: list[_Slot | None],
               depth: int) -> None:
        texts = [f"{label.category} = {quote(label.label)}" for label in labels]
        located = [s for s in slots if s is not None]
        first, last = slots[0], slots[-1]
        # comments before the first label go above the `labels` line
        if first is not None:
            self.out.comments(depth, first.before())
        inline = "labels { " + ", ".join(texts) + " }"
        crowded = any(s.before() for s in located if s is not first) or any(
            s.trailing for s in located if s is not last)
        if not crowded and len(INDENT * depth + inline) <= WIDTH:
            self.out.line(depth, inline, last.trailing if last is not None else [])
            return
        self.out.line(depth, "labels {")
        for i, (text, slot) in enumerate(zip(texts, slots, strict=True)):
            if slot is None:
                self.out.line(depth + 1, text)
                continue
            if i > 0:
                self.out.comments(depth + 1, slot.before())
            self.out.line(depth + 1, text, slot.trailing)
        self.out.line(depth, "}")

    # ---- tests ---------------------------------------------------------------------------------

    def test(self, item: ast.Test, inner: list[ast.Comment], depth: int,
             trailing: list[ast.Comment]) -> None:
        given_slots = [_Slot.of(a.span) for a in item.given]
        text_slot = self.text_slot(item) if item.text is not None else None
        expect_slot = _Slot.of(item.expect.span) if item.expect is not None else None
        header, close = _distribute(inner, [*given_slots, text_slot, expect_slot],
                                    item.span.line if item.span else None)
        lines: list[tuple[list[ast.Comment], str, list[ast.Comment]]] = []
        if item.given:
            located = [s for s in given_slots if s is not None]
            before = [c for s in located for c in s.before()]
            before += [c for s in located[:-1] for c in s.trailing]
            after = located[-1].trailing if located else []
            lines.append((sorted(before, key=_off),
                          "given " + ", ".join(f"{a.name} = {_value(a.value)}"
                                               for a in item.given), after))
        if item.text is not None:
            lines.append((text_slot.before() if text_slot else [], f"text {quote(item.text)}",
                          text_slot.trailing if text_slot else []))
        if item.expect is not None:
            text = f"expect {_action(item.expect)}"
            if item.expect_rule is not None:
                text += f" by {item.expect_rule}"
            lines.append((expect_slot.before() if expect_slot else [], text,
                          expect_slot.trailing if expect_slot else []))

        def body() -> None:
            for before, text, after in lines:
                self.out.comments(depth + 1, before)
                self.out.line(depth + 1, text, after)

        self.block(depth, f"test {quote(item.name)}", header, body, close, trailing,
                   empty=not lines)

    def text_slot(self, item: ast.Test) -> _Slot | None:
        """The AST keeps no span for a test's `text` clause: find it in the source, if known."""
        if self.source is None or item.span is None:
            return None
        found = None
        tokens = [m for m in _TOKEN.finditer(self.source, item.span.start, item.span.end)
                  if not m.group().startswith("#")]
        for here, nxt in zip(tokens, tokens[1:], strict=False):
            if here.group() == "text" and nxt.group().startswith('"'):
                found = (here.start(), nxt.end())
        if found is None:
            return None
        start, end = found
        return _Slot(start, end, self.source.count("\n", 0, start) + 1,
                     self.source.count("\n", 0, end) + 1)


_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|[A-Za-z_][A-Za-z0-9_]*|\S')


# ---- API -----------------------------------------------------------------------------------------


def format_module(module: ast.Module, source: str | None = None) -> str:
    """The canonical text of `module`, with its comments.

    `source`, the text the module was parsed from, is optional: the AST has no span for a
    test's `text` clause, so without it comments next to that clause attach to the
    following clause instead.
    """
    return _Formatter(source).module(module)


def format_text(text: str, path: str = "<string>") -> str:
    """Parse and format; raises `PolicycError` with the diagnostics if `text` does not parse."""
    text = text.removeprefix(BOM)  # the canonical form has none; spans count without it
    module, diagnostics = parse_text(text, path)
    errors = [d for d in diagnostics if d.severity == Severity.error]
    if module is None or errors:
        raise PolicycError(errors or diagnostics)
    return format_module(module, text)
