"""The parser's fast path: lark's own LALR table and contextual-lexer scanners, run by one
tight loop that reduces straight into AST nodes (no parse tree, no second tree walk).

Why: building lark's tree and then transforming it was most of the front end's time on
large policies. The grammar stays the one source of truth: the table, the per-state
scanners, the keyword rules and the tree-shaping rules (`_inline`, `?expand`, `[maybe]`
placeholders, filtered keywords) are all read from the built `Lark` object, and positions
propagate exactly as lark's `propagate_positions` does, so every span is the one the slow
path gives. The fast path gives up (`Miss`) at the first thing it does not handle, above all
any syntax error: the caller then reruns lark's own parser, whose errors (and so every
diagnostic) stay exactly as they were. A test checks both paths agree on spans and nodes.
"""

from __future__ import annotations

from typing import Any

from lark import Lark, Token
from lark.lexer import BasicLexer, CallChain, PatternStr, UnlessCallback
from lark.parsers.lalr_analysis import Shift

from policyc.diagnostics import Span


class Miss(Exception):
    """The fast path does not handle this input (a syntax error, or an unusual construct)."""


# A position record ("meta") is a tuple. Tokens: (line, col, pos, end_line, end_col, end_pos).
# Tree nodes: the same six for the *container* (what a parent sees: it includes the
# parentheses of an inlined `( x )`), then six for the node's own extent (its span).

_CALL, _EXPAND1, _INLINE = 0, 1, 2


class _Inline:
    """The result of an `_rule` (or a `x*` helper): its children are spliced into the parent."""

    __slots__ = ("values", "metas", "meta")

    def __init__(self, values: list[Any], metas: list[Any], meta: tuple[int, ...]):
        self.values, self.metas, self.meta = values, metas, meta


class _Plan:
    """How to reduce by one grammar rule (mirrors lark's parse-tree builder wrappers)."""

    __slots__ = ("size", "goto", "include", "trailing_nones", "identity", "unit", "kind",
                 "func")

    def __init__(self, rule: Any, maybe_placeholders: bool, funcs: dict[str, Any]):
        expansion = rule.expansion
        options = rule.options
        self.size = len(expansion)
        self.goto = rule.origin.name
        empty = options.empty_indices if maybe_placeholders else ()
        if empty:
            ones = "".join(str(int(b)) for b in empty).split("0")
            nones = [len(run) for run in ones]
        else:
            nones = [0] * (len(expansion) + 1)
        include: list[tuple[int, bool, int]] = []
        pending = 0
        for i, sym in enumerate(expansion):
            pending += nones[i]
            if options.keep_all_tokens or not (sym.is_term and sym.filter_out):
                include.append((i, not sym.is_term and sym.name.startswith("_"), pending))
                pending = 0
        self.include = tuple(include)
        self.trailing_nones = pending + nones[len(expansion)]
        self.identity = (not self.trailing_nones and len(include) == self.size
                         and not any(expand or add for _, expand, add in include))
        # `?a: b` with one child: value and positions pass through unchanged
        self.unit = self.identity and self.size == 1 and options.expand1 and not rule.alias
        name = rule.alias or rule.options.template_source or rule.origin.name
        if rule.origin.name.startswith("_"):
            if options.expand1:
                raise Miss(f"inlined rule `{rule.origin.name}` is also `?`-expanded")
            self.kind, self.func = _INLINE, None
        else:
            self.kind = _EXPAND1 if options.expand1 and not rule.alias else _CALL
            self.func = funcs.get(name)  # None: reached only through a Miss


class FastParser:
    """Built once per `Lark` object; `parse` is reentrant (all state is local)."""

    def __init__(self, lark: Lark, transformer_cls: type):
        frontend = lark.parser
        if lark.options.parser != "lalr" or lark.options.lexer != "contextual":
            raise Miss("only lark's LALR parser with the contextual lexer is mirrored")
        if lark.options.postlex is not None or not lark.options.propagate_positions:
            raise Miss("postlex and position-less parsers are not mirrored")
        table = frontend.parser.parser.parse_table
        self.start = table.start_states["start"]
        self.end = table.end_states["start"]
        funcs = {name: getattr(value, "base_func", value)
                 for name, value in vars(transformer_cls).items()
                 if not name.startswith("_") and callable(value)}
        plans: dict[Any, int] = {}
        self.plans: list[_Plan] = []
        # shift → the new state (>= 0); reduce → ~index into `plans`
        self.actions: dict[int, dict[str, int]] = {}
        for state, row in table.states.items():
            out: dict[str, int] = {}
            for sym, (action, arg) in row.items():
                if action is Shift:
                    out[sym] = arg
                else:
                    if arg not in plans:
                        plans[arg] = len(self.plans)
                        self.plans.append(_Plan(arg, lark.options.maybe_placeholders, funcs))
                    out[sym] = ~plans[arg]
            self.actions[state] = out
        # terminals whose value some rule keeps (the others only give positions)
        self.kept = {sym.name for rule in lark.rules for sym in rule.expansion
                     if sym.is_term and (rule.options.keep_all_tokens
                                         or not getattr(sym, "filter_out", False))}
        self.lexers = _Lexers(frontend.lexer.lexers)

    def parse(self, text: str, transformer: Any) -> tuple[Any, list[Token]]:
        """The transformed `start` value and the collected comment tokens, or `Miss`."""
        return _parse(self, text, transformer)


class _Lexers(dict):  # type: ignore[type-arg]
    """State → that state's scanner, built on first use (as lark builds them)."""

    def __init__(self, by_state: dict[int, BasicLexer]):
        super().__init__()
        self.by_state = by_state
        self.built: dict[int, tuple[Any, ...]] = {}

    def __missing__(self, state: int) -> tuple[Any, ...]:
        lexer = self.by_state[state]
        info = self.built.get(id(lexer))
        if info is None:
            info = self.built[id(lexer)] = _lexer_info(lexer)
        self[state] = info
        return info


def _lexer_info(lexer: BasicLexer) -> tuple[Any, ...]:
    """(match, keyword map per terminal, ignored, newline-bearing, collected) for one state."""
    scanner = lexer.scanner  # builds lexer.callback too
    if len(scanner._mres) != 1:
        raise Miss("a scanner split over several regexes is not mirrored")
    keywords: dict[str, dict[str, str]] = {}
    collect: set[str] = set()
    for type_, callback in lexer.callback.items():
        if isinstance(callback, CallChain):
            raise Miss("chained lexer callbacks are not mirrored")
        if isinstance(callback, UnlessCallback):
            words = {}
            for t in callback.scanner.terminals:
                if not isinstance(t.pattern, PatternStr) or t.pattern.flags:
                    raise Miss("only plain keyword strings are mirrored")
                words[t.pattern.value] = t.name
            keywords[type_] = words
        elif type_ in lexer.ignore_types:
            collect.add(type_)  # e.g. COMMENT: kept aside for fmt and suppressions
        else:
            raise Miss("user callbacks on kept terminals are not mirrored")
    return (scanner._mres[0].match, keywords, lexer.ignore_types, lexer.newline_types,
            frozenset(collect))


_new_token = getattr(Token, "_future_new", Token)  # skips a deprecation shim per token


def _parse(fp: FastParser, text: str, transformer: Any) -> tuple[Any, list[Token]]:
    actions, plans, lexers, kept = fp.actions, fp.plans, fp.lexers, fp.kept
    end_state = fp.end
    path = transformer.path
    span_cls = Span
    new_token = _new_token
    comments: list[Token] = []
    states = [fp.start]
    values: list[Any] = []
    metas: list[Any] = []
    state = fp.start
    pos, line, line_start, n = 0, 1, 0, len(text)
    at_end = False
    while True:
        # ---- the next token, lexed in the current state (contextual lexer) ----
        type_: str = "$END"
        value: Any = ""
        meta: Any = None
        while pos < n:
            match, keywords, ignore, newline, collect = lexers[state]
            m = match(text, pos)
            if m is None:
                raise Miss("no terminal matches here")
            type_ = m.lastgroup  # type: ignore[assignment]
            raw = m.group()
            start, tline, col = pos, line, pos - line_start + 1
            if type_ in newline:
                breaks = raw.count("\n")
                if breaks:
                    line += breaks
                    line_start = start + raw.rindex("\n") + 1
            pos = start + len(raw)
            if type_ in ignore:
                if type_ in collect:
                    comments.append(new_token(type_, raw, start, tline, col, line,
                                              pos - line_start + 1, pos))
                type_ = "$END"
                continue
            words = keywords.get(type_)
            if words is not None:
                type_ = words.get(raw, type_)
            meta = (tline, col, start, line, pos - line_start + 1, pos)
            value = (new_token(type_, raw, start, tline, col, line, pos - line_start + 1, pos)
                     if type_ in kept else raw)
            break
        else:
            at_end = True
        # ---- shift it, after the reductions the table asks for ----
        while True:
            act = actions[state].get(type_)
            if act is None:
                raise Miss("syntax error")
            if act >= 0:
                if at_end:
                    raise Miss("shift at end of input")
                states.append(act)
                values.append(value)
                metas.append(meta)
                state = act
                break
            plan = plans[~act]
            if plan.unit:
                state = actions[states[-2]][plan.goto]
                states[-1] = state
                continue
            size = plan.size
            if size:
                kids = values[-size:]
                kid_metas = metas[-size:]
                del values[-size:], metas[-size:], states[-size:]
            else:
                kids, kid_metas = [], []
            if plan.identity:
                filtered, filtered_metas = kids, kid_metas
            else:
                filtered, filtered_metas = [], []
                for i, expand, add_none in plan.include:
                    if add_none:
                        filtered += [None] * add_none
                        filtered_metas += [None] * add_none
                    if expand:
                        inner = kids[i]
                        if filtered:
                            filtered += inner.values
                            filtered_metas += inner.metas
                        else:  # reuse the list: left recursion stays linear
                            filtered, filtered_metas = inner.values, inner.metas
                    else:
                        filtered.append(kids[i])
                        filtered_metas.append(kid_metas[i])
                if plan.trailing_nones:
                    filtered += [None] * plan.trailing_nones
                    filtered_metas += [None] * plan.trailing_nones
            # positions as lark's propagate_positions: first and last child with any
            first = kid_metas[0] if kid_metas else None
            if first is None:
                first = next((km for km in kid_metas if km is not None), None)
                if first is None:
                    raise Miss("a node with no extent")
            last = kid_metas[-1]
            if last is None:
                last = next(km for km in reversed(kid_metas) if km is not None)
            outer = (first[0], first[1], first[2], last[3], last[4], last[5])
            kind = plan.kind
            if kind == _EXPAND1 and len(filtered) == 1:
                result = filtered[0]
                rmeta = filtered_metas[0]
                if rmeta is not None and len(rmeta) == 12:  # a node: widen its container
                    rmeta = outer + rmeta[6:]
            elif kind == _INLINE:
                rmeta = outer + outer
                result = _Inline(filtered, filtered_metas, rmeta)
            else:
                func = plan.func
                if func is None:
                    raise Miss(f"no transformer method for `{plan.goto}`")
                rmeta = outer + outer
                result = func(transformer, span_cls(path, outer[0], outer[1], outer[3], outer[4],
                                                    outer[2], outer[5]), filtered)
            state = actions[states[-1]][plan.goto]
            states.append(state)
            values.append(result)
            metas.append(rmeta)
            if at_end and state == end_state:
                return values[-1], comments
        if at_end:  # pragma: no cover - the end token is never shifted
            raise Miss("unexpected end")
