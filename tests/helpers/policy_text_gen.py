"""Hypothesis strategies that write random, syntactically valid `.pol` source text.

`policies()` covers every construct of `grammar/policy.lark`: all item kinds, nested
categories with docs, classifier bodies, both detector kinds, every guard atom form with
random (redundant) parentheses, set expressions of every operator, tests, gates; with
comments, blank lines, odd whitespace (tabs, CRLF) and optional commas in random places, and
strings full of escapes and unicode. The text need not mean anything: names may be undefined.

A policy is built as a list of tokens, then joined with random separators (whitespace,
newlines or `#` comments), so comments land everywhere the grammar ignores them.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

Draw = Any  # hypothesis' `draw` callable

#: Every keyword of the grammar: a name must avoid them all (they are reserved words).
KEYWORDS = frozenset({
    "all", "allow", "and", "any", "bool", "by", "categories", "classifier", "context",
    "default", "derive", "detector", "disallow", "drop", "enum", "escalate", "expect",
    "extends", "false", "gate", "given", "in", "keywords", "labels", "locked", "max", "meta",
    "narrowing", "none", "not", "number", "on_error", "onnx", "or", "override", "owner",
    "policy", "priority", "redact", "redirect", "refuse", "regex", "resolve", "rule", "score",
    "set", "test", "text", "threshold", "true", "unique", "validate", "version", "warn", "when",
})

ACTIONS = ("allow", "warn", "redact", "redirect", "refuse", "escalate")
STRATEGIES = ("most-restrictive", "least-restrictive", "first-match", "priority",
              "most-specific", "unique")
CMPS = ("==", "!=", "<=", ">=", "<", ">")

#: Tokens next to which no whitespace is needed.
_PUNCT = frozenset("{}(),:|&.")

_POOL = ("a", "b", "x", "self_harm", "violence", "pii", "email", "teen", "audience", "_t2",
         "Weapons", "score_x", "notes", "anyway", "in_", "ORx", "truey")

_FIRST = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
names = st.one_of(
    st.sampled_from(_POOL),
    st.builds(lambda first, rest: first + rest, st.sampled_from(_FIRST),
              st.text(_FIRST + "0123456789", max_size=7)),
).filter(lambda n: n not in KEYWORDS)

comment_texts = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=20
).map(lambda t: "#" + t)

_string_pieces = st.one_of(
    st.characters(blacklist_characters='"\\\n', blacklist_categories=("Cs",)),
    st.sampled_from(["\\\\", '\\"', "\\n", "\\t", "\\r", "#", " ", "é", "日本", "🙂",
                     "\\.", "\\d", "\\s", "\\$", "\\u", "\\'", "\\\\n", "{", "}"]),
    st.integers(0, 0xFFFF).map(lambda c: f"\\u{c:04x}"),
)

#: The source text of a string literal, quotes included (escapes of every kind).
strings = st.lists(_string_pieces, max_size=12).map(lambda ps: '"' + "".join(ps) + '"')


@st.composite
def numbers(draw: Draw, signed: bool = True) -> str:
    """NUMBER literals in all the forms the lexer takes: `3`, `1.`, `.5`, `2.5e-3`, `+1E2`."""
    form = draw(st.integers(0, 5))
    whole = str(draw(st.integers(0, 1000)))
    frac = str(draw(st.integers(0, 999)))
    if form == 0:
        text = whole
    elif form == 1:
        text = f"{whole}.{frac}"
    elif form == 2:
        text = f".{frac}"
    elif form == 3:
        text = f"{whole}."
    elif form == 4:
        e = draw(st.sampled_from(["e", "E"]))
        text = f"{whole}.{frac}{e}{draw(st.sampled_from(['', '+', '-']))}{draw(st.integers(0, 30))}"
    else:
        text = draw(st.sampled_from(["0.5", "0.35", "0.05", "1", "0", "1e-05", "0.1"]))
    if signed:
        text = draw(st.sampled_from(["", "", "", "-", "+"])) + text
    return text


@st.composite
def separators(draw: Draw, tight: bool) -> str:
    """What goes between two tokens: whitespace, blank lines, comments; `""` when `tight`."""
    kind = draw(st.integers(0, 39))
    if kind < 16:
        return " "
    if kind < 18 and tight:
        return ""
    if kind < 22:
        return draw(st.sampled_from(["\n", "\n  ", "\n\n  ", "\n\n\n", "\t", "   ", "\r\n",
                                     " \n \n "]))
    if kind < 26:
        return f" {draw(comment_texts)}\n"  # trailing comment
    if kind < 28:
        return f"{draw(comment_texts)}\n"  # glued to the token before
    if kind < 31:
        return f"\n  {draw(comment_texts)}\n  "  # own-line comment
    if kind < 32:
        return f"\n\n{draw(comment_texts)}\n\n{draw(comment_texts)}\r\n"
    return draw(st.sampled_from([" ", "\n", "  "]))


def _join(draw: Draw, tokens: list[str]) -> str:
    out = [tokens[0]]
    for prev, tok in zip(tokens, tokens[1:], strict=False):
        tight = prev in _PUNCT or tok in _PUNCT
        out.append(draw(separators(tight)))
        out.append(tok)
    return "".join(out)


# ---- token builders (each returns a list of tokens) -------------------------------------------


def _dotted(draw: Draw, max_parts: int = 3) -> list[str]:
    parts = draw(st.lists(names, min_size=1, max_size=max_parts))
    if len(parts) > 1 and draw(st.integers(0, 9)) == 0:  # `a . b`: separators inside a name
        out = [parts[0]]
        for p in parts[1:]:
            out += [".", p]
        return out
    return [".".join(parts)]


def _comma_list(draw: Draw, items: list[list[str]], trailing: bool = True,
                optional: bool = False) -> list[str]:
    """Items separated by commas; `optional`: commas may be left out; `trailing`: may end one."""
    out: list[str] = []
    for i, item in enumerate(items):
        out += item
        last = i == len(items) - 1
        if last:
            if trailing and draw(st.integers(0, 3)) == 0:
                out.append(",")
        elif not optional or draw(st.booleans()):
            out.append(",")
    return out


def _value(draw: Draw) -> list[str]:
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return [draw(names)]
    if kind == 1:
        return [draw(st.sampled_from(["true", "false"]))]
    return [draw(numbers())]


def _action(draw: Draw) -> list[str]:
    kind = draw(st.sampled_from(ACTIONS))
    if draw(st.booleans()):
        return [kind, "(", draw(strings), ")"]
    return [kind]


def _paren(draw: Draw, tokens: list[str], prec: int, need: int) -> list[str]:
    if prec < need or draw(st.integers(0, 7)) == 0:
        return ["(", *tokens, ")"]
    return tokens


def _set_expr(draw: Draw, depth: int) -> tuple[list[str], int]:
    """A set expression and its precedence (`|` 1, `&` 2, `-` 3, atom 4)."""
    if depth > 0 and draw(st.integers(0, 2)) == 0:
        op, prec = draw(st.sampled_from([("|", 1), ("&", 2), ("-", 3)]))
        left, lp = _set_expr(draw, depth - 1)
        right, rp = _set_expr(draw, depth - 1)
        return [*_paren(draw, left, lp, prec), op, *_paren(draw, right, rp, prec + 1)], prec
    return _set_atom(draw, depth), 4


def _set_atom(draw: Draw, depth: int) -> list[str]:
    kind = draw(st.integers(0, 4))
    if kind < 2:
        count = draw(st.integers(0, 4))
        if not count:
            return ["{", "}"]
        return ["{", *_comma_list(draw, [_dotted(draw) for _ in range(count)]), "}"]
    if kind < 4 or depth <= 0:
        return _dotted(draw)
    inner, _ = _set_expr(draw, depth - 1)
    return ["(", *inner, ")"]


def _guard(draw: Draw, depth: int) -> tuple[list[str], int]:
    """A guard and its precedence (`or` 1, `and` 2, `not` 3, atom 4)."""
    kind = draw(st.integers(0, 5)) if depth > 0 else 5
    if kind == 0:
        items = [_guard(draw, depth - 1) for _ in range(draw(st.integers(2, 3)))]
        out: list[str] = []
        for i, (toks, prec) in enumerate(items):
            out += (["or"] if i else []) + _paren(draw, toks, prec, 2)
        return out, 1
    if kind == 1:
        items = [_guard(draw, depth - 1) for _ in range(draw(st.integers(2, 3)))]
        out = []
        for i, (toks, prec) in enumerate(items):
            out += (["and"] if i else []) + _paren(draw, toks, prec, 3)
        return out, 2
    if kind == 2:
        toks, prec = _guard(draw, depth - 1)
        return ["not", *_paren(draw, toks, prec, 3)], 3
    return _atom(draw, depth), 4


def _atom(draw: Draw, depth: int) -> list[str]:
    kind = draw(st.integers(0, 6))
    if kind == 0:
        return [draw(st.sampled_from(["any", "all", "none"])), *_set_atom(draw, depth)]
    if kind == 1:
        return ["score", "(", *_dotted(draw), ")", draw(st.sampled_from(CMPS)), draw(numbers())]
    if kind == 2:
        return [*_dotted(draw), draw(st.sampled_from(CMPS)), *_value(draw)]
    if kind in (3, 4):
        values = [_value(draw) for _ in range(draw(st.integers(1, 3)))]
        head = ["not", "in"] if kind == 3 else ["in"]
        return [*_dotted(draw), *head, "{", *_comma_list(draw, values), "}"]
    return _dotted(draw)


def _category(draw: Draw, depth: int) -> list[str]:
    out = [draw(names)]
    if draw(st.integers(0, 3)) == 0:
        out.append(draw(strings))
    if depth > 0 and draw(st.integers(0, 2)) == 0:
        children = [_category(draw, depth - 1) for _ in range(draw(st.integers(0, 4)))]
        out += ["{", *_comma_list(draw, children, optional=True), "}"]
    return out


def _test(draw: Draw) -> list[str]:
    """A test block: `given` may repeat; `text` and `expect` appear at most once each
    (a second one is an error, POL115)."""
    clauses: list[list[str]] = []
    used: set[int] = set()
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.integers(0, 2))
        if kind in used and kind != 0:
            continue
        used.add(kind)
        if kind == 0:
            assigns = [[*_dotted(draw), "=", *_value(draw)]
                       for _ in range(draw(st.integers(1, 3)))]
            clauses.append(["given", *_comma_list(draw, assigns, trailing=False)])
        elif kind == 1:
            clauses.append(["text", draw(strings)])
        else:
            by = ["by", draw(names)] if draw(st.booleans()) else []
            clauses.append(["expect", *_action(draw), *by])
    return ["test", draw(strings), "{", *[t for c in clauses for t in c], "}"]


def _rule_tail(draw: Draw) -> list[str]:
    out = [draw(names), ":", *_action(draw)]
    if draw(st.integers(0, 4)):
        out += ["when", *_guard(draw, draw(st.integers(0, 3)))[0]]
    if draw(st.integers(0, 3)) == 0:
        p = draw(st.integers(-20, 1000))
        out += ["priority", draw(st.sampled_from([str(p), f"{p}.0", f"{p}e0"]))]
    return out


def _item(draw: Draw) -> list[str]:  # noqa: C901 - one branch per item kind
    kind = draw(st.integers(0, 20))
    if kind == 0:
        parents = [[*_dotted(draw), *(["narrowing"] if draw(st.booleans()) else [])]
                   for _ in range(draw(st.integers(1, 3)))]
        return ["extends", *_comma_list(draw, parents, trailing=False)]
    if kind == 1:
        return ["owner", draw(strings)]
    if kind == 2:
        return ["meta", draw(names), draw(strings)]
    if kind == 3:
        ctype = draw(st.integers(0, 2))
        out = ["context", draw(names), ":"]
        if ctype == 0:
            values = [[draw(names)] for _ in range(draw(st.integers(1, 4)))]
            out += ["enum", "{", *_comma_list(draw, values), "}"]
        else:
            out.append("bool" if ctype == 1 else "number")
        if draw(st.booleans()):
            out += ["=", *_value(draw)]
        return out
    if kind == 4:
        roots = [_category(draw, 3) for _ in range(draw(st.integers(0, 4)))]
        return ["categories", "{", *_comma_list(draw, roots, optional=True), "}"]
    if kind == 5:
        sources = [_dotted(draw) for _ in range(draw(st.integers(1, 3)))]
        return ["derive", *_dotted(draw), "=", "max", "(",
                *_comma_list(draw, sources, trailing=False), ")"]
    if kind == 6:
        out = ["classifier", draw(names), "=", "onnx", draw(strings)]
        if draw(st.booleans()):
            body: list[str] = []
            has_on_error = False  # a second `on_error` is an error (POL104)
            for _ in range(draw(st.integers(0, 3))):
                if has_on_error or draw(st.integers(0, 2)):
                    labels = [[*_dotted(draw), "=", draw(strings)]
                              for _ in range(draw(st.integers(0, 3)))]
                    body += ["labels", "{", *_comma_list(draw, labels, optional=True), "}"]
                else:
                    has_on_error = True
                    body += ["on_error", *_action(draw)]
            out += ["{", *body, "}"]
        return out
    if kind == 7:
        out = ["detector", *_dotted(draw), "=", "regex", draw(strings)]
        if draw(st.booleans()):
            out += ["validate", draw(names)]
        return out
    if kind == 8:
        words = [[draw(strings)] for _ in range(draw(st.integers(0, 4)))]
        return ["detector", *_dotted(draw), "=", "keywords", "{",
                *_comma_list(draw, words, optional=True), "}"]
    if kind == 9:
        target = ["default"] if draw(st.booleans()) else _dotted(draw)
        return ["threshold", *target, draw(numbers())]
    if kind == 10:
        return ["set", draw(names), "=", *_set_expr(draw, 3)[0]]
    if kind == 11:
        return ["resolve", draw(st.sampled_from(STRATEGIES))]
    if kind == 12:
        return ["default", *_action(draw)]
    if kind == 13:
        return ["on_error", *_action(draw)]
    if kind in (14, 15):
        return [*(["locked"] if draw(st.booleans()) else []), "rule", *_rule_tail(draw)]
    if kind == 16:
        return ["override", *_rule_tail(draw)]
    if kind == 17:
        return ["drop", draw(names)]
    if kind == 18:
        return [draw(st.sampled_from(["allow", "disallow"])), *_set_expr(draw, 3)[0]]
    if kind == 19:
        return _test(draw)
    return ["gate", draw(names), draw(st.sampled_from(CMPS)), draw(numbers())]


@st.composite
def policies(draw: Draw, max_items: int = 12) -> str:
    """The source text of one random, syntactically valid policy file."""
    tokens = ["policy", *_dotted(draw)]
    if draw(st.booleans()):
        tokens += ["version", draw(strings)]
    tokens.append("{")
    for _ in range(draw(st.integers(0, max_items))):
        tokens += _item(draw)
    tokens.append("}")
    head = draw(st.sampled_from(["", "", "\n", "  \n\n"]))
    for _ in range(draw(st.integers(0, 2))):
        head += draw(comment_texts) + draw(st.sampled_from(["\n", "\n\n", "\r\n"]))
    tail = draw(st.sampled_from(["", "\n", "\n\n", " "]))
    if draw(st.booleans()):
        tail += draw(comment_texts) + draw(st.sampled_from(["", "\n"]))
    return head + _join(draw, tokens) + tail


# ---- stress: values and shapes at and past the front end's limits ----------------------------

#: Depths around the documented nesting limit (`policyc.syntax.limits.MAX_NESTING`, 128).
_DEPTHS = st.one_of(st.integers(1, 140), st.sampled_from([127, 128, 129, 130, 500, 1000]))


@st.composite
def huge_numbers(draw: Draw) -> str:
    """NUMBER literals a double cannot hold, or barely can: `1e999`, 5000 digits, 2^53 + 1."""
    sign = draw(st.sampled_from(["", "-", "+"]))
    kind = draw(st.integers(0, 4))
    if kind == 0:
        body = f"{draw(st.integers(1, 9))}e{draw(st.integers(300, 100_000))}"
    elif kind == 1:
        body = "9" * draw(st.integers(300, 6000))
    elif kind == 2:
        body = "0." + "0" * draw(st.integers(300, 6000)) + "1"
    elif kind == 3:
        body = str(2 ** 53 + draw(st.integers(-2, 2)))
    else:
        body = draw(st.sampled_from(["1.7976931348623157e308", "1.8e308", "4.9e-324",
                                     "1e-400"]))
    return sign + body


@st.composite
def deep_guards(draw: Draw) -> str:
    """A rule whose guard nests `and`/`or`/`not` (and parentheses) around the depth limit."""
    depth = draw(_DEPTHS)
    guard = draw(st.sampled_from(["hate", "violence", "age > 3", "any { hate }"]))
    for _ in range(depth):
        kind = draw(st.integers(0, 3))
        if kind == 0:
            guard = f"not {guard}" if draw(st.booleans()) else f"not ({guard})"
        elif kind == 1:
            guard = f"(hate and {guard})"
        elif kind == 2:
            guard = f"({guard} or violence)"
        else:
            guard = f"({guard})"  # parentheses alone are not a level
    return f"rule r: refuse when {guard}"


@st.composite
def deep_sets(draw: Draw) -> str:
    """A set expression nested (or chained) around the depth limit, used by a rule."""
    depth = draw(_DEPTHS)
    if draw(st.booleans()):
        op = draw(st.sampled_from(["|", "&", "-"]))
        expr = f" {op} ".join(["hate"] * (depth + 1))
    else:
        expr = "hate"
        for _ in range(depth):
            op = draw(st.sampled_from(["|", "&", "-"]))
            expr = f"(violence {op} {expr})" if draw(st.booleans()) else f"({expr} {op} hate)"
    return f"set s = {expr}\n  rule r: refuse when any s"
