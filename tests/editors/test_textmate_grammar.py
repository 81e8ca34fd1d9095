"""The TextMate grammar of `.pol` (editors/vscode/syntaxes/pol.tmLanguage.json).

The oracle is the real lexer: every token lark's contextual lexer reads from each example
and stdlib policy becomes an expected scope (keywords, actions, strategies, strings,
numbers, comments, category paths, operators, punctuation), and VS Code's own TextMate
engine (`vscode-textmate` + `vscode-oniguruma` from npm, pinned by
editors/vscode/test/package-lock.json) must scope it so. A few files also have golden
token streams in tests/golden/editors/, compared here (`helpers.golden`: `pytest
--update-golden` rewrites them; a missing one fails). node and npm are required: `.ci/run`
installs them when missing, and this test fails, never skips, without them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import pytest
from helpers.golden import check_golden
from lark import Lark, Token

from policyc.syntax.parse import grammar_path, parse_text

ROOT = Path(__file__).resolve().parents[2]
GRAMMAR = ROOT / "editors" / "vscode" / "syntaxes" / "pol.tmLanguage.json"
NODE_TEST = ROOT / "editors" / "vscode" / "test"
GOLDEN = ROOT / "tests" / "golden" / "editors"
FIXTURE = ROOT / "tests" / "fixtures" / "editors" / "all_syntax.pol"
#: node_modules, one folder per package-lock.json content (git ignores `.cache/`)
NODE_CACHE = ROOT / ".cache" / "editors-node"

POLICIES = sorted([*ROOT.glob("examples/**/*.pol"), *ROOT.glob("stdlib_policies/**/*.pol")])
GOLDEN_FILES = {
    "acme_chat": ROOT / "examples" / "acme" / "chat.pol",
    "diff_v2": ROOT / "examples" / "diff" / "v2.pol",
    "stdlib_pii": ROOT / "stdlib_policies" / "pii.pol",
    "all_syntax": FIXTURE,
}

ACTIONS = {"allow", "warn", "redact", "redirect", "refuse", "escalate", "disallow"}
STRATEGIES = {"most-restrictive", "least-restrictive", "first-match", "most-specific", "unique"}
#: the scope classes a keyword may take (anything else, e.g. `variable.`, is a miss)
KEYWORD_SCOPE = r"^(keyword|storage|support\.function|constant\.language)\."
PUNCTUATION = {
    "LBRACE": r"^punctuation\.section\.braces\.begin\.", "RBRACE": r"^punctuation\.section\.braces\.end\.",
    "LPAR": r"^punctuation\.section\.parens\.begin\.", "RPAR": r"^punctuation\.section\.parens\.end\.",
    "COMMA": r"^punctuation\.separator\.comma\.", "COLON": r"^punctuation\.separator\.colon\.",
    "EQUAL": r"^keyword\.operator\.assignment\.", "CMP": r"^keyword\.operator\.comparison\.",
    "VBAR": r"^keyword\.operator\.set\.", "AMPERSAND": r"^keyword\.operator\.set\.",
    "MINUS": r"^keyword\.operator\.set\.",
    "STRING": r"^string\.", "NUMBER": r"^constant\.numeric\.", "COMMENT": r"^comment\.line\.",
}
NAME_SCOPE = r"^(variable|entity|support\.function\.validator)\."
RULE_NAME_AFTER = {"RULE", "OVERRIDE", "DROP", "BY"}


@lru_cache(maxsize=1)
def _lark() -> Lark:
    return Lark(grammar_path().read_text(encoding="utf-8"), parser="lalr", lexer="contextual",
                lexer_callbacks={"COMMENT": _COMMENTS.append})


_COMMENTS: list[Token] = []


@lru_cache(maxsize=1)
def grammar_keywords() -> frozenset[str]:
    """Every keyword terminal of grammar/policy.lark: string literals that are words."""
    lark = _lark()
    return frozenset(t.pattern.value for t in lark.terminals
                     if t.pattern.type == "str" and re.fullmatch(r"[a-z_]+(?:-[a-z]+)*", t.pattern.value))


def keyword_scope(word: str, after: str | None = None) -> str:
    """The scope regex a keyword must match in the TextMate grammar."""
    if word in ACTIONS:
        return rf"^keyword\.other\.action\.{word}\."
    if word in STRATEGIES or (word == "priority" and after == "RESOLVE"):
        return r"^constant\.language\.strategy\."
    if word in ("true", "false"):
        return r"^constant\.language\.boolean\."
    if word == "when":
        return r"^keyword\.control\."
    if word in ("and", "or", "not"):
        return r"^keyword\.operator\.logical\."
    if word in ("any", "all", "none"):
        return r"^keyword\.operator\.quantifier\."
    if word == "in":
        return r"^keyword\.operator\.word\."
    return KEYWORD_SCOPE


def _utf16(line: str, column: int) -> int:
    """A 1-based column in code points as a 0-based UTF-16 offset (JavaScript strings)."""
    return len(line[: column - 1].encode("utf-16-le")) // 2


def expectations(text: str) -> list[list[object]]:
    """[line, start, end, scope regex, what] for every token the real lexer reads."""
    lark = _lark()
    _COMMENTS.clear()
    tokens = list(lark.parse_interactive(text).iter_parse())
    tokens = sorted([*tokens, *_COMMENTS], key=lambda t: t.start_pos or 0)
    lines = text.split("\n")
    keywords = grammar_keywords()
    out: list[list[object]] = []

    def add(tok: Token, pattern: str, what: str) -> None:
        line = lines[tok.line - 1]
        start = _utf16(line, tok.column)
        end = start + len(str(tok).encode("utf-16-le")) // 2
        out.append([tok.line, start, end, pattern, what])

    code = [t for t in tokens if t.type != "COMMENT"]
    roles = _name_roles(code)
    category_depth = 0  # > 0 inside `categories { ... }`
    prev: Token | None = None
    for tok in tokens:
        kind, value = tok.type, str(tok)
        if kind == "COMMENT":
            add(tok, PUNCTUATION["COMMENT"], "comment")
            continue
        if category_depth and kind in ("LBRACE", "RBRACE"):
            category_depth += 1 if kind == "LBRACE" else -1
        elif prev is not None and prev.type == "CATEGORIES" and kind == "LBRACE":
            category_depth = 1
        if kind in ("NAME", "DOT"):
            role = "category declaration" if category_depth else roles[id(tok)]
            add(tok, NAME_ROLES[role], role if role != "name" else f"name `{value}`")
        elif kind in PUNCTUATION:
            add(tok, PUNCTUATION[kind], kind.lower())
        elif value in keywords:
            add(tok, keyword_scope(value, prev.type if prev is not None else None),
                f"keyword `{value}`")
        else:  # pragma: no cover - a terminal this test does not know yet
            raise AssertionError(f"unexpected terminal {kind} {value!r}")
        prev = tok
    return out


NAME_ROLES = {
    "category declaration": r"^entity\.name\.type\.category\.",
    "policy name": r"^entity\.name\.type\.policy\.",
    "parent policy": r"^entity\.other\.inherited-class\.",
    "category path": r"^variable\.other\.category\.",
    "rule name": r"^entity\.name\.function\.rule\.",
    "name": NAME_SCOPE,
}


def _name_roles(code: list[Token]) -> dict[int, str]:
    """The role of every NAME and DOT token, by the dotted name it belongs to (`a.b.c` is one
    run) and what stands before the run: `policy`, an `extends` list, `rule`, ..."""
    roles: dict[int, str] = {}
    in_extends = False
    i = 0
    while i < len(code):
        tok = code[i]
        if tok.type == "EXTENDS":
            in_extends = True
        elif in_extends and tok.type not in ("NAME", "DOT", "COMMA", "NARROWING"):
            in_extends = False
        if tok.type != "NAME":
            i += 1
            continue
        j = i + 1
        while j + 1 < len(code) and code[j].type == "DOT" and code[j + 1].type == "NAME":
            j += 2
        before = code[i - 1].type if i > 0 else None
        if before == "POLICY":
            role = "policy name"
        elif in_extends:
            role = "parent policy"
        elif j - i > 1:
            role = "category path"
        elif before in RULE_NAME_AFTER:
            role = "rule name"
        else:
            role = "name"
        for t in code[i:j]:
            roles[id(t)] = role
        i = j
    return roles


# ---- node and the npm packages ------------------------------------------------------------


def _node_modules() -> Path:
    """`npm ci` into a cache folder keyed by the lock file; reused while the lock is unchanged."""
    for tool in ("node", "npm"):
        assert shutil.which(tool), (
            f"`{tool}` not found: this test needs node and npm (`.ci/run` installs them; "
            "or `apt-get install nodejs npm`)")
    lock = (NODE_TEST / "package-lock.json").read_bytes()
    folder = NODE_CACHE / hashlib.sha256(lock).hexdigest()[:16]
    if not (folder / "node_modules" / ".package-lock.json").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(NODE_TEST / name, folder / name)
        proc = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
                              cwd=folder, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"npm ci failed:\n{proc.stdout}\n{proc.stderr}"
    return folder / "node_modules"


def _run_node(spec: dict[str, object], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    env = {**os.environ, "NODE_PATH": str(_node_modules())}
    args = ["node", str(NODE_TEST / "tokenize.js"), str(spec_file)]
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)


def _spec(files: list[dict[str, object]]) -> dict[str, object]:
    return {"grammar": str(GRAMMAR), "files": files}


def _entry(path: Path, tokens_out: Path | None = None) -> dict[str, object]:
    """One file for tokenize.js; it writes the token stream to `tokens_out` when given."""
    text = path.read_text(encoding="utf-8")
    return {"path": str(path), "display": path.relative_to(ROOT).as_posix(),
            "tokens_out": str(tokens_out) if tokens_out else None,
            "expect": expectations(text)}


# ---- tests --------------------------------------------------------------------------------


def test_fixture_parses() -> None:
    """The all-constructs fixture is real `.pol` (syntax only: its names are not declared)."""
    _module, diagnostics = parse_text(FIXTURE.read_text(encoding="utf-8"), str(FIXTURE))
    assert diagnostics == []


def test_every_lark_keyword_is_a_textmate_keyword() -> None:
    """The keyword lists of the TextMate grammar are exactly the keyword terminals of lark."""
    grammar = json.loads(GRAMMAR.read_text(encoding="utf-8"))
    repo = grammar["repository"]
    patterns = [repo["action"]["match"], repo["strategy"]["match"],
                *(p["match"] for p in repo["keywords"]["patterns"])]
    listed: set[str] = set()
    for pattern in patterns:
        listed |= set(re.findall(r"[a-z][a-z_]*(?:-[a-z]+)*",
                                 re.sub(r"\\b|\(\?[:!]-?|\)", " ", pattern)))
    keywords = grammar_keywords()
    assert len(keywords) > 50
    assert keywords - listed == set(), "keywords of policy.lark missing from the TextMate grammar"
    assert listed - keywords == set(), "TextMate keywords that policy.lark does not have"
    for word in keywords:  # and each is matched whole by one of the patterns
        assert any(re.fullmatch(p, word) for p in patterns), word


def test_textmate_tokens(tmp_path: Path, update_golden: bool) -> None:
    """Every example and stdlib policy, plus one line per keyword, through vscode-textmate."""
    goldens = {path: name for name, path in GOLDEN_FILES.items()}
    out = tmp_path / "tokens"
    files = [_entry(p, out / f"{goldens[p]}.tokens" if p in goldens else None)
             for p in [*POLICIES, FIXTURE]]
    probe = tmp_path / "keywords.pol"
    words = sorted(grammar_keywords())
    probe.write_text("".join(f"{w}\n" for w in words), encoding="utf-8")
    files.append({"path": str(probe), "display": "<one line per keyword>", "tokens_out": None,
                  "expect": [[i + 1, 0, len(w), keyword_scope(w), f"keyword `{w}`"]
                             for i, w in enumerate(words)]})
    assert len(POLICIES) >= 19
    proc = _run_node(_spec(files), tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "expected scopes checked: ok" in proc.stdout
    for name in sorted(GOLDEN_FILES):
        actual = (out / f"{name}.tokens").read_text(encoding="utf-8")
        check_golden(GOLDEN / f"{name}.tokens", actual, update_golden)


def test_missing_golden_fails(tmp_path: Path) -> None:
    """A token stream without its golden file fails (it is not created)."""
    stream = tmp_path / "v1.tokens"
    proc = _run_node(_spec([_entry(ROOT / "examples" / "diff" / "v1.pol", stream)]), tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert stream.read_text(encoding="utf-8").startswith("# TextMate tokens of examples/diff/v1.pol")
    with pytest.raises(pytest.fail.Exception, match="--update-golden"):
        check_golden(tmp_path / "nope.tokens", stream.read_text(encoding="utf-8"), update=False)
    assert not (tmp_path / "nope.tokens").exists()


def test_wrong_scope_fails(tmp_path: Path) -> None:
    """The checker is not vacuous: a grammar without the action rule fails on `refuse`."""
    grammar = json.loads(GRAMMAR.read_text(encoding="utf-8"))
    grammar["repository"]["statements"]["patterns"] = [
        p for p in grammar["repository"]["statements"]["patterns"] if p["include"] != "#action"]
    broken = tmp_path / "broken.tmLanguage.json"
    broken.write_text(json.dumps(grammar), encoding="utf-8")
    spec = {"grammar": str(broken), "files": [_entry(ROOT / "examples" / "diff" / "v1.pol")]}
    proc = _run_node(spec, tmp_path)
    assert proc.returncode == 1
    assert "keyword `refuse`" in proc.stderr and "examples/diff/v1.pol:11:" in proc.stderr


@pytest.mark.parametrize("name", sorted(GOLDEN_FILES))
def test_golden_token_files_exist(name: str) -> None:
    assert (GOLDEN / f"{name}.tokens").is_file(), (
        "run pytest tests/editors/test_textmate_grammar.py --update-golden")
