"""Settings a child inherits (LANGUAGE.md §5): the first parent that has one supplies it,
whether that parent declared it or inherited it itself."""

from __future__ import annotations

from pathlib import Path

from policyc.semantics.model import Decision
from policyc.semantics.program import load_program

SCHEMA = "  categories { c }\n"


def write(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.pol"
    path.write_text(f'policy {name} version "1" {{\n  owner "o"\n{body}}}\n', encoding="utf-8")
    return path


def test_resolve_default_and_on_error_pass_down_a_chain(tmp_path: Path) -> None:
    write(tmp_path, "t.grand", SCHEMA + "  resolve least-restrictive\n  default warn(\"g\")\n"
                               "  on_error redirect(\"g\")\n  rule g0: refuse when c\n")
    write(tmp_path, "t.parent", "  extends t.grand\n  rule p0: allow when c\n")
    child = write(tmp_path, "t.child", "  extends t.parent\n")
    program = load_program([child])
    assert not program.fatal, program.diagnostics
    flat = program.policies["t.child"]
    assert flat.strategy == "least-restrictive"
    assert flat.default == Decision("warn", "g")
    assert flat.on_error == Decision("redirect", "g")
    assert flat.resolve_decl is not None
    assert flat.resolve_decl.inherited  # inherited, not declared (POL201 reads this)
    assert flat.resolve_decl.span is not None


def test_the_first_parent_that_has_one_wins(tmp_path: Path) -> None:
    write(tmp_path, "t.grand", SCHEMA + "  resolve unique\n")
    write(tmp_path, "t.a", "  extends t.grand\n")
    write(tmp_path, "t.b", SCHEMA + "  resolve first-match\n  on_error allow\n")
    child = write(tmp_path, "t.child", "  extends t.a, t.b\n  default allow\n")
    flat = load_program([child]).policies["t.child"]
    assert flat.strategy == "unique"  # t.a has it (from t.grand), and comes first
    assert flat.on_error == Decision("allow")  # only t.b has one


def test_the_child_s_own_setting_replaces_the_parents(tmp_path: Path) -> None:
    write(tmp_path, "t.parent", SCHEMA + "  resolve unique\n  on_error warn\n")
    child = write(tmp_path, "t.child", "  extends t.parent\n  resolve priority\n"
                                       "  default allow\n")
    flat = load_program([child]).policies["t.child"]
    assert flat.strategy == "priority" and not (flat.resolve_decl and flat.resolve_decl.inherited)
    assert flat.on_error == Decision("warn")
