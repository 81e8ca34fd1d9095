"""The canonical formatter: golden files, one test per style point, and properties."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from helpers.golden import check_golden
from helpers.policy_text_gen import policies
from hypothesis import HealthCheck, given, settings

from policyc.diagnostics import PolicycError
from policyc.syntax import ast
from policyc.syntax.fmt import format_module, format_number, format_text, quote
from policyc.syntax.parse import parse_text, parser

TESTS = Path(__file__).resolve().parents[1]
GOLDEN = TESTS / "golden" / "fmt"
CASES = sorted(p.name[: -len(".pol")] for p in GOLDEN.glob("*.pol")
               if not p.name.endswith(".expected.pol"))


def parse(text: str) -> ast.Module:
    module, diagnostics = parse_text(text)
    assert module is not None and not diagnostics, diagnostics
    return module


def strict(node: object) -> object:
    """AST equality that also tells `true` from `1` and `-0` from `0` (plain `==` does not)."""
    if isinstance(node, ast.Node):
        return (type(node).__name__,
                tuple((f, strict(getattr(node, f))) for f in type(node).model_fields
                      if f not in ("span", "comments", "path")))
    if isinstance(node, tuple):
        return tuple(strict(x) for x in node)
    if isinstance(node, (bool, float)):
        return (type(node).__name__, repr(node))
    return node


def comment_texts(module: ast.Module) -> Counter[str]:
    return Counter(c.text for c in module.comments)


def fmt(text: str) -> str:
    """Format, and check the three invariants on the way."""
    out = format_text(text)
    assert format_text(out) == out, "not idempotent"
    before, after = parse(text), parse(out)
    assert strict(after.policy) == strict(before.policy)
    assert comment_texts(after) == comment_texts(before)
    return out


def body(text: str) -> str:
    """The policy body of a formatted one-item policy, without the `policy` lines."""
    return "\n".join(fmt(f"policy p {{\n{text}\n}}").splitlines()[1:-1])


# ---- golden files ---------------------------------------------------------------------------


def test_there_are_enough_golden_cases() -> None:
    assert len(CASES) >= 8
    assert "design_example" in CASES


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str, update_golden: bool) -> None:
    source = (GOLDEN / f"{case}.pol").read_text(encoding="utf-8")
    out = fmt(source)
    check_golden(GOLDEN / f"{case}.expected.pol", out, update_golden)
    assert format_text(out) == out  # the expected file is itself canonical


def test_design_example_golden_is_the_fixture() -> None:
    fixture = TESTS / "fixtures" / "design_example.pol"
    assert (GOLDEN / "design_example.pol").read_text() == fixture.read_text()


# ---- API ----------------------------------------------------------------------------------------


def test_syntax_error_raises_with_the_parse_diagnostics() -> None:
    with pytest.raises(PolicycError) as err:
        format_text("policy p { rule r allow }", "bad.pol")
    (diagnostic,) = err.value.diagnostics
    assert diagnostic.code == "POL001"
    assert diagnostic.span is not None and diagnostic.span.file == "bad.pol"


def test_literal_error_raises() -> None:
    with pytest.raises(PolicycError) as err:
        format_text("policy p { threshold default 1e400 }")
    assert err.value.diagnostics[0].code == "POL003"


def test_format_module_without_source() -> None:
    text = 'policy p {\n  test "t" {\n    text "x"\n    expect allow  # e\n  }\n}\n'
    module = parse(text)
    assert format_module(module) == text
    assert format_module(module, text) == text


def test_format_module_of_a_hand_built_ast() -> None:
    policy = ast.Policy(name="p", version="", items=(
        ast.Rule(name="r", action=ast.Action(kind="refuse"),
                 guard=ast.And(items=(ast.Or(items=(ast.NameRef(name="a"),
                                                    ast.NameRef(name="b"))),
                                      ast.NameRef(name="c")))),))
    out = format_module(ast.Module(path="x.pol", policy=policy))
    assert out == "policy p {\n  rule r: refuse when (a or b) and c\n}\n"
    assert parse(out).policy == policy


def test_output_ends_with_one_newline_and_has_no_trailing_spaces() -> None:
    out = fmt((GOLDEN / "comments.pol").read_text())
    assert out.endswith("}\n") or out.endswith("end\n")
    assert not out.endswith("\n\n")
    assert all(line == line.rstrip() for line in out.splitlines())


# ---- style points -----------------------------------------------------------------------------


def test_two_space_indent_and_one_item_per_line() -> None:
    assert fmt('policy p { owner "o" default allow }') == (
        'policy p {\n  owner "o"\n  default allow\n}\n')


def test_version_and_empty_policy() -> None:
    assert fmt('policy a.b version "1.2" {\n}') == 'policy a.b version "1.2" {}\n'
    assert fmt('policy a.b version "" {}') == "policy a.b {}\n"


def test_items_keep_their_order() -> None:
    text = "rule b: allow\nrule a: refuse\ndefault warn\nrule c: allow"
    assert body(text).split("\n") == ["  rule b: allow", "  rule a: refuse", "  default warn",
                                       "  rule c: allow"]


def test_blank_lines_between_items_collapse_to_one() -> None:
    out = fmt("policy p {\n\n\n  default allow\n\n\n\n  resolve unique\n  drop x\n\n}\n")
    assert out == "policy p {\n  default allow\n\n  resolve unique\n  drop x\n}\n"


def test_blank_lines_around_own_line_comments_are_kept() -> None:
    text = "policy p {\n  drop a\n\n  # section\n\n  drop b\n  # end\n\n}\n"
    assert fmt(text) == "policy p {\n  drop a\n\n  # section\n\n  drop b\n  # end\n}\n"


def test_rule_forms_on_one_line() -> None:
    assert body("locked rule r: refuse\n when a\n priority 3") == (
        "  locked rule r: refuse when a priority 3")
    assert body("override r: warn(\"m\") when a") == '  override r: warn("m") when a'
    assert body("rule r: allow priority 1e1") == "  rule r: allow priority 10"
    assert body("rule r: allow priority -2") == "  rule r: allow priority -2"


@pytest.mark.parametrize(("guard", "expected"), [
    ("a or b and c", "a or b and c"),
    ("(a or b) and c", "(a or b) and c"),
    ("((a) and (b))", "a and b"),
    ("a or (b or c)", "a or b or c"),
    ("a and (b and c)", "a and b and c"),
    ("not (a and b)", "not (a and b)"),
    ("not (not a)", "not not a"),
    ("(not a) and b", "not a and b"),
    ("not (a or b) or c", "not (a or b) or c"),
    ("not a in { x }", "not a in { x }"),
    ("a not in { x, y, }", "a not in { x, y }"),
    ("any (a | b)", "any (a | b)"),
    ("any (a)", "any a"),
    ("all { a, b }", "all { a, b }"),
    ("none {}", "none {}"),
    ("score(a.b)>=.5", "score(a.b) >= 0.5"),
    ("a==true and b!=false", "a == true and b != false"),
    ("n < -3.0", "n < -3"),
    ("k in { x, 1, true }", "k in { x, 1, true }"),
])
def test_guards_use_minimal_parentheses(guard: str, expected: str) -> None:
    assert body(f"rule r: refuse when {guard}") == f"  rule r: refuse when {expected}"


@pytest.mark.parametrize(("expr", "expected"), [
    ("a | b & c - d", "a | b & c - d"),
    ("(a | b) & c", "(a | b) & c"),
    ("a - (b - c)", "a - (b - c)"),
    ("(a - b) - c", "a - b - c"),
    ("a | (b | c)", "a | (b | c)"),
    ("(a & b) | c", "a & b | c"),
    ("a & (b | c)", "a & (b | c)"),
    ("{ x.y, z, }", "{ x.y, z }"),
    ("{ }", "{}"),
    ("(s)", "s"),
])
def test_set_expressions_use_minimal_parentheses(expr: str, expected: str) -> None:
    assert body(f"set s = {expr}") == f"  set s = {expected}"
    assert body(f"disallow {expr}") == f"  disallow {expected}"


@pytest.mark.parametrize(("number", "expected"), [
    ("0.5", "0.5"), (".5", "0.5"), ("0.50", "0.5"), ("3", "3"), ("3.", "3"), ("3.0", "3"),
    ("1e-5", "1e-05"), ("1E2", "100"), ("+0.25", "0.25"), ("-0", "-0"), ("1e16", "1e+16"),
    ("0.1", "0.1"), ("123456789.125", "123456789.125"),
])
def test_numbers_print_in_shortest_round_trip_form(number: str, expected: str) -> None:
    assert body(f"threshold default {number}") == f"  threshold default {expected}"
    assert format_number(float(number)) == expected


def test_format_number_refuses_non_finite() -> None:
    with pytest.raises(ValueError):
        format_number(float("inf"))


@pytest.mark.parametrize(("literal", "expected"), [
    (r'"a\\b"', r'"a\\b"'),
    (r'"say \"hi\""', r'"say \"hi\""'),
    (r'"x\ny\tz\r"', r'"x\ny\tz\r"'),
    (r'"\u00e9\u0041"', '"éA"'),
    ('"é 日本 🙂"', '"é 日本 🙂"'),
    (r'"\d\."', r'"\\d\\."'),
    (r'"\u0022\u005c"', r'"\"\\"'),
    (r'"\ud83d"', r'"\ud83d"'),
    ('"# not a comment"', '"# not a comment"'),
])
def test_strings_are_re_escaped(literal: str, expected: str) -> None:
    assert body(f"owner {literal}") == f"  owner {expected}"


def test_quote_round_trips() -> None:
    for value in ['a"b', "c\\d", "\n\t\r", "é", "\\u0041", "\ud800"]:
        (item,) = parse(f"policy p {{ owner {quote(value)} }}").policy.items
        assert isinstance(item, ast.Owner) and item.value == value


def test_category_leaves_and_docs() -> None:
    assert body('categories { a, b "doc b" c }') == (
        '  categories {\n    a\n    b "doc b"\n    c\n  }')


def test_category_node_inline_when_it_fits() -> None:
    assert body("categories { v { a, b c, } }") == "  categories {\n    v { a, b, c }\n  }"


def test_category_node_block_when_a_child_has_a_doc_or_children() -> None:
    assert body('categories { v { a "d", b } w { x { y } } }') == (
        "  categories {\n"
        "    v {\n"
        '      a "d"\n'
        "      b\n"
        "    }\n"
        "    w {\n"
        "      x { y }\n"
        "    }\n"
        "  }")


def test_category_node_block_when_too_long() -> None:
    children = ", ".join(f"child_number_{i}" for i in range(7))
    out = body(f"categories {{ parent {{ {children} }} }}")
    assert "parent {\n      child_number_0\n" in out
    fits = ", ".join(f"c{i}" for i in range(7))
    assert body(f"categories {{ parent {{ {fits} }} }}") == (
        f"  categories {{\n    parent {{ {fits} }}\n  }}")


def test_category_line_limit_is_100_columns() -> None:
    def line(n: int) -> str:
        inline = "    p { " + "x" * n + " }"
        return body(f"categories {{ p {{ {'x' * n} }} }}").splitlines()[1], inline
    exact, inline = line(100 - len("    p {  }"))
    assert exact == inline and len(exact) == 100
    over, _ = line(101 - len("    p {  }"))
    assert over == "    p {"


def test_category_node_block_when_a_comment_is_inside() -> None:
    assert body("categories {\n v { a, # c\n b }\n}") == (
        "  categories {\n    v {\n      a  # c\n      b\n    }\n  }")


def test_empty_blocks() -> None:
    assert body("categories { }") == "  categories {}"
    assert body("categories { a { } }") == "  categories {\n    a\n  }"
    assert body('test "t" { }') == '  test "t" {}'
    assert body('detector d = keywords { }') == "  detector d = keywords {}"


def test_classifier_forms() -> None:
    assert body('classifier m = onnx "m.onnx"') == '  classifier m = onnx "m.onnx"'
    assert body('classifier m = onnx "m.onnx" { }') == '  classifier m = onnx "m.onnx"'
    assert body('classifier m = onnx "m" { on_error allow labels { a = "x" b.c = "y", } }') == (
        '  classifier m = onnx "m" {\n'
        '    labels { a = "x", b.c = "y" }\n'
        "    on_error allow\n"
        "  }")
    # two `labels` blocks merge into one
    assert body('classifier m = onnx "m" { labels { a = "x" } labels { b = "y" } }') == (
        '  classifier m = onnx "m" {\n    labels { a = "x", b = "y" }\n  }')


def test_long_labels_go_one_per_line() -> None:
    labels = ", ".join(f'category_{i} = "label_number_{i}"' for i in range(5))
    out = body(f'classifier m = onnx "m" {{ labels {{ {labels} }} }}')
    assert out.splitlines()[1:4] == ["    labels {", '      category_0 = "label_number_0"',
                                     '      category_1 = "label_number_1"']


def test_long_keyword_lists_go_one_per_line() -> None:
    short = 'detector d = keywords { "a", "b" }'
    assert body(short) == f"  {short}"
    words = [f"keyword phrase number {i}" for i in range(5)]
    quoted = ", ".join(f'"{w}"' for w in words)
    assert body(f"detector d = keywords {{ {quoted} }} # c") == "\n".join(
        ["  detector d = keywords {", *(f'    "{w}"' for w in words), "  }  # c"])


def test_long_rules_put_the_guard_on_a_continuation_line() -> None:
    guard = " and ".join(f"attribute_{i} == value_{i}" for i in range(6))
    assert body(f"rule r: refuse when {guard}") == f"  rule r: refuse\n      when {guard}"
    short = "rule r: refuse when a == b priority 3"
    assert body("rule r: refuse\n when a == b\n priority 3") == f"  {short}"


def test_test_block_clauses_in_canonical_order() -> None:
    assert body('test "t" { expect refuse by r text "x" given a = 1, b = x given c = true }') == (
        '  test "t" {\n'
        "    given a = 1, b = x, c = true\n"
        '    text "x"\n'
        "    expect refuse by r\n"
        "  }")


def test_other_items() -> None:
    assert body("extends a.b narrowing , c") == "  extends a.b narrowing, c"
    assert body("context a : enum { x, y, } = x") == "  context a: enum { x, y } = x"
    assert body("context b: bool = true") == "  context b: bool = true"
    assert body("context n: number=1.50") == "  context n: number = 1.5"
    assert body("derive a = max( b , c.d )") == "  derive a = max(b, c.d)"
    assert body('detector a = regex "x" validate v') == '  detector a = regex "x" validate v'
    assert body('detector a = keywords { "x" "y", }') == '  detector a = keywords { "x", "y" }'
    assert body("threshold default 1") == "  threshold default 1"
    assert body("resolve most-specific") == "  resolve most-specific"
    assert body('on_error escalate("q")') == '  on_error escalate("q")'
    assert body("gate m <= 0.05") == "  gate m <= 0.05"
    assert body('meta k "v"') == '  meta k "v"'


# ---- comments ---------------------------------------------------------------------------------


def test_comment_before_and_after_the_policy() -> None:
    assert fmt("# a\n\n\n# b\npolicy p {} # c\n# d\n\n# e") == (
        "# a\n\n# b\npolicy p {}  # c\n# d\n\n# e\n")


def test_comment_on_the_opening_line_stays_there() -> None:
    assert fmt("policy p { # c\n  drop a\n}") == "policy p {  # c\n  drop a\n}\n"
    assert fmt("policy p { # c\n}") == "policy p {  # c\n}\n"


def test_trailing_comment_stays_trailing() -> None:
    assert body("drop a   # c\ndrop b") == "  drop a  # c\n  drop b"


def test_comment_inside_a_multi_line_rule_moves_before_it() -> None:
    assert body("rule r: refuse # why\n  when a # because\n  and b # end") == (
        "  # why\n  # because\n  rule r: refuse when a and b  # end")


def test_comment_after_the_last_item_stays_before_the_brace() -> None:
    assert body("drop a\n# last") == "  drop a\n  # last"


def test_trailing_comment_after_a_block_goes_on_its_brace() -> None:
    assert body("categories { a } # c") == "  categories {\n    a\n  }  # c"
    assert body('test "t" { expect allow } # c') == (
        '  test "t" {\n    expect allow\n  }  # c')


def test_comments_in_a_test_block() -> None:
    text = ('test "t" { # h\n  given a = 1, # g1\n b = 2 # g2\n  text "x" # t\n'
            "  # before expect\n  expect allow # e\n  # end\n}")
    assert body(text) == (
        '  test "t" {  # h\n'
        "    # g1\n"
        "    given a = 1, b = 2  # g2\n"
        '    text "x"  # t\n'
        "    # before expect\n"
        "    expect allow  # e\n"
        "    # end\n"
        "  }")


def test_comments_in_a_classifier() -> None:
    text = ('classifier m = onnx "m" {\n  # about labels\n  labels { a = "x", b = "y" } # l\n'
            "  on_error refuse # e\n}")
    assert body(text) == (
        '  classifier m = onnx "m" {\n'
        "    # about labels\n"
        '    labels { a = "x", b = "y" }  # l\n'
        "    on_error refuse  # e\n"
        "  }")
    text = 'classifier m = onnx "m" { labels {\n a = "x" # a\n b = "y"\n # end\n } }'
    assert body(text) == (
        '  classifier m = onnx "m" {\n'
        "    labels {\n"
        '      a = "x"  # a\n'
        '      b = "y"\n'
        "    }\n"
        "    # end\n"
        "  }")


def test_empty_classifier_with_a_comment_keeps_its_braces() -> None:
    assert body('classifier m = onnx "m" {\n # c\n}') == (
        '  classifier m = onnx "m" {\n    # c\n  }')


def _comment_after_every_token(source: str, style: str) -> str:
    """`source` with a comment after each token (not inside `most-restrictive` & co.)."""
    out, pos = [], 0
    for i, tok in enumerate(parser().lex(source)):
        out.append(source[pos : tok.end_pos])
        pos = tok.end_pos
        in_strategy = source[tok.end_pos : tok.end_pos + 1] == "-" or (
            tok == "-" and source[tok.start_pos - 1].isalpha())
        if tok.type != "COMMENT" and not in_strategy:
            out.append({"trailing": f" # c{i}\n", "own": f"\n  # c{i}\n",
                        "glued": f"#c{i}\n"}[style])
    return "".join(out) + source[pos:]


@pytest.mark.parametrize("style", ["trailing", "own", "glued"])
@pytest.mark.parametrize("case", CASES)
def test_a_comment_after_every_token(case: str, style: str) -> None:
    source = (GOLDEN / f"{case}.pol").read_text(encoding="utf-8")
    fmt(_comment_after_every_token(source, style))  # checks all three invariants


def test_comment_characters_are_kept_verbatim() -> None:
    out = fmt('policy p { # é 日本 "quoted" # nested \\ \n}')
    assert '# é 日本 "quoted" # nested \\' in out


def test_crlf_input() -> None:
    assert fmt("policy p {\r\n  drop a # c\r\n}\r\n") == "policy p {\n  drop a  # c\n}\n"


# ---- properties -------------------------------------------------------------------------------

_PROPERTY = settings(max_examples=200, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@_PROPERTY
@given(policies())
def test_format_is_idempotent(text: str) -> None:
    parse(text)  # the generator writes valid text
    once = format_text(text)
    assert format_text(once) == once


@_PROPERTY
@given(policies())
def test_format_preserves_the_ast(text: str) -> None:
    before, after = parse(text), parse(format_text(text))
    assert after.policy == before.policy
    assert strict(after.policy) == strict(before.policy)


@_PROPERTY
@given(policies())
def test_format_preserves_comments(text: str) -> None:
    assert comment_texts(parse(format_text(text))) == comment_texts(parse(text))
