"""Flattening (LANGUAGE.md §5): merge a policy with its ancestors into one `FlatPolicy`.

Parents are flattened first (memoized); the child's declarations are checked and
merged on top. Rule order: the child's rules, then each parent's flattened rules
in `extends` order, a rule reached twice (diamond) counting once, where first
reached. `override R` stands where the child declares it; the parent's `R` goes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from policyc.diagnostics import Diagnostic, Related, Severity
from policyc.runtime.detector_specs import VALIDATOR_NAMES, DetectorProblem, detector_problem
from policyc.semantics.bindings import model_path_problem
from policyc.semantics.formula import Formula, disj
from policyc.semantics.hierarchy import (
    Hierarchy,
    build_graph,
    linearize,
    parents_of,
    report_cycles,
)
from policyc.semantics.loader import Workspace
from policyc.semantics.model import (
    CategoryInfo,
    ClassifierBinding,
    ContextVar,
    Decision,
    Declared,
    DetectorBinding,
    FlatPolicy,
    FlatRule,
    ThresholdDecl,
)
from policyc.semantics.resolve import Scope, did_you_mean, error
from policyc.syntax import ast


@dataclass
class _RuleSource:
    """A rule as declared, kept so a child can re-resolve it with its own thresholds."""

    id: str
    decision: Decision
    guard: ast.Guard | None
    sugar_set: ast.SetExpr | None
    sugar: str | None
    priority: int
    locked: bool
    override: bool
    origin: str
    span: ast.Span | None


class Flattener:
    def __init__(self, ws: Workspace):
        self.ws = ws
        self.graph = Hierarchy()
        self.on_cycle: set[str] = set()
        self._flat: dict[str, FlatPolicy | None] = {}
        self._incomplete = False  # flattening a policy whose parents are not all known
        self._sources: dict[str, list[_RuleSource]] = {}

    def report(self, d: Diagnostic) -> None:
        # with a parent missing, names it would declare are unknown: one error (POL102)
        # explains them all, so name-level follow-ups are not reported
        if self._incomplete and d.code in ("POL101", "POL105", "POL107", "POL108"):
            return
        self.ws.diagnostics.append(d)

    def prepare(self, roots: list[ast.Module]) -> None:
        self.graph = build_graph(self.ws, roots)
        self.on_cycle = report_cycles(self.ws, self.graph)

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
        return flat

    # ------------------------------------------------------------------------------------

    def _flatten_one(self, module: ast.Module, parents: list[FlatPolicy]) -> FlatPolicy:
        p = module.policy
        items = p.items
        me = p.name
        contexts = self._merge_contexts(parents, [i for i in items if isinstance(i, ast.Context)],
                                        me)
        categories = self._merge_categories(parents, [i for i in items
                                                      if isinstance(i, ast.Categories)], me)
        derived = self._merge_derived(parents, [i for i in items if isinstance(i, ast.Derive)],
                                      categories)
        thresholds, threshold_changes = self._merge_thresholds(
            parents, [i for i in items if isinstance(i, ast.Threshold)], categories, me)
        scope = Scope(contexts, categories, derived, thresholds, {})
        self._check_clashes(contexts, categories, me)
        scope.sets = self._merge_sets(parents, [i for i in items if isinstance(i, ast.SetDecl)],
                                      scope, me)
        classifiers = self._merge_classifiers(
            parents, [i for i in items if isinstance(i, ast.Classifier)], categories, module)
        detectors = self._merge_detectors(parents, [i for i in items
                                                    if isinstance(i, ast.Detector)],
                                          categories, me)
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
        sources, replaced = self._merge_rules(module, parents, scope)
        self._sources[me] = sources
        floors = _inherited_floors(parents)
        rules = tuple(self._compile_rule(s, i, scope, me, floors) for i, s in enumerate(sources))
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
        self._check_tests(flat, scope)
        return flat

    # ---- schema merges --------------------------------------------------------------------

    def _merge_contexts(self, parents: list[FlatPolicy], decls: list[ast.Context],
                        me: str) -> dict[str, ContextVar]:
        merged: dict[str, ContextVar] = {}
        for parent in parents:
            for name, var in parent.contexts.items():
                if name in merged and _ctx_meaning(merged[name]) != _ctx_meaning(var):
                    self.report(error(
                        "POL110", f"parents disagree on attribute `{name}`", None,
                        f"`{merged[name].origin}` and `{var.origin}` declare it differently"))
                merged.setdefault(name, var)
        own: dict[str, ast.Context] = {}
        for d in decls:
            kind: Literal["enum", "bool", "number"] = (
                "enum" if isinstance(d.type, ast.EnumType)
                else "bool" if isinstance(d.type, ast.BoolType) else "number")
            values = d.type.values if isinstance(d.type, ast.EnumType) else ()
            if len(set(values)) != len(values):
                self.report(error("POL104", f"enum `{d.name}` lists a value twice", d.span,
                                  "list each value once"))
            var = ContextVar(d.name, kind, tuple(dict.fromkeys(values)), d.default, me, d.span)
            if d.name in own:
                self.report(_duplicate("attribute", d.name, d.span, own[d.name].span))
                continue
            own[d.name] = d
            if d.default is not None:
                Scope({d.name: var}, {}, {}, {}, {}).check_value(var, d.default, d.span,
                                                                  self.report)
            parent_var = merged.get(d.name)
            if parent_var is not None and _ctx_meaning(parent_var) != _ctx_meaning(var):
                self.report(Diagnostic(
                    code="POL110", severity=Severity.error, fatal=True,
                    message=f"attribute `{d.name}` is redeclared with a different type than in "
                            f"parent `{parent_var.origin}`",
                    span=d.span, related=[Related(message="declared here", span=parent_var.span)],
                    help="declare it exactly as the parent does, or give it another name"))
                continue
            merged[d.name] = var if parent_var is None or d.default is not None else parent_var
        return merged

    def _merge_categories(self, parents: list[FlatPolicy], decls: list[ast.Categories],
                          me: str) -> dict[str, CategoryInfo]:
        merged: dict[str, CategoryInfo] = {}
        for parent in parents:
            for name, info in parent.categories.items():
                merged.setdefault(name, info)
        inherited = dict(merged)
        own: dict[str, ast.Category] = {}

        def add(node: ast.Category, parent_name: str | None) -> None:
            name = node.name if parent_name is None else f"{parent_name}.{node.name}"
            children = tuple(f"{name}.{c.name}" for c in node.children)
            if name in own:
                self.report(_duplicate("category", name, node.span, own[name].span))
                return
            own[name] = node
            old = inherited.get(name)
            if old is not None:
                if old.is_leaf != (not children) or not set(children) <= set(old.children):
                    self.report(Diagnostic(
                        code="POL110", severity=Severity.error, fatal=True,
                        message=f"category `{name}` is redeclared with other children than in "
                                f"parent `{old.origin}`",
                        span=node.span, related=[Related(message="declared here", span=old.span)],
                        help="a child may mention a parent's category but not change its leaves"))
                for child in node.children:
                    add(child, name)
                return
            merged[name] = CategoryInfo(name, parent_name, children, node.doc, me, node.span)
            for child in node.children:
                add(child, name)

        for decl in decls:
            for root in decl.roots:
                add(root, None)
        return merged

    def _merge_derived(self, parents: list[FlatPolicy], decls: list[ast.Derive],
                       categories: dict[str, CategoryInfo]) -> dict[str, tuple[str, ...]]:
        merged: dict[str, tuple[str, ...]] = {}
        for parent in parents:  # bridges from several parents add up: the max of all sources
            for target, sources in parent.derived.items():
                merged[target] = tuple(dict.fromkeys(merged.get(target, ()) + sources))
        for d in decls:
            ok = True
            for name in (d.category, *d.sources):
                info = categories.get(name)
                if info is None:
                    self.report(error("POL101", f"unknown category `{name}`", d.span,
                                      did_you_mean(name, categories)))
                    ok = False
                elif not info.is_leaf:
                    self.report(error("POL105", f"`derive` works on leaf categories; `{name}` "
                                                f"has children", d.span,
                                      "bridge each leaf, or derive from its leaves"))
                    ok = False
            if ok:
                merged[d.category] = tuple(dict.fromkeys(merged.get(d.category, ()) + d.sources))
        if not merged:  # no bridges, no cycle (and no networkx import)
            return merged
        import networkx as nx

        graph: nx.DiGraph = nx.DiGraph()
        for target, sources in merged.items():
            graph.add_edges_from((target, s) for s in sources)
        try:
            cycle = nx.find_cycle(graph)
            path = " → ".join([cycle[0][0], *(v for _, v in cycle)])
            span = next((d.span for d in decls if d.category == cycle[0][0]), None)
            self.report(error("POL103", f"`derive` bridges form a cycle: {path}", span,
                              "a category cannot be derived from itself"))
            for u, _ in cycle:
                merged.pop(u, None)
        except nx.NetworkXNoCycle:
            pass
        return merged

    def _merge_thresholds(self, parents: list[FlatPolicy], decls: list[ast.Threshold],
                          categories: dict[str, CategoryInfo], me: str
                          ) -> tuple[dict[str | None, ThresholdDecl],
                                     list[tuple[str | None, float, float, ast.Span | None]]]:
        merged: dict[str | None, ThresholdDecl] = {}
        for parent in reversed(parents):
            merged.update(parent.thresholds)
        changes = []
        own: dict[str | None, ast.Threshold] = {}
        for d in decls:
            if d.category is not None and d.category not in categories:
                self.report(error("POL101", f"unknown category `{d.category}`", d.span,
                                  did_you_mean(d.category, categories)))
                continue
            if not 0.0 <= d.value <= 1.0:
                self.report(error("POL106", f"threshold `{_fmt(d.value)}` is outside [0, 1]",
                                  d.span, "thresholds are scores between 0 and 1"))
                continue
            if d.category in own:
                key = "default" if d.category is None else d.category
                self.report(_duplicate("threshold for", key, d.span, own[d.category].span))
                continue
            own[d.category] = d
            old = merged.get(d.category)
            if old is not None and old.origin != me:
                changes.append((d.category, old.value, d.value, d.span))
            merged[d.category] = ThresholdDecl(d.category, d.value, me, d.span)
        return merged, changes

    def _check_clashes(self, contexts: dict[str, ContextVar],
                       categories: dict[str, CategoryInfo], me: str) -> None:
        for name in sorted(set(contexts) & set(categories)):
            var = contexts[name]
            self.report(error("POL113", f"`{name}` is both an attribute and a category",
                              var.span if var.origin == me else categories[name].span,
                              "rename one of them: a bare name in a guard must mean one thing"))

    def _merge_sets(self, parents: list[FlatPolicy], decls: list[ast.SetDecl], scope: Scope,
                    me: str) -> dict[str, frozenset[str]]:
        merged: dict[str, frozenset[str]] = {}
        for parent in reversed(parents):
            merged.update(parent.sets)
        inherited = dict(merged)
        scope.sets = merged
        own: dict[str, ast.SetDecl] = {}
        for d in decls:
            if d.name in own:
                self.report(_duplicate("set", d.name, d.span, own[d.name].span))
                continue
            own[d.name] = d
            if d.name in scope.categories:
                self.report(error("POL113", f"set `{d.name}` has the name of a category", d.span,
                                  "rename the set: `any NAME` must mean one thing"))
            members = scope.resolve_set(d.expr, self.report)
            if d.name in inherited and inherited[d.name] != members:
                self.report(error("POL110", f"set `{d.name}` is redefined with other members "
                                            f"than in a parent", d.span,
                                  "parents' rules use the parent's set: give the new set "
                                  "another name"))
                continue
            merged[d.name] = members
        return merged

    def _merge_classifiers(self, parents: list[FlatPolicy], decls: list[ast.Classifier],
                           categories: dict[str, CategoryInfo],
                           module: ast.Module) -> tuple[ClassifierBinding, ...]:
        merged: dict[str, ClassifierBinding] = {}
        for parent in parents:
            for c in parent.classifiers:
                merged.setdefault(c.name, c)
        base = str(Path(module.path).parent)
        for d in decls:
            labels = []
            for label in d.labels:
                info = categories.get(label.category)
                if info is None:
                    self.report(error("POL101", f"unknown category `{label.category}`",
                                      label.span, did_you_mean(label.category, categories)))
                elif not info.is_leaf:
                    self.report(error("POL105", f"a classifier label binds a leaf category; "
                                                f"`{label.category}` has children", label.span))
                else:
                    labels.append((label.category, label.label))
            binding = ClassifierBinding(
                d.name, d.path, base, tuple(labels),
                Decision.of(d.on_error) if d.on_error else None, module.policy.name, d.span)
            problem = model_path_problem(binding)
            if problem is not None:
                self.report(error("POL116", f"model path `{d.path}` of classifier `{d.name}` "
                                            f"{problem}", d.span,
                                  "give a path relative to the policy's folder, inside that "
                                  "folder"))
            old = merged.get(d.name)
            if old is not None:
                if old.origin == module.policy.name:
                    self.report(_duplicate("classifier", d.name, d.span, old.span))
                elif (old.path, old.labels) != (binding.path, binding.labels):
                    self.report(Diagnostic(
                        code="POL110", severity=Severity.error, fatal=True,
                        message=f"classifier `{d.name}` is redeclared differently than in "
                                f"parent `{old.origin}`", span=d.span,
                        related=[Related(message="declared here", span=old.span)],
                        help="give the new classifier another name"))
                continue
            merged[d.name] = binding
        return tuple(merged.values())

    def _merge_detectors(self, parents: list[FlatPolicy], decls: list[ast.Detector],
                         categories: dict[str, CategoryInfo],
                         me: str) -> tuple[DetectorBinding, ...]:
        merged: list[DetectorBinding] = []
        for parent in parents:
            merged.extend(d for d in parent.detectors if d not in merged)
        for d in decls:
            info = categories.get(d.category)
            if info is None:
                self.report(error("POL101", f"unknown category `{d.category}`", d.span,
                                  did_you_mean(d.category, categories)))
                continue
            if not info.is_leaf:
                self.report(error("POL105", f"a detector binds a leaf category; `{d.category}` "
                                            f"has children", d.span))
                continue
            problem = detector_problem(d.kind, d.pattern, d.validator, d.keywords)
            if problem is not None:
                self.report(_detector_error(problem, d))
                continue
            merged.append(DetectorBinding(d.category, d.kind, d.pattern, d.validator, d.keywords,
                                          me, d.span))
        return tuple(merged)

    # ---- rules ------------------------------------------------------------------------------

    def _merge_rules(self, module: ast.Module, parents: list[FlatPolicy], scope: Scope
                     ) -> tuple[list[_RuleSource], list[tuple[str, str, ast.Span | None, str]]]:
        me = module.policy.name
        own: list[_RuleSource] = []
        targets: list[tuple[str, str, ast.Span | None]] = []  # (id, override|drop, span)
        sugar_count = {"allow": 0, "disallow": 0}
        seen_ids: dict[str, ast.Span | None] = {}
        for item in module.policy.items:
            if isinstance(item, ast.Rule):
                if item.name in seen_ids:
                    self.report(_duplicate("rule", item.name, item.span, seen_ids[item.name]))
                    continue
                seen_ids[item.name] = item.span
                own.append(_RuleSource(item.name, Decision.of(item.action), item.guard, None,
                                       None, item.priority or 0, item.locked, item.override,
                                       me, item.span))
                if item.override:
                    targets.append((item.name, "override", item.span))
            elif isinstance(item, ast.Sugar):
                sugar_count[item.kind] += 1
                rid = f"{item.kind}#{sugar_count[item.kind]}"
                decision = Decision("allow" if item.kind == "allow" else "refuse")
                own.append(_RuleSource(rid, decision, None, item.set, item.kind, 0, False, False,
                                       me, item.span))
            elif isinstance(item, ast.Drop):
                targets.append((item.name, "drop", item.span))
        inherited: list[_RuleSource] = []
        seen_keys: set[tuple[str, str]] = set()
        removed: set[tuple[str, str]] = set()
        for parent in parents:
            for key in self._removed_in_lineage(parent):
                removed.add(key)
        for parent in parents:
            for src in self._sources.get(parent.name, []):
                key = (src.origin, src.id)
                if key in seen_keys or key in removed:
                    continue
                seen_keys.add(key)
                inherited.append(src)
        replaced: list[tuple[str, str, ast.Span | None, str]] = []
        by_id = {s.id: s for s in inherited}
        for rid, kind, span in targets:
            target = by_id.get(rid)
            if target is None:
                self.report(error("POL108", f"`{kind} {rid}` names no rule of a parent", span,
                                  did_you_mean(rid, by_id)
                                  or ("a plain `rule` declares a new rule" if kind == "override"
                                      else "nothing to drop")))
                if kind == "override":  # keep it as a plain rule so the policy still works
                    continue
                continue
            if target.locked:
                self.report(Diagnostic(
                    code="POL109", severity=Severity.error, fatal=True,
                    message=f"`{kind} {rid}` changes a locked rule of `{target.origin}`",
                    span=span, related=[Related(message="locked here", span=target.span)],
                    help="a locked rule is a floor: add a stricter rule instead"))
                own = [s for s in own if not (s.id == rid and s.override)]
                continue
            inherited = [s for s in inherited if s is not target]
            replaced.append((rid, kind, span, target.origin))
        inherited_ids = {s.id: s for s in inherited}
        for src in own:
            clash = inherited_ids.get(src.id)
            if clash is not None and not src.override:
                self.report(Diagnostic(
                    code="POL104", severity=Severity.error, fatal=True,
                    message=f"rule `{src.id}` is already defined in parent `{clash.origin}`",
                    span=src.span, related=[Related(message="defined here", span=clash.span)],
                    help=f"write `override {src.id}: ...` to replace it, or rename this rule"))
        own_ids = {s.id for s in own}
        return own + [s for s in inherited if s.id not in own_ids], replaced

    def _removed_in_lineage(self, flat: FlatPolicy) -> set[tuple[str, str]]:
        out = {(origin, rid) for rid, _, _, origin in flat.replaced}
        for ancestor in flat.ancestors.values():
            out |= {(origin, rid) for rid, _, _, origin in ancestor.replaced}
        return out

    def _compile_rule(self, src: _RuleSource, order: int, scope: Scope, me: str,
                      floors: dict[tuple[str, str], list[Formula]]) -> FlatRule:
        # an inherited rule was checked when its own policy was flattened: report once
        report = self.report if src.origin == me else (lambda d: None)
        formula: Formula
        category_sets: tuple[frozenset[str], ...] = ()
        if src.sugar_set is not None:
            members = scope.resolve_set(src.sugar_set, report)
            category_sets = (members,)
            formula = disj([scope.category_true(m) for m in sorted(members)])
        else:
            formula = scope.resolve_guard(src.guard, report)
        in_force = None
        if src.locked and src.origin != me:
            # LANGUAGE.md §5: a floor keeps the region it had in every parent it came through
            # (their thresholds), and grows with this policy's: a child tightens, never loosens
            kept = [f for f in dict.fromkeys(floors.get((src.origin, src.id), []))
                    if f != formula]
            if kept:
                in_force, formula = formula, disj([formula, *kept])
        return FlatRule(src.id, src.decision, formula, src.priority, src.locked, order,
                        src.origin, src.span, src.override, src.guard,
                        src.sugar,  # type: ignore[arg-type]
                        category_sets, in_force)

    # ---- tests ------------------------------------------------------------------------------

    def _check_tests(self, flat: FlatPolicy, scope: Scope) -> None:
        names: dict[str, ast.Span | None] = {}
        rule_ids = {r.id for r in flat.rules}
        for t in flat.tests:
            if t.name in names:
                self.report(_duplicate("test", t.name, t.span, names[t.name]))
            names[t.name] = t.span
            if t.expect is None:
                self.report(error("POL115", f"test `{t.name}` has no `expect`", t.span,
                                  "add `expect ACTION`"))
            if t.expect_rule is not None and t.expect_rule not in rule_ids:
                self.report(error("POL115", f"test `{t.name}` expects unknown rule "
                                            f"`{t.expect_rule}`", t.span,
                                  did_you_mean(t.expect_rule, rule_ids)))
            for a in t.given:
                if a.name in flat.categories:
                    info = flat.categories[a.name]
                    if not info.is_leaf:
                        self.report(error("POL115", f"`given` sets leaf scores; `{a.name}` has "
                                                    f"children", a.span))
                    elif isinstance(a.value, bool) or not isinstance(a.value, float) \
                            or not 0.0 <= a.value <= 1.0:
                        self.report(error("POL106", f"score for `{a.name}` must be a number in "
                                                    f"[0, 1]", a.span))
                elif a.name in flat.contexts:
                    scope.check_value(flat.contexts[a.name], a.value, a.span, self.report)
                else:
                    self.report(error("POL101", f"unknown category or attribute `{a.name}`",
                                      a.span, did_you_mean(a.name, [*flat.categories,
                                                                     *flat.contexts])))


def _inherited_floors(parents: list[FlatPolicy]) -> dict[tuple[str, str], list[Formula]]:
    """(origin, id) of each locked rule the parents have -> its region in each of them."""
    out: dict[tuple[str, str], list[Formula]] = {}
    for parent in parents:
        for r in parent.rules:
            if r.locked:
                out.setdefault((r.origin, r.id), []).append(r.formula)
    return out


def _ctx_meaning(var: ContextVar) -> tuple[str, tuple[str, ...]]:
    return (var.kind, tuple(sorted(var.values)))


def _duplicate(what: str, name: str, span: ast.Span | None,
               first: ast.Span | None) -> Diagnostic:
    return Diagnostic(code="POL104", severity=Severity.error, fatal=True,
                      message=f"duplicate {what} `{name}`", span=span,
                      related=[Related(message="first declared here", span=first)],
                      help="each name is declared once per policy: remove or rename one")


def _fmt(x: float) -> str:
    return str(int(x)) if x == int(x) else str(x)


def _detector_error(problem: DetectorProblem, d: ast.Detector) -> Diagnostic:
    """The runtime's objection to a detector declaration (`detector_problem`), as POL112."""
    if problem.kind == "validator":
        return error("POL112", f"unknown validator `{d.validator}`", d.span,
                     did_you_mean(problem.detail, VALIDATOR_NAMES)
                     or f"validators: {', '.join(VALIDATOR_NAMES)}")
    if problem.kind == "keywords":
        return error("POL112", f"keyword detector for `{d.category}` has no keywords", d.span,
                     "list at least one keyword")
    return error("POL112", f"detector for `{d.category}` cannot be built: {problem.detail}",
                 d.span, "detectors use RE2 syntax (linear time): no backreferences or "
                         "lookaround")


def flatten_workspace(ws: Workspace, roots: list[ast.Module]) -> dict[str, FlatPolicy]:
    """Flatten every root policy (and so its ancestors); diagnostics go to `ws`."""
    flattener = Flattener(ws)
    flattener.prepare(roots)
    out: dict[str, FlatPolicy] = {}
    for module in roots:
        flat = flattener.flatten(module.policy.name)
        if flat is not None:
            out[module.policy.name] = flat
    return out
