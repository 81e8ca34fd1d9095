"""Text → AST. Syntax errors become located diagnostics with a hint, never tracebacks."""

from __future__ import annotations

import difflib
import gc
from functools import lru_cache
from importlib import resources
from pathlib import Path

from lark import Lark, Token
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from policyc.diagnostics import Diagnostic, PolicycError, Severity
from policyc.syntax import ast, limits
from policyc.syntax.lalr import FastParser, Miss
from policyc.syntax.transform import ToAst

_NAMED_TERMINALS = {"NAME": "a name", "STRING": "a string", "NUMBER": "a number",
                    "$END": "end of file", "NARROWING": "`narrowing`", "LOCKED": "`locked`",
                    "CMP": "a comparison operator"}


def _data_dir(packaged: str, checkout: str) -> Path:
    """A data folder shipped in the wheel (`policyc/<packaged>`) or, in a checkout, at the top."""
    in_wheel = Path(str(resources.files("policyc"))) / packaged
    if in_wheel.is_dir():
        return in_wheel
    return Path(__file__).resolve().parents[2] / checkout


def grammar_path() -> Path:
    return _data_dir("_grammar", "grammar") / "policy.lark"


#: Comments seen by the lexer during the current parse (the grammar ignores them).
_COMMENT_SINK: list[Token] = []


@lru_cache(maxsize=2)
def parser(strict: bool = False) -> Lark:
    """The LALR parser. A test builds it with `strict=True`; runs reuse a cached table."""
    return Lark(grammar_path().read_text(encoding="utf-8"), parser="lalr", strict=strict,
                propagate_positions=True, maybe_placeholders=True, cache=not strict,
                lexer_callbacks={"COMMENT": _collect_comment})


@lru_cache(maxsize=1)
def fast_parser() -> FastParser | None:
    """The fast path over the cached parser's tables (None if lark built something it does
    not mirror; then every parse takes lark's own path)."""
    try:
        return FastParser(parser(), ToAst)
    except Miss:  # pragma: no cover - a lark upgrade changed its internals
        return None


def _collect_comment(token: Token) -> Token:
    _COMMENT_SINK.append(token)
    return token


def _source_line(text: str, line: int) -> str:
    lines = text.splitlines()
    return lines[line - 1] if 0 < line <= len(lines) else ""


def _describe_expected(expected: set[str], lark: Lark) -> list[str]:
    patterns = {t.name: t.pattern for t in lark.terminals}
    out = []
    for name in sorted(expected):
        if name in _NAMED_TERMINALS:
            out.append(_NAMED_TERMINALS[name])
        elif name in patterns and patterns[name].type == "str":
            out.append(f"`{patterns[name].value}`")
        else:
            out.append(name.lower())
    return sorted(set(out))


def _keywords(lark: Lark) -> list[str]:
    return [t.pattern.value for t in lark.terminals
            if t.pattern.type == "str" and t.pattern.value.isidentifier()]


def _syntax_diagnostic(err: UnexpectedInput, text: str, path: str, lark: Lark) -> Diagnostic:
    line = getattr(err, "line", 1) or 1
    column = getattr(err, "column", 1) or 1
    help: str | None = None
    if isinstance(err, UnexpectedCharacters):
        pos = err.pos_in_stream
        char = text[pos] if pos is not None and pos < len(text) else ""
        if char == '"':
            message = "unterminated string"
            help = 'close the string with `"` on the same line (write `\\"` for a quote inside)'
        else:
            message = f"unexpected character `{char}`"
            expected = _describe_expected(set(err.allowed or ()), lark)
            help = "expected " + ", ".join(expected[:8]) if expected else None
    elif isinstance(err, (UnexpectedToken, UnexpectedEOF)):
        token = getattr(err, "token", None)
        expected = _describe_expected(set(err.expected or ()), lark)
        if token is None or token.type == "$END":
            lines = text.splitlines() or [""]
            line, column = len(lines), len(lines[-1]) + 1
            message = "unexpected end of file"
            help = ("a `}` is missing" if "`}`" in expected
                    else "expected " + ", ".join(expected[:8]))
        else:
            message = f"unexpected `{token}`"
            help = "expected " + ", ".join(expected[:8]) if expected else None
            guess = difflib.get_close_matches(str(token), _keywords(lark), n=1, cutoff=0.75)
            if token.type == "NAME" and guess:
                help = f"did you mean `{guess[0]}`? ({help})"
    else:  # pragma: no cover - lark raises only the kinds above
        message = str(err).splitlines()[0]
    end_column = column + 1
    token = getattr(err, "token", None)
    if isinstance(token, Token) and token.type != "$END" and token.end_line == line:
        end_column = max(end_column, token.end_column or end_column)
    span = ast.Span(path, line, column, line, end_column)
    return Diagnostic(code="POL001", severity=Severity.error, message=message, span=span,
                      help=help, fatal=True)


BOM = "\ufeff"


def parse_text(text: str, path: str = "<string>") -> tuple[ast.Module | None, list[Diagnostic]]:
    """Parse one file's text. Returns the module (None on a syntax error) and diagnostics.

    A leading byte order mark is skipped. Text over a limit (`limits.py`: file size, nesting
    depth) gives a POL004 error and no module, so no later pass sees it."""
    text = text.removeprefix(BOM)
    if len(text) > limits.MAX_FILE:
        return None, [limits.file_too_large(path, len(text))]
    module, diagnostics = _parse(text, path)
    if module is not None:
        deep = limits.check_nesting(module.policy)
        if deep:
            return None, [*diagnostics, *deep]
    return module, diagnostics


def _parse(text: str, path: str) -> tuple[ast.Module | None, list[Diagnostic]]:
    """Valid text takes the fast path; anything it gives up on (every syntax error) is parsed
    again by lark itself, so diagnostics are lark's, unchanged."""
    fast = fast_parser()
    if fast is not None:
        transformer = ToAst(path)
        # the parse allocates a large acyclic tree: cyclic GC passes over it are pure cost
        collecting = gc.isenabled()
        gc.disable()
        try:
            policy, comments = fast.parse(text, transformer)
        except Exception:  # noqa: BLE001 - Miss or anything else: lark's path decides
            pass
        else:
            return _module(path, policy, comments, transformer), transformer.diagnostics
        finally:
            if collecting:
                gc.enable()
    return parse_text_with_lark(text, path)


def parse_text_with_lark(text: str, path: str = "<string>"
                         ) -> tuple[ast.Module | None, list[Diagnostic]]:
    """`parse_text` by lark's own parser and tree transformer (the reference path)."""
    lark = parser()
    del _COMMENT_SINK[:]
    transformer = ToAst(path)
    try:
        policy = transformer.transform(lark.parse(text))
    except UnexpectedInput as err:
        return None, [_syntax_diagnostic(err, text, path, lark)]
    except RecursionError:  # lark's tree walk is recursive; the fast path never gets here
        return None, [limits.limit_error(
            ast.Span(path, 1, 1, 1, 1),
            f"`{path}` is nested too deeply to read (the limit is {limits.MAX_NESTING} levels)",
            "split deep guards or set expressions into named sets and simpler rules")]
    except VisitError as err:  # pragma: no cover - a transformer bug, reported not raised
        raise PolicycError([Diagnostic(code="POL001", severity=Severity.error, fatal=True,
                                       message=f"internal error while reading `{path}`: "
                                               f"{err.orig_exc}")]) from err
    return _module(path, policy, list(_COMMENT_SINK), transformer), transformer.diagnostics


def _module(path: str, policy: ast.Policy, comments: list[Token], transformer: ToAst
            ) -> ast.Module:
    return ast.Module(
        path=path, policy=policy,
        comments=tuple(ast.Comment(text=str(c).rstrip(), span=transformer._span(c))
                       for c in comments))


def read_source(path: Path | str, display: str | None = None) -> tuple[str | None,
                                                                        list[Diagnostic]]:
    """A policy file's text (a leading byte order mark removed), or why it cannot be read:
    POL002 (unreadable, not UTF-8) or POL004 (over the size limit, checked before reading)."""
    p = Path(path)
    shown = display or str(path)
    try:
        size = p.stat().st_size
        if size > limits.MAX_FILE:
            return None, [limits.file_too_large(shown, size, "bytes")]
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        return None, [Diagnostic(code="POL002", severity=Severity.error, fatal=True,
                                 message=f"cannot read `{shown}`: {reason}",
                                 span=ast.Span(shown, 1, 1, 1, 1),
                                 help="check the path and that the file is UTF-8 text")]
    return text.removeprefix(BOM), []


def parse_file(path: Path | str, display: str | None = None) -> tuple[ast.Module | None,
                                                                       list[Diagnostic]]:
    """Read and parse a file; an unreadable file is a POL002 diagnostic."""
    shown = display or str(path)
    text, problems = read_source(path, shown)
    if text is None:
        return None, problems
    return parse_text(text, shown)


def source_line(text: str, line: int) -> str:
    return _source_line(text, line)
