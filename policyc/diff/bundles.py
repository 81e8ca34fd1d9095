"""Diffing compiled bundles: rebuild the exact rule regions from the bundle's tables.

A bundle stores every variable with its cut points and, for every entry (a box of a
rule's guard), the pieces it allows on each variable. That is the rule's region
exactly, so it can be turned back into formulas over the same atoms and diffed like
source policies — no sampling, and a bundle diffs against a source file too.
"""

from __future__ import annotations

import math
from typing import Any

from policyc.runtime.bundle import BundleData, DecisionSpec
from policyc.runtime.bundle_reader import read_bundle_file
from policyc.semantics.formula import Atom, Formula, conj, disj
from policyc.semantics.model import (
    CategoryInfo,
    ClassifierBinding,
    ContextVar,
    Decision,
    DetectorBinding,
    FlatPolicy,
    FlatRule,
    ThresholdDecl,
)
from policyc.semantics.regions.space import Variable


def _decision(spec: DecisionSpec | None) -> Decision | None:
    return None if spec is None else Decision(spec.action, spec.argument)


def _mask_formula(var: Variable, mask: int) -> Formula:
    """The pieces of one variable as atoms (runs of adjacent pieces become intervals)."""
    if not var.numeric:
        return Atom(var.name, "in", frozenset(var.values[p] for p in var.pieces(mask)))
    parts: list[Formula] = []
    for first, last in var.runs(mask):
        lo, lo_closed, _, _ = var.bounds(first)
        _, _, hi, hi_closed = var.bounds(last)
        bounds: list[Formula] = []
        if lo != -math.inf:
            bounds.append(Atom(var.name, ">=" if lo_closed else ">", lo))
        if hi != math.inf:
            bounds.append(Atom(var.name, "<=" if hi_closed else "<", hi))
        parts.append(conj(bounds))
    return disj(parts)


def flat_from_bundle(data: BundleData) -> FlatPolicy:
    m = data.manifest
    variables: list[Variable] = []
    for spec in m.variables:
        if spec.kind in ("enum", "bool"):
            values: tuple[Any, ...] = tuple(spec.values) if spec.kind == "enum" else (False, True)
            variables.append(Variable(spec.name, spec.kind, values=values, default=spec.default))
        else:
            variables.append(Variable(spec.name, spec.kind, cuts=tuple(spec.cuts),
                                      default=spec.default))
    entries = data.array(m.entries)
    entry_rule = data.array(m.entry_rule)
    offsets = [0]
    for spec in m.variables:
        offsets.append(offsets[-1] + spec.n_pieces)
    boxes: dict[int, list[Formula]] = {}
    for e in range(m.n_entries):
        column = entries[:, e]
        atoms: list[Formula] = []
        for i, var in enumerate(variables):
            block = column[offsets[i]:offsets[i + 1]]
            mask = sum(1 << p for p, allowed in enumerate(block) if allowed) & var.domain
            if mask != var.domain:
                atoms.append(_mask_formula(var, mask))
        boxes.setdefault(int(entry_rule[e]), []).append(conj(atoms))
    rules = tuple(
        FlatRule(r.id, Decision(r.decision.action, r.decision.argument),
                 disj(boxes.get(i, [])), r.priority, r.locked, r.order, r.origin)
        for i, r in enumerate(m.rules))
    contexts = {v.name: ContextVar(v.name, v.kind, tuple(str(x) for x in v.values)
                                   if v.kind == "enum" else (), v.default, m.policy)
                for v in variables if v.kind != "score"}
    categories = {v.name: CategoryInfo(v.name, None, (), None, m.policy)
                  for v in variables if v.kind == "score"}
    classifiers = tuple(
        ClassifierBinding(c.name, f"sha256:{c.sha256}", "", tuple(map(tuple, c.labels)),  # type: ignore[arg-type]
                          _decision(c.on_error), m.policy) for c in m.classifiers)
    detectors = tuple(DetectorBinding(d.category, d.kind, d.pattern, d.validator,
                                      tuple(d.keywords), m.policy) for d in m.detectors)
    return FlatPolicy(
        name=m.policy, version=m.version, path=data.source, span=None, owner=m.owner,
        meta=dict(m.meta), parents=(), lineage=tuple(m.lineage), contexts=contexts,
        categories=categories, derived={},
        # the thresholds in force per leaf, as the bundle records them: a diff of two
        # bundles names `threshold LEAF OLD → NEW` among the causes
        thresholds={leaf: ThresholdDecl(leaf, value, m.policy)
                    for leaf, value in m.thresholds.items()},
        sets={}, rules=rules,
        strategy=m.strategy, default=_decision(m.default),
        on_error=_decision(m.on_error) or Decision("refuse"), classifiers=classifiers,
        detectors=detectors, tests=(), gates=())


def load_bundle_policy(path: str, verify_key: Any = None) -> tuple[FlatPolicy, str]:
    """(flattened policy, content hash) of a bundle file; raises BundleError.
    `verify_key`: as `read_bundle_file` (None: `POLICYC_VERIFY_KEY`, when set)."""
    data = read_bundle_file(path, verify_key=verify_key)
    return flat_from_bundle(data), data.manifest.hash
