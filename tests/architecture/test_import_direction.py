"""The one-way diagram of docs/architecture.md, enforced.

Every `import` of a policyc module inside `policyc/` is read from the source (an AST walk,
nothing is imported) and checked against the layers below: a module may import its own
package and lower layers, never a higher one or a sibling of its layer. The module graph
has no cycle, and no module imports another module's private (`_name`) names.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "policyc"

#: Lowest first. A module may import modules of its own room and of earlier layers only;
#: rooms within one layer are siblings and never import each other.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("__init__",),  # the package's `__version__`: nothing else
    ("runtime",),
    ("diagnostics",),
    ("syntax",),
    ("semantics",),
    ("lint", "compile", "diff"),
    ("render", "evaluate", "testing", "lsp", "serve"),
    ("commands",),
    ("cli",),
    ("__main__",),
)

#: Rooms that import nothing of policyc but their own modules (and `__version__`).
SEALED = {"runtime"}


def room_of(module: str) -> str:
    """`policyc.semantics.regions.space` → `semantics`; `policyc.cli` → `cli`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def layer_of(room: str) -> int:
    for i, rooms in enumerate(LAYERS):
        if room in rooms:
            return i
    raise AssertionError(f"room `{room}` is in no layer of the diagram: add it to LAYERS and "
                         "to docs/architecture.md")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every policyc import in `path`."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: list[tuple[str, list[str], int]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target == "policyc" or target.startswith("policyc."):
                found.append((target, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names
                      if a.name == "policyc" or a.name.startswith("policyc.")]
    return found


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def resolve(target: str, names: list[str], modules: dict[str, Path]) -> list[str]:
    """The modules an import statement reaches (`from policyc.x import y` may name module y)."""
    reached = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules]
    return reached or [target]


def edges() -> list[tuple[str, str, int]]:
    modules = all_modules()
    out: list[tuple[str, str, int]] = []
    for name, path in modules.items():
        for target, names, line in imports(path):
            out += [(name, reached, line) for reached in resolve(target, names, modules)]
    return out


def test_every_import_follows_the_diagram() -> None:
    wrong = []
    for source, target, line in edges():
        a, b = room_of(source), room_of(target)
        if a == b:
            continue
        if (a in SEALED and b != "__init__") or layer_of(b) >= layer_of(a):
            wrong.append(f"{source}:{line} imports {target} ({a} → {b})")
    assert not wrong, "imports against the one-way diagram:\n" + "\n".join(wrong)


def test_no_module_cycles() -> None:
    graph = nx.DiGraph()
    graph.add_edges_from((s, t) for s, t, _ in edges() if s != t and not
                         t == s.rpartition(".")[0])  # a module may use its package's API
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, "module cycles:\n" + "\n".join(" → ".join(c) for c in cycles[:20])


def test_no_private_names_across_modules() -> None:
    wrong = []
    modules = all_modules()
    for name, path in modules.items():
        for target, names, line in imports(path):
            if target == name:
                continue
            wrong += [f"{name}:{line} imports `{n}` from {target}" for n in names
                      if n.startswith("_") and not n.startswith("__")]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(("source", "target", "allowed"), [
    ("policyc.runtime.checker", "policyc.syntax.ast", False),
    ("policyc.semantics.flatten", "policyc.lint.runner", False),
    ("policyc.diff.semantic", "policyc.compile.pipeline", False),
    ("policyc.lint.rules.x", "policyc.diff.report", False),
    ("policyc.commands.check", "policyc.runtime.checker", True),
    ("policyc.semantics.flatten", "policyc.runtime.detector_specs", True),
])
def test_the_rule_itself(source: str, target: str, allowed: bool) -> None:
    """The check above can fail: known-bad edges are refused, known-good ones accepted."""
    a, b = room_of(source), room_of(target)
    ok = a == b or ((a not in SEALED or b == "__init__") and layer_of(b) < layer_of(a))
    assert ok is allowed
