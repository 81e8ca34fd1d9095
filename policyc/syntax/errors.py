"""Syntax errors explained: lark's exception → one located POL001 diagnostic with a hint.

* What was expected is what the grammar really accepts at that point: each candidate token
  is run through the LALR table from the parser's state stack (lookaheads merged by LALR,
  such as a `)` with no `(` open, are dropped), and ranked by how local it is: tokens that
  continue the innermost construct (`and` after a guard) come before those that first
  close it (a new item such as `rule`).
* "did you mean" only suggests a keyword or operator accepted there (`&&` → `and`).
* An unclosed `{` is shown where it was opened (a related note), found by brace matching
  and by indentation: a `}` indented less than the line of the `{` it closes suggests that
  the `{` lacks its own `}` and the parser paired them wrongly.
* A character that cannot start a token is named by code point (`U+200B ZERO WIDTH
  SPACE`), with the ASCII letter it looks like, and the reminder that names are ASCII.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.parsers.lalr_analysis import Shift

from policyc.diagnostics import Diagnostic, Related, Span, diagnostic

_NAMED_TERMINALS = {"NAME": "a name", "STRING": "a string", "NUMBER": "a number",
                    "$END": "end of file", "NARROWING": "`narrowing`", "LOCKED": "`locked`",
                    "CMP": "a comparison operator"}

#: Operators of other languages, and what this one writes instead (offered when accepted).
_FOREIGN = {"&&": "and", "&": "and", "||": "or", "|": "or", "!": "not", "=": "==",
            "===": "==", "<>": "!=", "=>": ">=", "=<": "<="}

#: At most this many expected tokens are listed (the most local first).
SHOWN = 8


# ---- what the grammar accepts here -------------------------------------------------------------


def _accepted(err: UnexpectedInput) -> list[tuple[int, str]] | None:
    """(locality, terminal) for every terminal the parser accepts at the error, most local
    first; None when lark gave no parser state."""
    ip = getattr(err, "interactive_parser", None)
    if ip is None:
        return None
    state = ip.parser_state
    table = state.parse_conf.parse_table
    stack = list(state.state_stack)
    end = table.end_states[state.parse_conf.start]
    out = []
    for term in table.states[stack[-1]]:
        if term.isupper() or term == "$END":
            low = _simulate(table.states, stack, term, end)
            if low is not None:
                out.append((low, term))
    return out


def _simulate(states: dict[Any, Any], stack: Sequence[Any], term: str, end: Any) -> int | None:
    """Feed `term` to a copy of the LALR stack: the lowest stack height the reductions reach
    before it is shifted (higher = more local), or None if it is not accepted."""
    stack = list(stack)
    low = len(stack)
    for _ in range(10_000):  # a reduction chain is short; the bound only guards the loop
        row = states[stack[-1]]
        if term not in row:
            return None
        action, arg = row[term]
        if action is Shift:
            return low
        size = len(arg.expansion)
        if size:
            del stack[-size:]
        low = min(low, len(stack))
        stack.append(states[stack[-1]][arg.origin.name][1])
        if term == "$END" and stack[-1] == end:
            return low
    return None  # pragma: no cover


def _label(term: str, patterns: dict[str, Any]) -> str:
    if term in _NAMED_TERMINALS:
        return _NAMED_TERMINALS[term]
    pattern = patterns.get(term)
    if pattern is not None and pattern.type == "str":
        return f"`{pattern.value}`"
    return term.lower()


def _first_terminals(lark: Lark, symbol: str) -> frozenset[str]:
    """The terminals that can start `symbol` (its FIRST set; the grammar has no empty items)."""
    by_origin: dict[str, list[Any]] = {}
    for rule in lark.rules:
        by_origin.setdefault(rule.origin.name, []).append(rule)
    out: set[str] = set()
    seen: set[str] = set()
    todo = [symbol]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for rule in by_origin.get(name, ()):
            if rule.expansion:
                first = rule.expansion[0]
                (out.add if first.is_term else todo.append)(first.name)
    return frozenset(out)


def _ranked_labels(accepted: list[tuple[int, str]], lark: Lark) -> list[str]:
    """Labels, most local first; when every item keyword is accepted (a new item may start
    here) they are one label, `a new item`, after the rest."""
    patterns = {t.name: t.pattern for t in lark.terminals}
    items = _first_terminals(lark, "_item")
    terms = {term for _, term in accepted}
    group = bool(items) and items <= terms
    out: list[str] = []
    for _, term in sorted(accepted, key=lambda a: (-a[0], _label(a[1], patterns))):
        label = _label(term, patterns)
        if group and term in items:
            continue
        if label not in out:
            out.append(label)
    if group:
        out.append("a new item (`rule`, `default`, ...)")
    return out


def _expected_text(labels: list[str]) -> str | None:
    if not labels:
        return None
    shown = ", ".join(labels[:SHOWN])
    more = len(labels) - SHOWN
    return "expected " + shown + (f", or one of {more} more" if more > 0 else "")


def _keyword_values(accepted: list[tuple[int, str]], lark: Lark) -> list[str]:
    patterns = {t.name: t.pattern for t in lark.terminals}
    values = []
    for _, term in accepted:
        p = patterns.get(term)
        if p is not None and p.type == "str":
            values.append(p.value)
    return values


def _accepts_after_brace(err: UnexpectedInput, token: Token) -> bool:
    """Would the parser take `token` if a `}` were inserted before it?"""
    ip = getattr(err, "interactive_parser", None)
    if ip is None:
        return False
    try:
        cursor = ip.copy()
        cursor.feed_token(Token("RBRACE", "}"))
        if token.type == "$END":
            cursor.feed_eof()
        else:
            cursor.feed_token(token)
    except Exception:  # noqa: BLE001 - any refusal means no
        return False
    return True


# ---- braces ----------------------------------------------------------------------------------

_SCAN = re.compile(r'"[^"\\\n]*+(?:\\.[^"\\\n]*+)*+"|#[^\n]*|[{}]')


@dataclass
class _Brace:
    offset: int
    line: int
    column: int
    indent: int  # of the line it is on
    closed_on: int = 0  # the line of the `}` the parser paired it with (0: still open)


def _unclosed(text: str, upto: int) -> tuple[list[_Brace], _Brace | None]:
    """The `{` still open at offset `upto`, and the first `{` that indentation says was
    closed by the wrong `}` (if any)."""
    open_: list[_Brace] = []
    suspect: _Brace | None = None
    line, counted = 1, 0
    for m in _SCAN.finditer(text, 0, upto):
        ch = m.group()
        if ch not in "{}":
            continue
        start = m.start()
        line += text.count("\n", counted, start)
        counted = start
        line_start = text.rfind("\n", 0, start) + 1
        prefix = text[line_start:start]
        indent = len(prefix) - len(prefix.lstrip(" \t"))
        if ch == "{":
            open_.append(_Brace(start, line, start - line_start + 1, indent))
        elif open_:
            opener = open_.pop()
            first_on_line = not prefix.strip()
            if (suspect is None and first_on_line and opener.line != line
                    and indent < opener.indent):
                opener.closed_on = line
                suspect = opener
    return open_, suspect


# ---- characters ----------------------------------------------------------------------------

#: Letters that look like ASCII ones (Cyrillic, Greek): the usual homoglyphs.
_LOOKALIKE = dict(zip(
    "аеорсхуіјѕԁһԛԝАВЕКМНОРСТХУІЈЅαβεικνορτυχΑΒΕΗΙΚΜΝΟΡΤΥΧΖ",
    "aeopcxyijsdhqwABEKMHOPCTXYIJSabeiknoptuxABEHIKMNOPTYXZ", strict=True))

_INVISIBLE = {"Cc", "Cf", "Zl", "Zp", "Co", "Cn"}


def char_name(ch: str) -> str:
    """`U+200B ZERO WIDTH SPACE`: how a character is named in messages.

    >>> char_name("\\u0435")
    'U+0435 CYRILLIC SMALL LETTER IE'
    """
    name = unicodedata.name(ch, "")
    if ch == "\ufeff":
        name = "BYTE ORDER MARK"
    return f"U+{ord(ch):04X}" + (f" {name}" if name else "")


def is_invisible(ch: str) -> bool:
    """A character a reader cannot see (or cannot tell from a space)."""
    return unicodedata.category(ch) in _INVISIBLE or (ch.isspace() and ch not in " \t\n\r")


def ascii_lookalike(ch: str) -> str | None:
    """The ASCII character `ch` looks like or stands for: `е` → `e`, `ｒ` → `r`, `é` → `e`."""
    if ch in _LOOKALIKE:
        return _LOOKALIKE[ch]
    folded = unicodedata.normalize("NFKD", ch)
    base = "".join(c for c in folded if not unicodedata.combining(c))
    return base if base and base.isascii() and base.isprintable() else None


def _word_at(text: str, pos: int) -> tuple[int, int]:
    """The run of letters, digits and `_` (any script) around `pos`."""
    start = pos
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_"):
        start -= 1
    end = pos
    while end < len(text) and (text[end].isalnum() or text[end] == "_"
                               or unicodedata.category(text[end]) in ("Mn", "Mc")):
        end += 1
    return start, max(end, pos + 1)


def _asciified(word: str) -> str | None:
    out = []
    for ch in word:
        if ch.isascii():
            out.append(ch)
            continue
        sub = ascii_lookalike(ch)
        if sub is None:
            return None
        out.append(sub)
    return "".join(out)


def _character_problem(text: str, pos: int, keywords: list[str]) -> tuple[str, str]:
    """(message, help) for a character that cannot start a token."""
    ch = text[pos]
    if ch == '"':
        return ("unterminated string",
                'close the string with `"` on the same line (write `\\"` for a quote inside)')
    if ch == "\ufeff":
        return (f"unexpected {char_name(ch)}",
                "a byte order mark is only allowed at the very start of a file: delete it")
    if is_invisible(ch):
        return (f"invisible character {char_name(ch)}",
                "delete it (it is often pasted in from a web page or a word processor)")
    if ch.isascii():
        return f"unexpected character `{ch}`", ""
    start, end = _word_at(text, pos)
    word = text[start:end]
    like = ascii_lookalike(ch)
    looks = f" (looks like `{like}`)" if like is not None and like != ch else ""
    if ch.isalnum() or unicodedata.category(ch).startswith("M"):
        message = f"non-ASCII character {char_name(ch)}{looks} in `{word}`"
        help = "names and keywords are ASCII: letters `a`-`z`, `A`-`Z`, digits and `_`"
        fixed = _asciified(word)
        if fixed is not None and fixed != word:
            help += f"; did you mean `{fixed}`?"
        return message, help
    message = f"unexpected character {char_name(ch)}{looks}"
    return message, (f"did you mean `{like}`?" if like else "")


# ---- the diagnostic ----------------------------------------------------------------------------


def syntax_diagnostic(err: UnexpectedInput, text: str, path: str, lark: Lark) -> Diagnostic:
    line = getattr(err, "line", 1) or 1
    column = getattr(err, "column", 1) or 1
    accepted = _accepted(err)
    related: list[Related] = []
    hints: list[str] = []
    if accepted is not None:
        labels = _ranked_labels(accepted, lark)
        keywords = _keyword_values(accepted, lark)
    else:  # pragma: no cover - lark always gives its parser state
        raw: set[str] = getattr(err, "expected", None) or getattr(err, "allowed", None) or set()
        labels = sorted({_label(t, {p.name: p.pattern for p in lark.terminals}) for t in raw})
        keywords = []
    expected = _expected_text(labels)
    end_column = column + 1
    if isinstance(err, UnexpectedCharacters):
        pos = err.pos_in_stream if err.pos_in_stream is not None else 0
        message, help = _character_problem(text, min(pos, len(text) - 1), keywords)
        hints.append(help or (expected or ""))
    elif isinstance(err, UnexpectedToken) and _glued_non_ascii(err.token, text) is not None:
        glued = _glued_non_ascii(err.token, text)
        assert glued is not None
        message, help = _character_problem(text, glued, keywords)
        hints.append(help)
        line, column = err.token.end_line or line, err.token.end_column or column
        end_column = column + 1
    elif isinstance(err, UnexpectedToken):
        token = err.token
        at_end = token.type == "$END"
        if at_end:
            lines = text.splitlines() or [""]  # the end of the last line with text
            line, column = len(lines), len(lines[-1]) + 1
            end_column = column + 1
            message = "unexpected end of file"
        else:
            message = f"unexpected `{token}`"
            if token.end_line == line and token.end_column:
                end_column = max(end_column, token.end_column)
            guess = _did_you_mean(str(token), token.type, keywords)
            if guess:
                hints.append(f"did you mean `{guess}`?")
        upto = len(text) if at_end else (token.start_pos or 0)
        brace = None
        if at_end or "`}`" in labels:
            open_, suspect = _unclosed(text, upto)
            if suspect is not None:  # indentation tells which `{` lacks its `}`
                brace = suspect
            elif open_ and (at_end or _accepts_after_brace(err, token)):
                brace = open_[-1]
        if brace is not None:
            related.append(Related(message="`{` opened here", span=Span(
                path, brace.line, brace.column, brace.line, brace.column + 1, brace.offset,
                brace.offset + 1)))
            hints.append(f"is a `}}` missing? the `{{` opened on line {brace.line} "
                         + (f"looks unclosed (the `}}` on line {brace.closed_on} that closes it "
                            "is indented as for an outer block)" if brace.closed_on
                            else "is not closed"))
        if expected and (brace is None or not hints):
            hints.append(expected)
    else:  # pragma: no cover - lark raises only the kinds above
        message = str(err).splitlines()[0]
    help = " ".join(h if i == 0 else f"({h})" for i, h in enumerate(h for h in hints if h))
    span = Span(path, line, column, line, end_column)
    return diagnostic(code="POL001", message=message, span=span,
                      related=related, help=help or None, fatal=True)


def _glued_non_ascii(token: Token, text: str) -> int | None:
    """The offset of a non-ASCII letter right after a name token (`r` + Cyrillic `е` +
    `fuse`: the lexer stopped at the letter it could not take), else None."""
    if token.type == "$END" or token.end_pos is None or token.end_pos >= len(text):
        return None
    ch = text[token.end_pos]
    if ch.isascii() or not (ch.isalnum() or unicodedata.category(ch)[0] in "LM"):
        return None
    return token.end_pos if str(token)[-1:].isalnum() or str(token)[-1:] == "_" else None


def _did_you_mean(word: str, type_: str, keywords: list[str]) -> str | None:
    if word in _FOREIGN and _FOREIGN[word] in keywords:
        return _FOREIGN[word]
    if type_ != "NAME":
        return None
    names = [k for k in keywords if k.isidentifier()]
    guess = difflib.get_close_matches(word, names, n=1, cutoff=0.75)
    return guess[0] if guess else None
