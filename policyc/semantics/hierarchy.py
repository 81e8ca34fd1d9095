"""The policy hierarchy as a DAG: parents found, cycles reported with their path.

The edges live in a plain map; networkx (a fifth of the front end's import time) is loaded
only when there is an edge to look for cycles on, so a lone policy never pays for it.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from policyc.diagnostics import Related, diagnostic
from policyc.semantics.loader import Workspace
from policyc.syntax import ast
from policyc.syntax.limits import MAX_EXTENDS, limit_error

if TYPE_CHECKING:
    import networkx as nx


class Hierarchy:
    """Child → parent edges with the `extends` span, in the order they were found."""

    def __init__(self) -> None:
        self.nodes: dict[str, None] = {}
        self.edges: dict[tuple[str, str], ast.Span | None] = {}

    def add_node(self, name: str) -> None:
        self.nodes.setdefault(name)

    def add_edge(self, child: str, parent: str, span: ast.Span | None) -> None:
        self.add_node(child)
        self.add_node(parent)
        self.edges[child, parent] = span

    def has_edge(self, child: str, parent: str) -> bool:
        return (child, parent) in self.edges

    def to_networkx(self) -> nx.DiGraph:
        """The same graph (same node and edge order) for networkx's algorithms."""
        import networkx as nx

        graph: nx.DiGraph = nx.DiGraph()
        graph.add_nodes_from(self.nodes)
        for (child, parent), span in self.edges.items():
            graph.add_edge(child, parent, span=span)
        return graph


def parents_of(module: ast.Module) -> list[ast.ParentRef]:
    return [p for item in module.policy.items if isinstance(item, ast.Extends)
            for p in item.parents]


def build_graph(ws: Workspace, roots: list[ast.Module]) -> Hierarchy:
    """Edges child → parent, loading parents on demand; unknown parents become POL102."""
    graph = Hierarchy()
    todo = list(roots)
    done: set[str] = set()
    while todo:
        module = todo.pop()
        name = module.policy.name
        if name in done:
            continue
        done.add(name)
        graph.add_node(name)
        for ref in parents_of(module):
            parent = ws.find_parent(ref.name, module)
            if parent is None:
                known = sorted((set(ws.modules) | ws.names_near(module)) - {name})
                guess = difflib.get_close_matches(ref.name, known, n=1)
                hint = f"did you mean `{guess[0]}`?" if guess else (
                    "put the parent's file next to this one, pass its folder with `--path`, "
                    "or use a `std.*` policy")
                ws.diagnostics.append(diagnostic(
                    code="POL102", fatal=True,
                    message=f"unknown parent policy `{ref.name}`", span=ref.span, help=hint))
                continue
            graph.add_edge(name, parent.policy.name, ref.span)
            todo.append(parent)
    return graph


def report_cycles(ws: Workspace, hierarchy: Hierarchy) -> set[str]:
    """One POL103 per cycle, with the path `a → b → a`; returns the policies on cycles."""
    on_cycle: set[str] = set()
    if not hierarchy.edges:
        return on_cycle
    import networkx as nx

    graph = hierarchy.to_networkx()
    for component in nx.strongly_connected_components(graph):
        if len(component) == 1:
            node = next(iter(component))
            if not graph.has_edge(node, node):
                continue
        start = min(component)
        cycle = nx.find_cycle(graph.subgraph(component), source=start)
        path = " → ".join([cycle[0][0], *(v for _, v in cycle)])
        first_edge = graph.edges[cycle[0][0], cycle[0][1]]
        related = [Related(message=f"`{u}` extends `{v}` here", span=graph.edges[u, v]["span"])
                   for u, v in cycle[1:]]
        ws.diagnostics.append(diagnostic(
            code="POL103", fatal=True,
            message=f"policy hierarchy has a cycle: {path}", span=first_edge.get("span"),
            related=related, help="`extends` must form a DAG: remove one of these edges"))
        on_cycle |= component
    return on_cycle


def report_too_deep(ws: Workspace, hierarchy: Hierarchy, skip: set[str]) -> set[str]:
    """POL004 where a chain of `extends` grows past `MAX_EXTENDS` levels; returns the
    policies with more levels above them, which are not flattened (flattening and the
    passes after it recurse once per level). Iterative, so any depth is measured safely;
    policies in `skip` (on a cycle) count as having no parents."""
    parents: dict[str, list[str]] = {}
    for child, parent in hierarchy.edges:
        if child not in skip and parent not in skip:
            parents.setdefault(child, []).append(parent)
    height: dict[str, int] = {}  # levels of `extends` above a policy
    for start in hierarchy.nodes:
        stack = [start]
        while stack:
            node = stack[-1]
            if node in height:
                stack.pop()
                continue
            todo = [p for p in parents.get(node, ()) if p not in height]
            if todo:
                stack.extend(todo)
                continue
            stack.pop()
            height[node] = 1 + max((height[p] for p in parents.get(node, ())), default=-1)
    too_deep = {name for name, h in height.items() if h > MAX_EXTENDS}
    for name in sorted(too_deep):
        if height[name] != MAX_EXTENDS + 1:
            continue  # reported once, where the chain first passes the limit
        top = max(parents[name], key=height.__getitem__)
        ws.diagnostics.append(limit_error(
            hierarchy.edges[name, top],
            f"policy hierarchy is nested too deeply: `{name}` has more than {MAX_EXTENDS} "
            f"levels of `extends` above it",
            "flatten the hierarchy: extend fewer, broader parents"))
    return too_deep


def linearize(graph: Hierarchy, ws: Workspace, name: str) -> list[str]:
    """Flattened policy order (LANGUAGE.md §5): self, then parents in `extends` order,
    depth first; a policy reached twice counts once, where first reached."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(n: str) -> None:
        if n in seen:
            return
        seen.add(n)
        order.append(n)
        module = ws.modules.get(n)
        if module is None:
            return
        for ref in parents_of(module):
            if graph.has_edge(n, ref.name):
                visit(ref.name)

    visit(name)
    return order
