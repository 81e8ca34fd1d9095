"""Merging a policy with its parents (LANGUAGE.md §5): schema declarations and rules.

Each `merge_*` takes the parents' flattened declarations and the child's own, reports
what clashes, and returns the merged view the child sees. Rule order: the child's rules,
then each parent's in `extends` order, a rule reached twice (diamond) counting once, where
first reached. `override R` stands where the child declares it; the parent's `R` goes.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from policyc.diagnostics import Diagnostic, Related, diagnostic
from policyc.runtime.detector_specs import VALIDATOR_NAMES, DetectorProblem, detector_problem
from policyc.semantics.bindings import (
    adjacent_config,
    classifier_options,
    config_labels,
    path_problem,
)
from policyc.semantics.model import (
    CategoryInfo,
    ClassifierBinding,
    ContextVar,
    Decision,
    DetectorBinding,
    FlatPolicy,
    RuleSource,
    ThresholdDecl,
)
from policyc.semantics.resolve import Report, Scope, did_you_mean, duplicate, error
from policyc.syntax import ast


def merge_contexts(report: Report, parents: list[FlatPolicy], decls: list[ast.Context],
                    me: str) -> dict[str, ContextVar]:
    merged: dict[str, ContextVar] = {}
    for parent in parents:
        for name, var in parent.contexts.items():
            if name in merged and _ctx_meaning(merged[name]) != _ctx_meaning(var):
                report(error(
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
            report(error("POL104", f"enum `{d.name}` lists a value twice", d.span,
                              "list each value once"))
        var = ContextVar(d.name, kind, tuple(dict.fromkeys(values)), d.default, me, d.span)
        if d.name in own:
            report(duplicate("attribute", d.name, d.span, own[d.name].span))
            continue
        own[d.name] = d
        if d.default is not None:
            Scope({d.name: var}, {}, {}, {}, {}).check_value(var, d.default, d.span,
                                                          report)
        parent_var = merged.get(d.name)
        if parent_var is not None and _ctx_meaning(parent_var) != _ctx_meaning(var):
            report(_redeclared(f"attribute `{d.name}` is redeclared with a different type", d.span,
                               parent_var.origin, parent_var.span,
                               "declare it exactly as the parent does, or give it another name"))
            continue
        merged[d.name] = var if parent_var is None or d.default is not None else parent_var
    return merged

def merge_categories(report: Report, parents: list[FlatPolicy], decls: list[ast.Categories],
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
            report(duplicate("category", name, node.span, own[name].span))
            return
        own[name] = node
        old = inherited.get(name)
        if old is not None:
            if old.is_leaf != (not children) or not set(children) <= set(old.children):
                report(_redeclared(f"category `{name}` is redeclared with other children",
                                   node.span, old.origin, old.span, "a child may mention a "
                                   "parent's category but not change its leaves"))
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

def merge_derived(report: Report, parents: list[FlatPolicy], decls: list[ast.Derive],
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
                report(error("POL101", f"unknown category `{name}`", d.span,
                                  did_you_mean(name, categories)))
                ok = False
            elif not info.is_leaf:
                report(error("POL105", f"`derive` works on leaf categories; `{name}` "
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
        report(error("POL103", f"`derive` bridges form a cycle: {path}", span,
                          "a category cannot be derived from itself"))
        for u, _ in cycle:
            merged.pop(u, None)
    except nx.NetworkXNoCycle:
        pass
    return merged

def merge_thresholds(report: Report, parents: list[FlatPolicy], decls: list[ast.Threshold],
                      categories: dict[str, CategoryInfo], me: str
                      ) -> tuple[dict[str | None, ThresholdDecl],
                                 list[tuple[str | None, float, float, ast.Span | None]]]:
    merged: dict[str | None, ThresholdDecl] = {}
    for parent in reversed(parents):
        merged.update(parent.thresholds)
    inherited = dict(merged)
    changes = []
    own: dict[str | None, ast.Threshold] = {}
    for d in decls:
        if d.category is not None and d.category not in categories:
            report(error("POL101", f"unknown category `{d.category}`", d.span,
                              did_you_mean(d.category, categories)))
            continue
        if not 0.0 <= d.value <= 1.0:
            report(error("POL106", f"threshold `{_fmt(d.value)}` is outside [0, 1]",
                              d.span, "thresholds are scores between 0 and 1"))
            continue
        if d.category in own:
            key = "default" if d.category is None else d.category
            report(duplicate("threshold for", key, d.span, own[d.category].span))
            continue
        own[d.category] = d
        old_value = _inherited_threshold(inherited, d.category) if parents else None
        if old_value is not None:
            changes.append((d.category, old_value, d.value, d.span))
        merged[d.category] = ThresholdDecl(d.category, d.value, me, d.span)
    return merged, changes


def _inherited_threshold(inherited: dict[str | None, ThresholdDecl], key: str | None) -> float:
    """The threshold `key` had from the parents, also when they never named it: the
    nearest ancestor category's, else `default`, else 0.5. A child's `threshold c 0.7`
    over a parent's `threshold default 0.35` raises `c` as much as redeclaring it would
    (POL304 missed it)."""
    parts = key.split(".") if key is not None else []
    for k in range(len(parts), 0, -1):
        decl = inherited.get(".".join(parts[:k]))
        if decl is not None:
            return decl.value
    decl = inherited.get(None)
    return 0.5 if decl is None else decl.value


def check_clashes(report: Report, contexts: dict[str, ContextVar],
                   categories: dict[str, CategoryInfo], me: str) -> None:
    for name in sorted(set(contexts) & set(categories)):
        var = contexts[name]
        report(error("POL113", f"`{name}` is both an attribute and a category",
                          var.span if var.origin == me else categories[name].span,
                          "rename one of them: a bare name in a guard must mean one thing"))

def merge_sets(report: Report, parents: list[FlatPolicy], decls: list[ast.SetDecl], scope: Scope,
                me: str) -> dict[str, frozenset[str]]:
    merged: dict[str, frozenset[str]] = {}
    for parent in reversed(parents):
        merged.update(parent.sets)
    inherited = dict(merged)
    scope.sets = merged
    own: dict[str, ast.SetDecl] = {}
    for d in decls:
        if d.name in own:
            report(duplicate("set", d.name, d.span, own[d.name].span))
            continue
        own[d.name] = d
        if d.name in scope.categories:
            report(error("POL113", f"set `{d.name}` has the name of a category", d.span,
                              "rename the set: `any NAME` must mean one thing"))
        members = scope.resolve_set(d.expr, report)
        if d.name in inherited and inherited[d.name] != members:
            report(error("POL110", f"set `{d.name}` is redefined with other members "
                                        f"than in a parent", d.span,
                              "parents' rules use the parent's set: give the new set "
                              "another name"))
            continue
        merged[d.name] = members
    return merged

def merge_classifiers(report: Report, parents: list[FlatPolicy], decls: list[ast.Classifier],
                       categories: dict[str, CategoryInfo],
                       module: ast.Module) -> tuple[ClassifierBinding, ...]:
    merged: dict[str, ClassifierBinding] = {}
    for parent in parents:
        for c in parent.classifiers:
            merged.setdefault(c.name, c)
    base = str(Path(module.path).parent)
    for d in decls:
        binding = _classifier_binding(report, d, base, categories, module.policy.name)
        old = merged.get(d.name)
        if old is not None:
            if old.origin == module.policy.name:
                report(duplicate("classifier", d.name, d.span, old.span))
            elif ((old.path, old.labels, old.tokenizer, old.options)
                  != (binding.path, binding.labels, binding.tokenizer, binding.options)):
                report(_redeclared(f"classifier `{d.name}` is redeclared differently", d.span,
                                   old.origin, old.span, "give the new classifier another name"))
            continue
        merged[d.name] = binding
    return tuple(merged.values())


def _classifier_binding(report: Report, d: ast.Classifier, base: str,
                        categories: dict[str, CategoryInfo], origin: str) -> ClassifierBinding:
    """One declared classifier: its paths, options and labels checked (POL116, POL101)."""
    options, problems = classifier_options(d)
    for p in problems:
        report(p)
    files = [("model", d.path)] + ([("tokenizer", d.tokenizer)] if d.tokenizer else [])
    missing = False
    for what, path in files:
        problem = path_problem(base, path)
        if problem is not None:
            missing = True
            report(error("POL116", f"{what} path `{path}` of classifier `{d.name}` "
                                   f"{problem[0]}", d.span, problem[1]))
    config = adjacent_config(base, d.path) if d.tokenizer is not None else None
    labels = []
    bound: dict[str, ast.Span | None] = {}
    for label in d.labels:
        info = categories.get(label.category)
        if label.category in bound:  # the bundle was written, then refused as inconsistent
            report(diagnostic(
                code="POL104", fatal=True,
                message=f"classifier `{d.name}` binds `{label.category}` twice",
                span=label.span, related=[Related(message="first bound here",
                                                  span=bound[label.category])],
                help="a category takes one model label: keep one"))
            continue
        bound[label.category] = label.span
        if info is None:
            report(error("POL101", f"unknown category `{label.category}`",
                         label.span, did_you_mean(label.category, categories)))
        elif not info.is_leaf:
            report(error("POL105", f"a classifier label binds a leaf category; "
                                   f"`{label.category}` has children", label.span,
                         f"bind each of its leaves (`{label.category}.NAME = ...`)"))
        else:
            labels.append((label.category, label.label))
    if d.tokenizer is not None and not d.labels and not (missing and config is None):
        # (a model that is not there has no config.json beside it either: one error)
        labels = _config_labels(report, d, base, config, categories)
    elif config is not None:
        _check_label_names(report, d, base, config)
    return ClassifierBinding(
        d.name, d.path, base, tuple(labels),
        Decision.of(d.on_error) if d.on_error else None, origin, d.span,
        tokenizer=d.tokenizer, options=options, config=config)


def _config_labels(report: Report, d: ast.Classifier, base: str, config: str | None,
                   categories: dict[str, CategoryInfo]) -> list[tuple[str, str]]:
    """Without `labels`, each `config.json` `id2label` name binds the leaf of that name."""
    if config is None:
        report(error("POL116", f"classifier `{d.name}` has no `labels` and no `config.json` "
                               f"beside `{d.path}`", d.span,
                     "map the model's labels with `labels { category = \"label\" }`, or put "
                     "the model's config.json (with `id2label`) beside it"))
        return []
    names = config_labels(base, config)
    if isinstance(names, str):
        report(error("POL116", f"classifier `{d.name}`: {names}", d.span,
                     "map the model's labels with `labels { category = \"label\" }`"))
        return []
    leaves = {n for n, i in categories.items() if i.is_leaf}
    unknown = [n for n in names if n not in leaves]
    if unknown:
        listed = ", ".join(f"`{n}`" for n in unknown)
        guess = did_you_mean(unknown[0], leaves) if len(unknown) == 1 else None
        verb = "is not a leaf category" if len(unknown) == 1 else "are not leaf categories"
        report(error("POL101", f"classifier `{d.name}` has no `labels`, and {listed} of "
                               f"`{config}` (`id2label`) {verb}",
                     d.span, (guess + " " if guess else "") + "declare them in `categories`, "
                     "or map the labels with `labels { category = \"label\" }`"))
        return []
    return [(n, n) for n in names]


def _check_label_names(report: Report, d: ast.Classifier, base: str, config: str) -> None:
    """Each label `labels` maps to must be a column of the adjacent config.json."""
    names = config_labels(base, config)
    if isinstance(names, str):
        return  # compile reports it with the model
    for label in d.labels:
        if label.label not in names:
            guess = did_you_mean(label.label, names)
            report(error("POL116", f"classifier `{d.name}` has no label \"{label.label}\" "
                                   f"(`{config}` `id2label`: "
                                   f"{', '.join(names)})", label.span,
                         guess or "map the category to one of the model's labels"))


def merge_detectors(report: Report, parents: list[FlatPolicy], decls: list[ast.Detector],
                     categories: dict[str, CategoryInfo],
                     me: str) -> tuple[DetectorBinding, ...]:
    merged: list[DetectorBinding] = []
    for parent in parents:
        merged.extend(d for d in parent.detectors if d not in merged)
    for d in decls:
        info = categories.get(d.category)
        if info is None:
            report(error("POL101", f"unknown category `{d.category}`", d.span,
                              did_you_mean(d.category, categories)))
            continue
        if not info.is_leaf:
            report(error("POL105", f"a detector binds a leaf category; `{d.category}` "
                                        f"has children", d.span,
                         f"bind one of its leaves: `detector {d.category}.NAME = ...`"))
            continue
        problem = _detector_problem(d.kind, d.pattern, d.validator, d.keywords)
        if problem is not None:
            report(_detector_error(problem, d))
            continue
        merged.append(DetectorBinding(d.category, d.kind, d.pattern, d.validator, d.keywords,
                                      me, d.span))
    return tuple(merged)


def merge_rules(report: Report, module: ast.Module, parents: list[FlatPolicy], scope: Scope,
                sources: dict[str, list[RuleSource]]
                ) -> tuple[list[RuleSource], list[tuple[str, str, ast.Span | None, str]]]:
    """The child's rules, then each parent's in `extends` order (a rule reached twice
    counts once); `override`/`drop` applied; (rule sources, what they replaced)."""
    me = module.policy.name
    own: list[RuleSource] = []
    targets: list[tuple[str, str, ast.Span | None]] = []  # (id, override|drop, span)
    sugar_count = _inherited_sugar_count(parents, sources)
    seen_ids: dict[str, ast.Span | None] = {}
    for item in module.policy.items:
        if isinstance(item, ast.Rule):
            if item.name in seen_ids:
                report(duplicate("rule", item.name, item.span, seen_ids[item.name]))
                continue
            seen_ids[item.name] = item.span
            own.append(RuleSource(item.name, Decision.of(item.action), item.guard, None,
                                   None, item.priority or 0, item.locked, item.override,
                                   me, item.span))
            if item.override:
                targets.append((item.name, "override", item.span))
        elif isinstance(item, ast.Sugar):
            sugar_count[item.kind] += 1
            rid = f"{item.kind}#{sugar_count[item.kind]}"
            decision = Decision("allow" if item.kind == "allow" else "refuse")
            own.append(RuleSource(rid, decision, None, item.set, item.kind, 0, False, False,
                                   me, item.span))
        elif isinstance(item, ast.Drop):
            targets.append((item.name, "drop", item.span))
    inherited: list[RuleSource] = []
    seen_keys: set[tuple[str, str]] = set()
    removed: set[tuple[str, str]] = set()
    for parent in parents:
        for key in removed_in_lineage(parent):
            removed.add(key)
    for parent in parents:
        for src in sources.get(parent.name, []):
            key = (src.origin, src.id)
            if key in seen_keys or key in removed:
                continue
            seen_keys.add(key)
            inherited.append(src)
    _report_inherited_clashes(report, module, inherited)
    replaced: list[tuple[str, str, ast.Span | None, str]] = []
    by_id = {s.id: s for s in inherited}
    for rid, kind, span in targets:
        target = by_id.get(rid)
        if target is None:
            report(error("POL108", f"`{kind} {rid}` names no rule of a parent", span,
                              did_you_mean(rid, by_id)
                              or ("a plain `rule` declares a new rule" if kind == "override"
                                  else "nothing to drop")))
            if kind == "override":  # keep it as a plain rule so the policy still works
                continue
            continue
        if target.locked:
            report(diagnostic(
                code="POL109", fatal=True,
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
            report(diagnostic(
                code="POL104", fatal=True,
                message=f"rule `{src.id}` is already defined in parent `{clash.origin}`",
                span=src.span, related=[Related(message="defined here", span=clash.span)],
                help=f"write `override {src.id}: ...` to replace it, or rename this rule"))
    own_ids = {s.id for s in own}
    return own + [s for s in inherited if s.id not in own_ids], replaced

def _inherited_sugar_count(parents: list[FlatPolicy], sources: dict[str, list[RuleSource]]
                           ) -> dict[str, int]:
    """Sugar ids continue after the inherited ones: `allow { x }` in a child of a parent
    with `allow#1` is `allow#2` (numbering per policy made it a POL104 clash that no
    `override` can name, `#` being no name character)."""
    count = {"allow": 0, "disallow": 0}
    for parent in parents:
        for src in sources.get(parent.name, []):
            kind, _, n = src.id.partition("#")
            if kind in count and n.isdigit():
                count[kind] = max(count[kind], int(n))
    return count


def _report_inherited_clashes(report: Report, module: ast.Module,
                              inherited: list[RuleSource]) -> None:
    """Two parents' different rules with one id (unrelated parents each naming a rule `x`,
    or each with its own `allow#1`): the compiled bundle held the id twice and no runtime
    would load it. An error at `extends`, as for any other clash of names."""
    first: dict[str, RuleSource] = {}
    span = next((i.span for i in module.policy.items if isinstance(i, ast.Extends)), None)
    for src in inherited:
        other = first.setdefault(src.id, src)
        if other is not src:
            report(diagnostic(
                code="POL104", fatal=True,
                message=f"rule `{src.id}` is defined by both `{other.origin}` and "
                        f"`{src.origin}`",
                span=span, related=[Related(message=f"in `{other.origin}`", span=other.span),
                                    Related(message=f"in `{src.origin}`", span=src.span)],
                help="rename one of them in its policy (a sugar rule: write it as a named "
                     "`rule`), so every rule of the child has one id"))


def removed_in_lineage(flat: FlatPolicy) -> set[tuple[str, str]]:
    out = {(origin, rid) for rid, _, _, origin in flat.replaced}
    for ancestor in flat.ancestors.values():
        out |= {(origin, rid) for rid, _, _, origin in ancestor.replaced}
    return out


def _ctx_meaning(var: ContextVar) -> tuple[str, tuple[str, ...]]:
    return (var.kind, tuple(sorted(var.values)))


def _fmt(x: float) -> str:
    return str(int(x)) if x == int(x) else str(x)


@lru_cache(maxsize=4096)
def _detector_problem(kind: str, pattern: str | None, validator: str | None,
                      keywords: tuple[str, ...]) -> DetectorProblem | None:
    """`detector_problem`, remembered: building a detector compiles its pattern, and an
    editor re-flattens the same parents (the standard library's dozens of regexes) on
    every keystroke."""
    return detector_problem(kind, pattern, validator, keywords)


def _detector_error(problem: DetectorProblem, d: ast.Detector) -> Diagnostic:
    """The runtime's objection to a detector declaration (`detector_problem`), as POL112."""
    if problem.kind == "validator":
        return error("POL112", f"unknown validator `{d.validator}`", d.span,
                     did_you_mean(problem.detail, VALIDATOR_NAMES)
                     or f"validators: {', '.join(VALIDATOR_NAMES)}")
    if problem.kind == "keywords":
        return error("POL112", f"keyword detector for `{d.category}` has no keywords", d.span,
                     "list at least one keyword")
    help = ("each keyword needs visible text (detectors drop invisible characters and "
            "fold case): remove the empty ones"
            if d.kind == "keywords" else
            "detectors use RE2 syntax (linear time): no backreferences or lookaround")
    return error("POL112", f"detector for `{d.category}` cannot be built: {problem.detail}",
                 d.span, help)


def _redeclared(what: str, span: ast.Span | None, origin: str, declared: ast.Span | None,
                help: str) -> Diagnostic:
    """POL110: a child gives a parent's declaration another meaning (`what … than in`)."""
    return diagnostic(code="POL110", fatal=True, message=f"{what} than in parent `{origin}`",
                      span=span, related=[Related(message="declared here", span=declared)],
                      help=help)
