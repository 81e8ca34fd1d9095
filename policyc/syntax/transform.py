"""Lark parse tree → typed AST, with a span on every node from one helper (`_span`)."""

from __future__ import annotations

import math
import re
from typing import Any

from lark import Token, Transformer, v_args
from lark.tree import Meta

from policyc.diagnostics import Diagnostic, Span, diagnostic
from policyc.syntax import ast, limits

_INTEGER = re.compile(r"[+-]?[0-9]+")

_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "t": "\t", "r": "\r"}


def unescape(body: str) -> str:
    """Decode a string literal body: `\\\\ \\" \\n \\t \\r \\uXXXX`; other escapes stay as written.

    >>> unescape(r'a\\.b\\"c\\u00e9')
    'a\\\\.b"cé'
    """
    if "\\" not in body:  # the usual literal: nothing to decode, no per-character work
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            if nxt == "u" and i + 6 <= len(body):
                try:
                    code = int(body[i + 2 : i + 6], 16)
                except ValueError:
                    code = -1
                if code >= 0:
                    i += 6
                    # a UTF-16 surrogate pair written as two escapes is one character
                    if 0xD800 <= code < 0xDC00 and body[i : i + 2] == "\\u":
                        try:
                            low = int(body[i + 2 : i + 6], 16)
                        except ValueError:
                            low = -1
                        if 0xDC00 <= low < 0xE000:
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                            i += 6
                    out.append(chr(code))
                    continue
            out.append(ch + nxt)
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _new(cls, **fields):  # type: ignore[no-untyped-def]
    """Build a node without re-validating what the grammar already guarantees (fast path)."""
    make = _MAKERS.get(cls)
    if make is None:
        make = _MAKERS[cls] = _maker(cls)
    return make(fields)


_MAKERS: dict[type, Any] = {}


def _maker(cls: type[ast.Node]) -> Any:
    """`cls.model_construct` for our plain nodes (no aliases, factories or hooks), unrolled:
    it was a fifth of the parse. Anything fancier goes through pydantic itself."""
    spec = []
    for name, info in cls.model_fields.items():
        if info.alias is not None or info.validation_alias is not None \
                or info.default_factory is not None:
            return lambda fields: cls.model_construct(**fields)
        spec.append((name, info.is_required(), info.default))
    if cls.__pydantic_post_init__ or cls.model_config.get("extra") == "allow":
        return lambda fields: cls.model_construct(**fields)
    new = cls.__new__
    setattr_ = object.__setattr__

    def make(fields: dict[str, Any]) -> ast.Node:
        node = new(cls)
        values = {}
        for name, required, default in spec:
            if name in fields:
                values[name] = fields[name]
            elif not required:
                values[name] = default
        setattr_(node, "__dict__", values)
        setattr_(node, "__pydantic_fields_set__", set(fields))
        setattr_(node, "__pydantic_extra__", None)
        setattr_(node, "__pydantic_private__", None)
        return node

    return make


@v_args(meta=True)
class ToAst(Transformer[Token, ast.Policy]):
    """Builds AST nodes; literal errors become diagnostics instead of exceptions."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path
        self.diagnostics: list[Diagnostic] = []
        # lark's v_args wrapper rebuilds a bound method on every attribute access; bind
        # each callback once (the transformer looks rules up on the instance first)
        for name in dir(type(self)):
            if not name.startswith("_") and name not in ("transform", "path", "diagnostics"):
                attr = getattr(self, name)
                if callable(attr):
                    setattr(self, name, attr)

    # ---- helpers -------------------------------------------------------------------------

    def _span(self, meta: Span | Meta | Token) -> Span | None:
        """The span of a node: the fast driver (`fast_parse.py`) passes it ready-made."""
        if isinstance(meta, Span):
            return meta
        if isinstance(meta, Token):
            if meta.line is None:
                return None
            return Span(self.path, meta.line, meta.column or 1, meta.end_line or meta.line,
                            meta.end_column or 1, meta.start_pos or 0, meta.end_pos or 0)
        if getattr(meta, "empty", True):
            return None
        return Span(self.path, meta.line, meta.column, meta.end_line, meta.end_column,
                        meta.start_pos, meta.end_pos)

    def _error(self, where: Span | Meta | Token, message: str, help: str | None = None,
               code: str = "POL003") -> None:
        self.diagnostics.append(diagnostic(code=code,
                                           message=message, span=self._span(where), help=help,
                                           fatal=True))

    def _number(self, tok: Token) -> float:
        """The literal's value; one that cannot be represented is reported and read as 0, so
        later passes (which still run to report other errors) never see `inf`."""
        if len(tok) > limits.MAX_LITERAL:
            self.diagnostics.append(limits.literal_too_long(self._span(tok), "number", len(tok)))
            return 0.0
        value = float(tok)
        if not math.isfinite(value):
            self._error(tok, f"number `{_abridge(tok)}` is out of range",
                        "numbers are finite doubles: their magnitude is below 1.8e308")
            return 0.0
        return value

    def _value(self, v: Any) -> ast.Value:
        if isinstance(v, Token):
            return self._number(v) if v.type == "NUMBER" else str(v)
        return v  # type: ignore[no-any-return]

    def _string(self, tok: Token) -> str:
        if len(tok) > limits.MAX_LITERAL:
            self.diagnostics.append(limits.literal_too_long(self._span(tok), "string", len(tok)))
            return ""
        return unescape(str(tok)[1:-1])

    # ---- lexical -------------------------------------------------------------------------

    def dotted(self, meta: Meta, parts: list[Token]) -> Token:
        first, last = parts[0], parts[-1]
        return Token.new_borrow_pos("NAME", ".".join(parts), first) if len(parts) == 1 else Token(
            "NAME", ".".join(parts), first.start_pos, first.line, first.column, last.end_line,
            last.end_column, last.end_pos)

    def true_(self, meta: Meta, _: list[Any]) -> bool:
        return True

    def false_(self, meta: Meta, _: list[Any]) -> bool:
        return False

    # ---- top level ---------------------------------------------------------------------------

    def start(self, meta: Meta, children: list[ast.Policy]) -> ast.Policy:
        return children[0]

    def policy(self, meta: Meta, c: list[Any]) -> ast.Policy:
        name, version, *items = c
        return _new(ast.Policy, name=str(name), version=self._string(version) if version else "",
                          items=tuple(items), span=self._span(meta))

    def extends(self, meta: Meta, parents: list[ast.ParentRef]) -> ast.Extends:
        return _new(ast.Extends, parents=tuple(parents), span=self._span(meta))

    def parent(self, meta: Meta, c: list[Any]) -> ast.ParentRef:
        return _new(ast.ParentRef, name=str(c[0]), narrowing=c[1] is not None, span=self._span(meta))

    def owner(self, meta: Meta, c: list[Token]) -> ast.Owner:
        return _new(ast.Owner, value=self._string(c[0]), span=self._span(meta))

    def meta(self, meta: Meta, c: list[Token]) -> ast.Meta:
        return _new(ast.Meta, key=str(c[0]), value=self._string(c[1]), span=self._span(meta))

    # ---- schema --------------------------------------------------------------------------------

    def context(self, meta: Meta, c: list[Any]) -> ast.Context:
        default = self._value(c[2]) if len(c) > 2 else None
        return _new(ast.Context, name=str(c[0]), type=c[1], default=default, span=self._span(meta))

    def enum_type(self, meta: Meta, c: list[Token]) -> ast.EnumType:
        return _new(ast.EnumType, values=tuple(str(t) for t in c), span=self._span(meta))

    def bool_type(self, meta: Meta, _: list[Any]) -> ast.BoolType:
        return _new(ast.BoolType, span=self._span(meta))

    def number_type(self, meta: Meta, _: list[Any]) -> ast.NumberType:
        return _new(ast.NumberType, span=self._span(meta))

    def categories(self, meta: Meta, c: list[ast.Category]) -> ast.Categories:
        return _new(ast.Categories, roots=tuple(c), span=self._span(meta))

    def category(self, meta: Meta, c: list[Any]) -> ast.Category:
        name, rest = c[0], c[1:]
        doc = None
        if rest and isinstance(rest[0], Token) and rest[0].type == "STRING":
            doc = self._string(rest[0])
            rest = rest[1:]
        return _new(ast.Category, name=str(name), doc=doc, children=tuple(rest), span=self._span(meta))

    def derive(self, meta: Meta, c: list[Token]) -> ast.Derive:
        return _new(ast.Derive, category=str(c[0]), sources=tuple(str(t) for t in c[1:]),
                          span=self._span(meta))

    # ---- bindings --------------------------------------------------------------------------------

    def classifier(self, meta: Meta, c: list[Any]) -> ast.Classifier:
        name, path, tokenizer, *body = c
        labels: tuple[ast.Label, ...] = ()
        options: list[ast.ClassifierOption] = []
        on_error = None
        for item in body:
            if isinstance(item, tuple):
                labels += item
            elif isinstance(item, ast.ClassifierOption):
                options.append(item)
            elif isinstance(item, ast.OnError):
                if on_error is not None:
                    self._error(meta, f"classifier `{name}` has two `on_error` clauses",
                                "keep one", code="POL104")
                on_error = item.action
        return _new(ast.Classifier, name=str(name), path=self._string(path), labels=labels,
                    on_error=on_error, span=self._span(meta),
                    tokenizer=self._string(tokenizer) if tokenizer is not None else None,
                    options=tuple(options))

    def classifier_option(self, meta: Meta, c: list[Token]) -> ast.ClassifierOption:
        name, value = c
        if value.type == "STRING":
            got: str | float = self._string(value)
            kind = "string"
        elif value.type == "NUMBER":
            got, kind = self._number(value), "number"
        else:  # a NAME or the keyword `none`
            got, kind = str(value), "name"
        return _new(ast.ClassifierOption, name=str(name), value=got, kind=kind,
                    span=self._span(meta))

    def option_value(self, meta: Meta, c: list[Token]) -> Token:
        return c[0]

    def labels(self, meta: Meta, c: list[ast.Label]) -> tuple[ast.Label, ...]:
        return tuple(c)

    def label(self, meta: Meta, c: list[Token]) -> ast.Label:
        return _new(ast.Label, category=str(c[0]), label=self._string(c[1]), span=self._span(meta))

    def regex_detector(self, meta: Meta, c: list[Any]) -> ast.Detector:
        return _new(ast.Detector, category=str(c[0]), kind="regex", pattern=self._string(c[1]),
                            validator=str(c[2]) if c[2] is not None else None,
                            span=self._span(meta))

    def keyword_detector(self, meta: Meta, c: list[Token]) -> ast.Detector:
        return _new(ast.Detector, category=str(c[0]), kind="keywords",
                            keywords=tuple(self._string(t) for t in c[1:]), span=self._span(meta))

    def threshold(self, meta: Meta, c: list[Token]) -> ast.Threshold:
        return _new(ast.Threshold, category=str(c[0]), value=self._number(c[1]), span=self._span(meta))

    def threshold_default(self, meta: Meta, c: list[Token]) -> ast.Threshold:
        return _new(ast.Threshold, category=None, value=self._number(c[0]), span=self._span(meta))

    # ---- sets ---------------------------------------------------------------------------------------

    def set_decl(self, meta: Meta, c: list[Any]) -> ast.SetDecl:
        return _new(ast.SetDecl, name=str(c[0]), expr=c[1], span=self._span(meta))

    def _set_op(self, op: str, meta: Meta, c: list[Any]) -> ast.SetOp:
        return _new(ast.SetOp, op=op, left=c[0], right=c[1], span=self._span(meta))  # type: ignore[arg-type]

    def set_union(self, meta: Meta, c: list[Any]) -> ast.SetOp:
        return self._set_op("|", meta, c)

    def set_intersection(self, meta: Meta, c: list[Any]) -> ast.SetOp:
        return self._set_op("&", meta, c)

    def set_difference(self, meta: Meta, c: list[Any]) -> ast.SetOp:
        return self._set_op("-", meta, c)

    def set_literal(self, meta: Meta, c: list[Token | None]) -> ast.SetLiteral:
        return _new(ast.SetLiteral, items=tuple(str(t) for t in c if t is not None),
                              span=self._span(meta))

    def set_ref(self, meta: Meta, c: list[Token]) -> ast.SetRef:
        return _new(ast.SetRef, name=str(c[0]), span=self._span(meta))

    # ---- decisions -------------------------------------------------------------------------------------

    def resolve(self, meta: Meta, c: list[str]) -> ast.Resolve:
        return _new(ast.Resolve, strategy=c[0], span=self._span(meta))  # type: ignore[arg-type]

    def strategy(self, meta: Meta, c: list[Token]) -> str:
        return str(c[0])

    def default(self, meta: Meta, c: list[ast.Action]) -> ast.Default:
        return _new(ast.Default, action=c[0], span=self._span(meta))

    def on_error(self, meta: Meta, c: list[ast.Action]) -> ast.OnError:
        return _new(ast.OnError, action=c[0], span=self._span(meta))

    def action(self, meta: Meta, c: list[Any]) -> ast.Action:
        kind, arg = c
        return _new(ast.Action, kind=kind, argument=self._string(arg) if arg is not None else None,
                          span=self._span(meta))

    def action_kind(self, meta: Meta, c: list[Token]) -> str:
        return str(c[0])

    def _priority(self, tok: Token | None) -> int | None:
        """An integer, read exactly (`9007199254740993` is not rounded through a float)."""
        if tok is None:
            return None
        text = str(tok)
        if len(text) > limits.MAX_LITERAL:
            self.diagnostics.append(limits.literal_too_long(self._span(tok), "number", len(text)))
            return 0
        if _INTEGER.fullmatch(text) is None:
            value = float(text)
            if math.isfinite(value) and not value.is_integer():
                self._error(tok, f"priority `{_abridge(text)}` is not an integer",
                            "write a whole number")
                return 0
            # `1e3`, `2.0`: whole numbers written as decimals (`1e999`: out of range below)
            text = str(int(value)) if math.isfinite(value) else "9" * 17
        digits = text.lstrip("+-").lstrip("0")
        if len(digits) > 16 or abs(int(text)) > limits.MAX_PRIORITY:
            self._error(tok, f"priority `{_abridge(str(tok))}` is out of range",
                        f"priorities are integers from -{limits.MAX_PRIORITY} to "
                        f"{limits.MAX_PRIORITY} (2^53 - 1)")
            return 0
        return int(text)

    def rule(self, meta: Meta, c: list[Any]) -> ast.Rule:
        locked, name, action, guard, priority = c
        return _new(ast.Rule, name=str(name), action=action, guard=guard,
                        priority=self._priority(priority), locked=locked is not None,
                        span=self._span(meta))

    def override(self, meta: Meta, c: list[Any]) -> ast.Rule:
        name, action, guard, priority = c
        return _new(ast.Rule, name=str(name), action=action, guard=guard,
                        priority=self._priority(priority), override=True, span=self._span(meta))

    def drop(self, meta: Meta, c: list[Token]) -> ast.Drop:
        return _new(ast.Drop, name=str(c[0]), span=self._span(meta))

    def allow_sugar(self, meta: Meta, c: list[Any]) -> ast.Sugar:
        return _new(ast.Sugar, kind="allow", set=c[0], span=self._span(meta))

    def disallow_sugar(self, meta: Meta, c: list[Any]) -> ast.Sugar:
        return _new(ast.Sugar, kind="disallow", set=c[0], span=self._span(meta))

    # ---- guards --------------------------------------------------------------------------------------

    def or_(self, meta: Meta, c: list[ast.Guard]) -> ast.Or:
        return _new(ast.Or, items=_flatten(ast.Or, c), span=self._span(meta))

    def and_(self, meta: Meta, c: list[ast.Guard]) -> ast.And:
        return _new(ast.And, items=_flatten(ast.And, c), span=self._span(meta))

    def not_(self, meta: Meta, c: list[ast.Guard]) -> ast.Not:
        return _new(ast.Not, item=c[0], span=self._span(meta))

    def _quant(self, q: str, meta: Meta, c: list[Any]) -> ast.Quantified:
        return _new(ast.Quantified, quantifier=q, set=c[0], span=self._span(meta))  # type: ignore[arg-type]

    def any_(self, meta: Meta, c: list[Any]) -> ast.Quantified:
        return self._quant("any", meta, c)

    def all_(self, meta: Meta, c: list[Any]) -> ast.Quantified:
        return self._quant("all", meta, c)

    def none_(self, meta: Meta, c: list[Any]) -> ast.Quantified:
        return self._quant("none", meta, c)

    def score_cmp(self, meta: Meta, c: list[Token]) -> ast.ScoreCmp:
        return _new(ast.ScoreCmp, category=str(c[0]), op=str(c[1]), value=self._number(c[2]),  # type: ignore[arg-type]
                            span=self._span(meta))

    def compare(self, meta: Meta, c: list[Any]) -> ast.Compare:
        return _new(ast.Compare, attribute=str(c[0]), op=str(c[1]), value=self._value(c[2]),  # type: ignore[arg-type]
                           span=self._span(meta))

    def in_(self, meta: Meta, c: list[Any]) -> ast.In:
        return _new(ast.In, attribute=str(c[0]), values=tuple(self._value(v) for v in c[1:]),
                      span=self._span(meta))

    def not_in(self, meta: Meta, c: list[Any]) -> ast.In:
        return _new(ast.In, attribute=str(c[0]), values=tuple(self._value(v) for v in c[1:]),
                      negated=True, span=self._span(meta))

    def name_ref(self, meta: Meta, c: list[Token]) -> ast.NameRef:
        return _new(ast.NameRef, name=str(c[0]), span=self._span(meta))

    # ---- tests and gates ---------------------------------------------------------------------------

    def test(self, meta: Meta, c: list[Any]) -> ast.Test:
        name, *items = c
        given: tuple[ast.Assign, ...] = ()
        text = None
        expect = None
        expect_rule = None
        for item in items:
            if isinstance(item, tuple) and item[0] == "given":
                given += item[1]
            elif isinstance(item, tuple) and item[0] == "text":
                if text is not None:
                    self._error(meta, f"test `{self._string(name)}` has two `text` clauses",
                                "a test classifies one text: keep one", code="POL115")
                text = item[1]
            elif isinstance(item, tuple) and item[0] == "expect":
                if expect is not None:
                    self._error(meta, f"test `{self._string(name)}` has two `expect` clauses",
                                "a test expects one decision: keep one", code="POL115")
                expect, expect_rule = item[1], item[2]
        return _new(ast.Test, name=self._string(name), given=given, text=text, expect=expect,
                        expect_rule=expect_rule, span=self._span(meta))

    def given(self, meta: Meta, c: list[ast.Assign]) -> tuple[str, tuple[ast.Assign, ...]]:
        return ("given", tuple(c))

    def assign(self, meta: Meta, c: list[Any]) -> ast.Assign:
        return _new(ast.Assign, name=str(c[0]), value=self._value(c[1]), span=self._span(meta))

    def text(self, meta: Meta, c: list[Token]) -> tuple[str, str]:
        return ("text", self._string(c[0]))

    def expect(self, meta: Meta, c: list[Any]) -> tuple[str, ast.Action, str | None]:
        return ("expect", c[0], str(c[1]) if c[1] is not None else None)

    def gate(self, meta: Meta, c: list[Token]) -> ast.Gate:
        return _new(ast.Gate, metric=str(c[0]), op=str(c[1]), value=self._number(c[2]),  # type: ignore[arg-type]
                        span=self._span(meta))


def _abridge(text: str, keep: int = 24) -> str:
    """A literal as quoted in a message: a long one is cut in the middle.

    >>> _abridge("1" * 5000)
    '1111111111…1111111111 (5000 characters)'
    """
    if len(text) <= keep:
        return text
    half = (keep - 4) // 2
    return f"{text[:half]}…{text[-half:]} ({len(text)} characters)"


def _flatten(kind: type[ast.Or] | type[ast.And], operands: list[ast.Guard]) -> tuple[ast.Guard, ...]:
    """`a or (b or c)` is `a or b or c`: one canonical n-ary node (associativity)."""
    items: list[ast.Guard] = []
    for op in operands:
        items.extend(op.items if isinstance(op, kind) else (op,))
    return tuple(items)
