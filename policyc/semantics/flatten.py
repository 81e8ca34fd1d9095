"""Flattening (LANGUAGE.md §5): merge a policy with its ancestors into one `FlatPolicy`.

Parents are flattened first (memoized); the child's declarations are merged on top
(`inherit.py`), and every rule's guard is resolved in the merged scope (`resolve.py`:
a child's thresholds also bind its parents' rules). The stages around it are named in
`program.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from policyc.diagnostics import Diagnostic
from policyc.semantics.hierarchy import (
    Hierarchy,
    build_graph,
    linearize,
    parents_of,
    report_cycles,
    report_too_deep,
)
from policyc.semantics.inherit import (
    check_clashes,
    merge_categories,
    merge_classifiers,
    merge_contexts,
    merge_derived,
    merge_detectors,
    merge_rules,
    merge_sets,
    merge_thresholds,
)
from policyc.semantics.loader import Workspace
from policyc.semantics.model import Decision, Declared, FlatPolicy, RuleSource
from policyc.semantics.once import check_once
from policyc.semantics.resolve import (
    Report,
    Scope,
    floor_thresholds,
    inherited_floors,
    resolve_rule,
)
from policyc.syntax import ast


class Flattener:
    def __init__(self, ws: Workspace):
        self.ws = ws
        self.graph = Hierarchy()
        self.on_cycle: set[str] = set()  # not flattened: on a cycle, or too deep
        self._flat: dict[str, FlatPolicy | None] = {}
        self._incomplete = False  # flattening a policy whose parents are not all known
        self._sources: dict[str, list[RuleSource]] = {}
        #: every policy flattened, parents first, and whether all its parents were known
        self.done: list[tuple[FlatPolicy, bool]] = []

    def report(self, d: Diagnostic) -> None:
        self.reporter(not self._incomplete)(d)

    def reporter(self, complete: bool) -> Report:
        """Where a policy's diagnostics go: with a parent missing, names it would declare
        are unknown, and one error (POL102) explains them all, so name-level follow-ups
        are not reported."""
        if complete:
            return self.ws.diagnostics.append
        return self._report_incomplete

    def _report_incomplete(self, d: Diagnostic) -> None:
        if d.code not in ("POL101", "POL105", "POL107", "POL108"):
            self.ws.diagnostics.append(d)

    def prepare(self, roots: list[ast.Module]) -> None:
        self.graph = build_graph(self.ws, roots)
        self.on_cycle = report_cycles(self.ws, self.graph)
        self.on_cycle |= report_too_deep(self.ws, self.graph, self.on_cycle)

    def flatten(self, name: str) -> FlatPolicy | None:
        if name in self._flat:
            return self._flat[name]
        self._flat[name] = None  # guards against re-entry on a (reported) cycle
        module = self.ws.modules.get(name)
        if module is None or name in self.on_cycle:
            return None
        parents: list[FlatPolicy] = []
        complete = True
        for ref in parents_of(module):
            if self.graph.has_edge(name, ref.name) and ref.name not in self.on_cycle:
                parent = self.flatten(ref.name)
                if parent is not None:
                    parents.append(parent)
                    continue
            complete = False
        saved, self._incomplete = self._incomplete, not complete
        try:
            flat = self._flatten_one(module, parents)
        finally:
            self._incomplete = saved
        self._flat[name] = flat
        self.done.append((flat, complete))
        return flat

    def _flatten_one(self, module: ast.Module, parents: list[FlatPolicy]) -> FlatPolicy:
        p = module.policy
        items = p.items
        me = p.name
        report = self.report
        check_once(report, p)
        contexts = merge_contexts(report, parents, _of(items, ast.Context), me)
        categories = merge_categories(report, parents, _of(items, ast.Categories), me)
        derived = merge_derived(report, parents, _of(items, ast.Derive), categories)
        thresholds, threshold_changes = merge_thresholds(
            report, parents, _of(items, ast.Threshold), categories, me)
        scope = Scope(contexts, categories, derived, thresholds, {})
        check_clashes(report, contexts, categories, me)
        scope.sets = merge_sets(report, parents, _of(items, ast.SetDecl), scope, me)
        classifiers = merge_classifiers(report, parents, _of(items, ast.Classifier), categories,
                                        module)
        detectors = merge_detectors(report, parents, _of(items, ast.Detector), categories, me)
        resolve_decl = default_decl = on_error_decl = owner_decl = None
        strategy: str | None = None
        default, on_error, owner = None, None, None
        meta: dict[str, str] = {}
        for parent in reversed(parents):
            meta.update(parent.meta)
        for item in items:
            if isinstance(item, ast.Resolve):
                strategy = item.strategy
                resolve_decl = Declared(item.span)
            elif isinstance(item, ast.Default):
                default = Decision.of(item.action)
                default_decl = Declared(item.span)
            elif isinstance(item, ast.OnError):
                on_error = Decision.of(item.action)
                on_error_decl = Declared(item.span)
            elif isinstance(item, ast.Owner):
                owner = item.value
                owner_decl = Declared(item.span)
            elif isinstance(item, ast.Meta):
                meta[item.key] = item.value
        # the first parent in `extends` order that has one supplies what is missing; a parent
        # "has" what it declares or itself inherited (a grandparent's `resolve` reaches here)
        for parent in parents:
            if strategy is None and parent.resolve_decl is not None:
                strategy = parent.strategy
                resolve_decl = Declared(parent.resolve_decl.span, inherited=True)
            if default is None and parent.default is not None:
                default = parent.default
            if on_error is None and parent.on_error_decl is not None:
                on_error = parent.on_error
                on_error_decl = Declared(parent.on_error_decl.span, inherited=True)
        sources, replaced = merge_rules(self.report, module, parents, scope, self._sources)
        self._sources[me] = sources
        floors = inherited_floors(parents)
        floor_thr = floor_thresholds(parents)
        rules = tuple(resolve_rule(self.report, s, i, scope, me, floors, floor_thr)
                      for i, s in enumerate(sources))
        lineage = tuple(linearize(self.graph, self.ws, me))
        ancestors: dict[str, FlatPolicy] = {}
        for parent in parents:
            ancestors[parent.name] = parent
            for k, v in parent.ancestors.items():
                ancestors.setdefault(k, v)
        gates: dict[str, ast.Gate] = {}
        for parent in reversed(parents):
            gates.update({g.metric: g for g in parent.gates})
        gates.update({g.metric: g for g in items if isinstance(g, ast.Gate)})
        tests = tuple(t for t in items if isinstance(t, ast.Test))
        flat = FlatPolicy(
            name=me, version=p.version, path=module.path, span=p.span, owner=owner, meta=meta,
            parents=tuple(ref for ref in parents_of(module)), lineage=lineage,
            contexts=contexts, categories=categories, derived=derived, thresholds=thresholds,
            sets=scope.sets, rules=rules, strategy=strategy or "most-restrictive",
            default=default, on_error=on_error or Decision("refuse"), classifiers=classifiers,
            detectors=detectors, tests=tests, gates=tuple(gates.values()), ancestors=ancestors,
            resolve_decl=resolve_decl, default_decl=default_decl, on_error_decl=on_error_decl,
            owner_decl=owner_decl, replaced=tuple(replaced),
            threshold_changes=tuple(threshold_changes))
        return flat


_Item = TypeVar("_Item")


def _of(items: Sequence[object], kind: type[_Item]) -> list[_Item]:
    return [i for i in items if isinstance(i, kind)]
