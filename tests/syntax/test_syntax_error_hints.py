"""Syntax error hints: expected tokens are what the grammar accepts there, ranked; an unclosed
`{` is shown where it opened; odd characters are named by code point."""

from __future__ import annotations

from policyc.diagnostics import Diagnostic
from policyc.syntax.parse import parse_text

HEAD = 'policy a.b version "1" {\n  categories { hate, violence }\n  default allow\n'


def error(text: str) -> Diagnostic:
    module, diags = parse_text(text, "p.pol")
    assert module is None
    (d,) = diags
    assert d.code == "POL001"
    return d


def test_a_closing_paren_is_expected_only_inside_parentheses() -> None:
    outside = error(HEAD + "  rule r: refuse when violence && hate\n}\n")
    assert "`)`" not in (outside.help or "")
    inside = error(HEAD + "  rule r: refuse when (violence && hate)\n}\n")
    assert "`)`" in (inside.help or "")


def test_foreign_operators_suggest_the_keyword() -> None:
    d = error(HEAD + "  rule r: refuse when violence && hate\n}\n")
    assert (d.help or "").startswith("did you mean `and`?")
    d = error(HEAD + "  rule r: refuse when violence || hate\n}\n")
    assert (d.help or "").startswith("did you mean `or`?")


def test_the_most_local_continuations_come_first() -> None:
    d = error(HEAD + "  rule r: refuse when violence && hate\n}\n")
    help = d.help or ""
    assert help.index("`and`") < help.index("`}`") < help.index("a new item")


def test_no_keyword_is_suggested_where_only_a_brace_fits() -> None:
    d = error('policy a.b version "1" {\n  categories hate }\n}\n')
    assert d.help == "expected `{`"  # not "did you mean `gate`?"


def test_a_missing_brace_of_a_test_block_is_noted_where_it_opened() -> None:
    d = error(HEAD + '  test "t" {\n    expect refuse\n  rule r: refuse when hate\n}\n')
    (note,) = d.related
    assert note.message == "`{` opened here"
    assert note.span is not None and (note.span.line, note.span.column) == (4, 12)
    assert d.span is not None and d.span.line == 6


def test_a_brace_closed_by_the_wrong_closer_is_found_by_indentation() -> None:
    text = ('policy a.b {\n  categories {\n    self_harm { intent, support\n    violence\n'
            '    hate\n  }\n  default allow\n  rule r: refuse when hate\n}\n')
    d = error(text)
    (note,) = d.related
    assert note.span is not None and note.span.line == 3
    assert "line 6" in (d.help or "")


def test_invisible_and_lookalike_characters_are_named() -> None:
    d = error(HEAD + "  rule r: refuse when\u200b hate\n}\n")
    assert d.message == "invisible character U+200B ZERO WIDTH SPACE"
    d = error(HEAD + "  rule r: r\u0435fuse when hate\n}\n")
    assert "U+0435 CYRILLIC SMALL LETTER IE (looks like `e`)" in d.message
    assert "names and keywords are ASCII" in (d.help or "")
    assert (d.help or "").endswith("did you mean `refuse`?")
    d = error(HEAD + "  rule \u0440ule: refuse when hate\n}\n")  # Cyrillic `р` first
    assert "U+0440 CYRILLIC SMALL LETTER ER" in d.message
    d = error(HEAD + "  rule r\uff1a refuse\n}\n")
    assert "U+FF1A FULLWIDTH COLON" in d.message and d.help == "did you mean `:`?"
