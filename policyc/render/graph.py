"""The graphs `policyc graph` prints: the hierarchy (extends edges) and the rule overlaps.

Rule overlap edges join rules of one policy that read a common variable, can
match the same event, and decide differently: exactly the pairs a reviewer
reads together. Built with networkx; rendered as mermaid, dot, or svg (via dot).
"""

from __future__ import annotations

import shutil
import subprocess

import networkx as nx

from policyc.semantics.formula import variables
from policyc.semantics.program import Program
from policyc.semantics.regions.boxes import box_and
from policyc.semantics.regions.decision_map import DecisionMap


def build(program: Program) -> tuple[nx.DiGraph, dict[str, nx.Graph]]:
    hierarchy: nx.DiGraph = nx.DiGraph()
    overlaps: dict[str, nx.Graph] = {}
    for flat in program.policies.values():
        for name, policy in [(flat.name, flat), *flat.ancestors.items()]:
            hierarchy.add_node(name)
            for ref in policy.parents:
                hierarchy.add_edge(name, ref.name, narrowing=ref.narrowing)
        dm = DecisionMap(flat)
        g: nx.Graph = nx.Graph()
        vs = [variables(r.formula) for r in flat.rules]
        for i, r in enumerate(flat.rules):
            g.add_node(r.id, decision=str(r.decision), locked=r.locked)
            for j in range(i):
                s = flat.rules[j]
                if r.decision == s.decision or not vs[i] & vs[j]:
                    continue
                if any(box_and(a, b) is not None for a in dm.boxes[i] for b in dm.boxes[j]):
                    g.add_edge(s.id, r.id)
        overlaps[flat.name] = g
    return hierarchy, overlaps


def _id(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)


def to_mermaid(hierarchy: nx.DiGraph, overlaps: dict[str, nx.Graph]) -> str:
    lines = ["graph TD"]
    for u, v, data in sorted(hierarchy.edges(data=True)):
        label = "|narrowing|" if data.get("narrowing") else ""
        lines.append(f'  {_id(u)}["{u}"] -->{label} {_id(v)}["{v}"]')
    for n in sorted(hierarchy.nodes):
        if hierarchy.degree(n) == 0:
            lines.append(f'  {_id(n)}["{n}"]')
    for policy, g in sorted(overlaps.items()):
        lines.append(f'  subgraph {_id(policy)}_rules["{policy}: overlapping rules"]')
        for n, data in g.nodes(data=True):
            lock = "🔒 " if data["locked"] else ""
            decision = data["decision"].replace('"', "#quot;")
            lines.append(f'    {_id(policy)}__{_id(n)}["{lock}{n}: {decision}"]')
        for u, v in sorted(g.edges):
            lines.append(f"    {_id(policy)}__{_id(u)} --- {_id(policy)}__{_id(v)}")
        lines.append("  end")
    return "\n".join(lines) + "\n"


def to_dot(hierarchy: nx.DiGraph, overlaps: dict[str, nx.Graph]) -> str:
    lines = ["digraph policyc {", "  rankdir=BT;"]
    for n in sorted(hierarchy.nodes):
        lines.append(f'  "{n}" [shape=box];')
    for u, v, data in sorted(hierarchy.edges(data=True)):
        style = ' [label="narrowing"]' if data.get("narrowing") else ""
        lines.append(f'  "{u}" -> "{v}"{style};')
    for policy, g in sorted(overlaps.items()):
        lines.append(f'  subgraph "cluster_{policy}" {{')
        lines.append(f'    label="{policy}: overlapping rules";')
        for n, data in g.nodes(data=True):
            label = f'{n}\\n{data["decision"]}'.replace('"', '\\"')
            shape = "octagon" if data["locked"] else "ellipse"
            lines.append(f'    "{policy}::{n}" [label="{label}", shape={shape}];')
        for u, v in sorted(g.edges):
            lines.append(f'    "{policy}::{u}" -> "{policy}::{v}" [dir=none];')
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_graph(program: Program, fmt: str) -> str:
    hierarchy, overlaps = build(program)
    if fmt == "mermaid":
        return to_mermaid(hierarchy, overlaps)
    dot = to_dot(hierarchy, overlaps)
    if fmt == "dot":
        return dot
    exe = shutil.which("dot")
    if exe is None:
        raise RuntimeError("`--format svg` needs Graphviz's `dot` program on PATH")
    return subprocess.run([exe, "-Tsvg"], input=dot, capture_output=True, text=True,
                          check=True).stdout
