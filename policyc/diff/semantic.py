"""Semantic diff of two policy versions: exact regions, direction, witnesses.

Both versions are flattened with their hierarchies (a change in a parent shows in
the child's diff), put on one shared space of cut points, and compared with the
same engine lint uses (`semantics/regions/compare.py`). Bindings cannot be analyzed (a
model is opaque), so a changed model, pattern or keyword list is reported as a
binding change with the rules that read the category.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policyc.diff.causes import Cause, program_edits, row_causes
from policyc.semantics.formula import variables
from policyc.semantics.model import FlatPolicy
from policyc.semantics.regions.boxes import describe_box, witness
from policyc.semantics.regions.changes import changed_regions
from policyc.semantics.regions.compare import EXACT_BUDGET, Difference
from policyc.semantics.regions.decision_map import DecisionMap, Resolution
from policyc.semantics.regions.merge import except_rows
from policyc.semantics.regions.space import Space

_ACCEPT = re.compile(r"#\s*policyc:\s*accept-loosening\[([^\]]+)\]\s*(.*)")


@dataclass
class Acceptance:
    target: str  # a rule id, or `default`
    reason: str
    line: int


@dataclass
class Change:
    kind: str
    region: dict[str, Any]
    old: Resolution
    new: Resolution
    witness: dict[str, Any]
    accepted: Acceptance | None = None
    scope: tuple[str, str] | None = None  # see `Difference`: (rule, version)
    causes: list[Cause] = field(default_factory=list)
    #: the `except` form: the row is `region` minus the union of these regions (each in
    #: `region`'s form); an event is in the row iff it is in `region` and in none of them
    exceptions: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind, "region": self.region,
            "old": _decision_json(self.old), "new": _decision_json(self.new),
            "witness": self.witness,
        }
        if self.exceptions:
            out["except"] = self.exceptions
        if self.scope is not None:
            out["scope"] = {"rule": self.scope[0], "version": self.scope[1]}
        if self.accepted is not None:
            out["accepted"] = {"by": self.accepted.target, "reason": self.accepted.reason}
        out["causes"] = [c.to_dict() for c in self.causes]
        return out


@dataclass
class BindingChange:
    category: str
    binding: str  # "onnx:<classifier>" or "detector"
    change: str
    rules: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"category": self.category, "binding": self.binding, "change": self.change,
                "rules": self.rules}


@dataclass
class DiffReport:
    old: FlatPolicy
    new: FlatPolicy
    old_hash: str
    new_hash: str
    changes: list[Change]
    bindings: list[BindingChange] = field(default_factory=list)
    edits: list[Cause] = field(default_factory=list)
    #: the two versions' decision maps on one space, as the diff built them (`--replay`
    #: decides on them rather than building them again)
    maps: tuple[DecisionMap, DecisionMap] | None = None

    def summary(self) -> dict[str, int]:
        """Rows by kind (the rows partition the changed events), and `pairs`: the
        distinct (old decision → new decision) pairs among them."""
        out = {"loosened": 0, "tightened": 0, "changed": 0}
        for c in self.changes:
            out[c.kind] += 1
        out["pairs"] = len({(c.old.key(), c.new.key()) for c in self.changes})
        return out

    def cause_effects(self) -> list[tuple[Cause, list[Change]]]:
        """Each edit with the rows it causes (rows first by kind: loosened first), then
        the edits no row names (e.g. a parent's version with no effect)."""
        out = [(e, [c for c in self.changes if e in c.causes]) for e in self.edits]
        return sorted(out, key=lambda t: (not t[1], min(
            (("loosened", "tightened", "changed").index(c.kind) for c in t[1]), default=3)))

    def unaccepted_loosenings(self) -> list[Change]:
        return [c for c in self.changes if c.kind == "loosened" and c.accepted is None]

    def to_dict(self) -> dict[str, Any]:
        out = {
            "schema": "policyc/diff/v1",
            "old": {"policy": self.old.name, "version": self.old.version, "hash": self.old_hash},
            "new": {"policy": self.new.name, "version": self.new.version, "hash": self.new_hash},
            "changes": [c.to_dict() for c in self.changes],
            "summary": self.summary(),
        }
        if self.bindings:
            out["bindings"] = [b.to_dict() for b in self.bindings]
        out["causes"] = [e.to_dict() | {"rows": _counts(rows)} for e, rows in self.cause_effects()]
        return out


def _counts(rows: list[Change]) -> dict[str, int]:
    out = {"loosened": 0, "tightened": 0, "changed": 0}
    for c in rows:
        out[c.kind] += 1
    return out


def _decision_json(o: Resolution) -> dict[str, Any]:
    d = o.decision
    return {"action": d.action if d else None, "argument": d.argument if d else None,
            "rule": o.rule}


def source_hash(flat: FlatPolicy) -> str:
    """A content hash of the flattened policy, for a version that has no bundle hash (the
    caller hands in the compiled bundle's hash when there is one: `compile.bundle_hash`)."""
    digest = hashlib.sha256(repr((flat.name, flat.version, flat.strategy, flat.default,
                                  flat.on_error, [(r.id, r.decision, r.formula, r.priority,
                                                   r.locked) for r in flat.rules]))
                            .encode()).hexdigest()
    return f"sha256:{digest}"


def acceptances(source: str) -> list[Acceptance]:
    """`# policyc: accept-loosening[rule_or_default] reason` annotations in a file."""
    out = []
    for n, line in enumerate(source.splitlines(), 1):
        m = _ACCEPT.search(line)
        if m:
            for target in m.group(1).split(","):
                out.append(Acceptance(target.strip(), m.group(2).strip(), n))
    return out


def semantic_diff(old: FlatPolicy, new: FlatPolicy, new_source: str = "",
                  hashes: tuple[str | None, str | None] = (None, None),
                  budget: int | None = EXACT_BUDGET) -> DiffReport:
    """The diff report; `hashes`: the content hashes the report names (the caller's, e.g.
    the compiled bundles'; None: `source_hash`); `budget` bounds the exact boxes per
    changed rule (None: no bound, see `diff_maps`)."""
    found = changed_regions(old, new, budget)
    accepted = {acc.target: acc for acc in acceptances(new_source)}
    edits = program_edits(old, new)
    scores = set(old.categories) | set(new.categories)  # a threshold never moves a context
    changes = [_change(d, found.space, accepted, old, new) for d in found.regions]
    for c in changes:
        c.causes = row_causes(edits, {c.old.rule, c.new.rule, c.old.floor, c.new.floor,
                                      c.old.overridden, c.new.overridden},
                              set(c.region) & scores, c.witness,
                              choice=len(c.old.matched) > 1 or len(c.new.matched) > 1)
    changes = _except_form(changes, found.regions, found.space)
    changes.sort(key=lambda c: (("loosened", "tightened", "changed").index(c.kind),
                                sorted(c.region), str(c.region)))
    return DiffReport(old, new, hashes[0] or source_hash(old),
                      hashes[1] or source_hash(new), changes,
                      binding_changes(old, new), edits, (found.old, found.new))


def _change(d: Difference, space: Space, accepted: dict[str, Acceptance],
            old: FlatPolicy, new: FlatPolicy) -> Change:
    kind = runtime_kind(d, old, new)
    acc = None
    if kind == "loosened":
        acc = accepted.get(d.new.rule or "default") or accepted.get(d.old.rule or "default")
    return Change(kind, describe_box(d.box, space), d.old, d.new,
                  witness(d.witness_box(), space), acc, d.scope)


def runtime_kind(d: Difference, old: FlatPolicy, new: FlatPolicy) -> str:
    """The direction as the runtime decides: a gap (no rule, no `default`) gets the
    policy's `on_error` decision. Counting a gap as the least restrictive outcome (as
    POL302's promise does) called a gap that refused (fail closed) becoming `default
    allow` "tightened", so `--fail-on loosened` passed it, and `diff --replay` of the
    same events said "loosened"."""
    a = d.old.decision or old.on_error
    b = d.new.decision or new.on_error
    if a.restrictiveness == b.restrictiveness:
        return "changed"
    return "tightened" if b.restrictiveness > a.restrictiveness else "loosened"


def _except_form(changes: list[Change], diffs: list[Difference], space: Space
                 ) -> list[Change]:
    """Rows that change alike (same decisions by the same rules, same causes, same
    acceptance) merged into the `except` form where it prints fewer rows and constraints
    (`regions.merge.except_rows`); a merged row keeps its first row's witness."""
    groups: dict[tuple[object, ...], list[int]] = {}
    out: list[Change] = []
    for k, c in enumerate(changes):
        if c.scope is not None:
            out.append(c)
            continue
        key = (c.old.key(), c.old.rule, c.new.key(), c.new.rule,
               tuple(e.text for e in c.causes), c.accepted and c.accepted.target)
        groups.setdefault(key, []).append(k)
    for members in groups.values():
        for (box, holes), which in except_rows([diffs[k].box for k in members], space):
            first = changes[members[which[0]]]
            if not holes:
                out.append(first)
                continue
            out.append(Change(first.kind, describe_box(box, space), first.old, first.new,
                              first.witness, first.accepted, None, first.causes,
                              [describe_box(h, space) for h in holes]))
    return out


def binding_changes(old: FlatPolicy, new: FlatPolicy) -> list[BindingChange]:
    """Bindings whose behaviour may differ: model bytes, patterns, keywords, labels."""
    def detectors(p: FlatPolicy) -> dict[str, set[tuple[object, ...]]]:
        out: dict[str, set[tuple[object, ...]]] = {}
        for d in p.detectors:
            out.setdefault(d.category, set()).add((d.kind, d.pattern, d.validator, d.keywords))
        return out

    def models(p: FlatPolicy) -> dict[str, tuple[str, str]]:
        out: dict[str, tuple[str, str]] = {}
        for c in p.classifiers:
            digest = _file_digest(Path(c.base_dir) / c.path)
            for leaf, label in c.labels:
                out[leaf] = (c.name, f"{digest}:{label}")
        return out

    readers: dict[str, list[str]] = {}
    for r in new.rules:
        for v in variables(r.formula):
            readers.setdefault(v, []).append(r.id)
    result: list[BindingChange] = []
    da, db = detectors(old), detectors(new)
    for cat in sorted(set(da) | set(db)):
        if da.get(cat) != db.get(cat):
            change = ("detector added" if cat not in da else "detector removed" if cat not in db
                      else "pattern or keyword list changed")
            result.append(BindingChange(cat, "detector", change, readers.get(cat, [])))
    ma, mb = models(old), models(new)
    for cat in sorted(set(ma) | set(mb)):
        if ma.get(cat) != mb.get(cat):
            name = (mb.get(cat) or ma.get(cat) or ("?", ""))[0]
            change = ("binding added" if cat not in ma else "binding removed" if cat not in mb
                      else "model or label changed")
            result.append(BindingChange(cat, f"onnx:{name}", change, readers.get(cat, [])))
    return result


def _file_digest(path: Path) -> str:
    if str(path).startswith("sha256:"):  # a model pinned inside a bundle
        return str(path)[len("sha256:"):]
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return f"missing:{path}"
