"""The parser's fast path (`syntax/fast_parse.py`) against lark's own parse + transform.

Both must give the same module: the same nodes, the same value types, the same span on
every node and comment, the same literal diagnostics; and on bad input the fast path must
give up so that lark's diagnostics stand unchanged.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.policy_text_gen import policies
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policyc.syntax import ast
from policyc.syntax.fast_parse import Miss
from policyc.syntax.parse import fast_parser, parse_text, parse_text_with_lark
from policyc.syntax.transform import ToAst, _new

ROOT = Path(__file__).resolve().parents[2]
POL_FILES = sorted(p for folder in ("examples", "stdlib_policies", "tests")
                   for p in (ROOT / folder).rglob("*.pol"))


def exact(x: object) -> object:
    """Everything about a parse result, spans and value types included."""
    if isinstance(x, ast.Node):
        return (type(x).__name__, x.span, sorted(x.model_fields_set),
                tuple((k, exact(v)) for k, v in x.__dict__.items()))
    if isinstance(x, tuple):
        return tuple(exact(v) for v in x)
    return (type(x).__name__, repr(x))


def both(text: str, path: str = "p.pol") -> tuple[object, object]:
    module, diags = parse_text(text, path)
    ref_module, ref_diags = parse_text_with_lark(text, path)
    return ((exact(module) if module else None, [d.model_dump() for d in diags]),
            (exact(ref_module) if ref_module else None, [d.model_dump() for d in ref_diags]))


def fast_parse(text: str, path: str = "p.pol") -> object:
    fast = fast_parser()
    assert fast is not None, "the fast path is disabled: lark's internals changed"
    return fast.parse(text, ToAst(path))


def test_the_fast_path_is_enabled() -> None:
    assert fast_parser() is not None


def test_every_policy_file_of_the_repo_parses_the_same() -> None:
    assert len(POL_FILES) > 50
    taken = 0
    for path in POL_FILES:
        text = path.read_text(encoding="utf-8")
        got, ref = both(text, str(path))
        assert got == ref, path
        if ref[0] is not None:
            fast_parse(text, str(path))  # valid text never falls back
            taken += 1
    assert taken > 50


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies())
def test_random_valid_policies_parse_the_same(text: str) -> None:
    got, ref = both(text)
    assert got == ref
    fast_parse(text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies(max_items=4), st.data())
def test_broken_policies_fall_back_to_lark(text: str, data: st.DataObject) -> None:
    """Cut a piece out or splice in junk: the result (often a syntax error) is lark's."""
    i = data.draw(st.integers(0, len(text)))
    j = data.draw(st.integers(i, min(len(text), i + 12)))
    junk = data.draw(st.sampled_from(["", "{", "}", "(", "rule", "and", "@", '"', "1e", "-",
                                      "not in", ",", "\n", "#"]))
    broken = text[:i] + junk + text[j:]
    got, ref = both(broken)
    assert got == ref
    if ref[0] is None:
        with pytest.raises(Miss):
            fast_parse(broken)


@pytest.mark.parametrize("text", [
    # keywords where only a name can stand are names (the contextual lexer)
    "policy policy { rule rule: allow when policy }",
    "policy a.b { context when: bool  rule r: refuse when when and not when }",
    "policy p { resolve most-restrictive set s = { a } - b - (c | d) & e }",
    "policy p { rule r: refuse when score(a.b) >= -0.5 and n < +3 or x in { -1, 2., .5e3 } }",
    "policy p { rule r: warn(\"\\u00e9\\\"\") when ((a) and (b or (c))) priority 1e400 }",
    "policy p { rule r: allow when (a) }\n# tail\n",
    "policy p {}",
    "policy p { categories { a \"doc\" { b, c } } }",
    "# only a comment\npolicy p version \"1\" {\r\n  owner \"o\" # trailing\r\n}",
    "policy p { test \"t\" { given a = 1, b = true expect refuse by r text \"x\" text \"y\" } }",
    "policy p { rule r: refuse priority 1.5 }",
])
def test_corner_cases_parse_the_same(text: str) -> None:
    got, ref = both(text)
    assert got == ref


@pytest.mark.parametrize("text", [
    "policy p { rule r: refuse when }",
    "policy p { rule r: refuse when a and }",
    "policy p { rule r: refuse \"open }",
    "policy p { rule r: refuse when a @ b }",
    "policy p {",
    "",
    "policy p { } trailing",
])
def test_syntax_errors_are_lark_s(text: str) -> None:
    got, ref = both(text)
    assert got == ref and ref[0] is None
    with pytest.raises(Miss):
        fast_parse(text)


def test_fast_node_construction_is_model_construct() -> None:
    for cls in vars(ast).values():
        if isinstance(cls, type) and issubclass(cls, ast.Node) and cls is not ast.Node:
            fast, ref = _new(cls, span=None), cls.model_construct(span=None)
            for attr in ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__",
                         "__pydantic_private__"):
                assert getattr(fast, attr) == getattr(ref, attr), (cls, attr)
            assert list(fast.__dict__) == list(ref.__dict__)
