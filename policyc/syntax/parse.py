"""Text → AST. Syntax errors become located diagnostics with a hint, never tracebacks."""

from __future__ import annotations

import gc
from collections.abc import Callable
from functools import lru_cache
from importlib import resources
from pathlib import Path

from lark import Lark, Token
from lark.exceptions import UnexpectedInput, VisitError

from policyc.diagnostics import Diagnostic, PolicycError, Span, diagnostic
from policyc.syntax import ast, limits
from policyc.syntax.bidi import bidi_controls
from policyc.syntax.errors import syntax_diagnostic
from policyc.syntax.fast_parse import FastParser, Miss
from policyc.syntax.transform import ToAst


def data_dir(packaged: str, checkout: str) -> Path:
    """A data folder shipped in the wheel (`policyc/<packaged>`) or, in a checkout, at the top."""
    in_wheel = Path(str(resources.files("policyc"))) / packaged
    if in_wheel.is_dir():
        return in_wheel
    return Path(__file__).resolve().parents[2] / checkout


def grammar_path() -> Path:
    return data_dir("_grammar", "grammar") / "policy.lark"


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


BOM = "\ufeff"

Parsed = tuple[ast.Module | None, list[Diagnostic]]


def parse_text(text: str, path: str = "<string>") -> tuple[ast.Module | None, list[Diagnostic]]:
    """Parse one file's text. Returns the module (None on a syntax error) and diagnostics.

    A leading byte order mark is skipped. Text over a limit (`limits.py`: file size, nesting
    depth) gives a POL004 error and no module, so no later pass sees it."""
    return _within_limits(text, path, _parse)


def _within_limits(text: str, path: str, parse: Callable[[str, str], Parsed]) -> Parsed:
    text = text.removeprefix(BOM)
    if len(text) > limits.MAX_FILE:
        return None, [limits.file_too_large(path, len(text))]
    module, diagnostics = parse(text, path)
    if module is not None:
        deep = limits.check_nesting(module.policy)
        if deep:
            return None, [*diagnostics, *deep]
        bidi = bidi_controls(text, path)  # parsed: so each one is in a string or comment
        if bidi:
            return None, [*diagnostics, *bidi]
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
    return _within_limits(text, path, _parse_with_lark)


def _parse_with_lark(text: str, path: str) -> Parsed:
    lark = parser()
    del _COMMENT_SINK[:]
    transformer = ToAst(path)
    try:
        policy = transformer.transform(lark.parse(text))
    except UnexpectedInput as err:
        return None, [syntax_diagnostic(err, text, path, lark)]
    except RecursionError:  # lark's tree walk is recursive; the fast path never gets here
        return None, [limits.limit_error(
            Span(path, 1, 1, 1, 1),
            f"`{path}` is nested too deeply to read (the limit is {limits.MAX_NESTING} levels)",
            "split deep guards or set expressions into named sets and simpler rules")]
    except VisitError as err:  # pragma: no cover - a transformer bug, reported not raised
        raise PolicycError([diagnostic(code="POL001", fatal=True,
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
    POL002 (unreadable, not UTF-8) or POL004 (over the size limit, checked before reading).

    A file that is not UTF-8 gives both: the POL002, located at the first bad byte, and
    the text decoded with U+FFFD in place of bad bytes, only for showing that line (the
    caller must not parse it)."""
    p = Path(path)
    shown = display or str(path)
    try:
        size = p.stat().st_size
        if size > limits.MAX_FILE:
            return None, [limits.file_too_large(shown, size, "bytes")]
        raw = p.read_bytes()
    except OSError as err:
        return None, [diagnostic(code="POL002", fatal=True,
                                 message=f"cannot read `{shown}`: {err.strerror or err}",
                                 span=Span(shown, 1, 1, 1, 1),
                                 help="check the path and that the file is UTF-8 text")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return _newlines(raw.decode("utf-8", errors="replace")).removeprefix(BOM), [
            _not_utf8(raw, err, shown)]
    return _newlines(text).removeprefix(BOM), []


def _newlines(text: str) -> str:
    """Universal newlines, as text-mode reading gives them (CRLF and lone CR become LF)."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _not_utf8(raw: bytes, err: UnicodeDecodeError, shown: str) -> Diagnostic:
    """POL002 at the first byte that is not UTF-8 (line and column as the editor shows);
    a zip archive (a compiled bundle, most often) is named as such, at 1:1."""
    if raw.startswith(b"PK\x03\x04"):
        return diagnostic(code="POL002", fatal=True,
                          message=f"cannot read `{shown}`: it is a zip archive (a compiled "
                                  f"bundle?), not policy source",
                          span=Span(shown, 1, 1, 1, 3),
                          help="give the `.pol` file here; `check`, `serve`, `replay`, `eval` "
                               "and `diff` take bundles, `lint`, `test` and `fmt` take source")
    before = _newlines(raw[:err.start].decode("utf-8")).removeprefix(BOM)
    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    bad = f"{raw[err.start]:02x}"
    return diagnostic(code="POL002", fatal=True,
                      message=f"cannot read `{shown}`: it is not UTF-8 text (byte 0x{bad} "
                              f"cannot be decoded)",
                      span=Span(shown, line, column, line, column + 1),
                      help="save the file as UTF-8 (policy files are UTF-8 text)")


def parse_file(path: Path | str, display: str | None = None) -> tuple[ast.Module | None,
                                                                       list[Diagnostic]]:
    """Read and parse a file; an unreadable file is a POL002 diagnostic."""
    shown = display or str(path)
    text, problems = read_source(path, shown)
    if text is None or problems:
        return None, problems
    return parse_text(text, shown)


def source_line(text: str, line: int) -> str:
    return _source_line(text, line)
