"""Why two versions decide differently: the edits between the two flattened programs.

Rules are compared by id (guard as written, action, priority, locked), then the
thresholds in force, the named sets, the strategy, the default, the parents and their
versions. A diff row's causes are the edits of the rules that decide its witness in
either version, the threshold edits of the categories it constrains, a strategy edit
where several rules match its witness, and the edits of the parents those came from; a
row none of these explains gets the policy-wide edits (strategy, default, sets).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from policyc.semantics.formula import Atom, FAnd, FConst, FNot, FOr, Formula
from policyc.semantics.model import FlatPolicy, FlatRule
from policyc.syntax.fmt import format_number, guard_text


@dataclass(frozen=True)
class Cause:
    kind: str  # rule | threshold | set | strategy | default | parent
    target: str | None  # the rule id, category (None: `threshold default`), set or parent
    change: str  # added | removed | changed; for a rule edit, the field: guard, action, …
    old: str | None = None
    new: str | None = None
    origin: str = ""  # the policy that declared the edited item (for parent edits)

    @property
    def text(self) -> str:
        head = {"rule": f"rule {self.target}", "threshold": f"threshold {self.target or 'default'}",
                "set": f"set {self.target}", "parent": f"parent {self.target}",
                "strategy": "strategy", "default": "default"}[self.kind]
        if self.change in ("added", "removed"):
            return f"{head} {self.change}"
        field = f": {self.change}" if self.kind == "rule" else ""
        return f"{head}{field} {self.old} → {self.new}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.target, "change": self.change,
                "old": self.old, "new": self.new, "text": self.text}


def _rule_fields(r: FlatRule, region: bool = False) -> dict[str, str]:
    """The fields a rule edit compares; `region`: the guard as the region it stands for
    (`formula_text`), to compare with a rule read back from a bundle."""
    if region:
        guard = formula_text(r.formula)
    elif r.guard is not None:
        guard = guard_text(r.guard)
    elif r.sugar is not None:
        guard = f"{r.sugar} " + " | ".join("{" + ", ".join(sorted(s)) + "}"
                                           for s in r.category_sets)
    else:  # from a bundle: the region it stores
        guard = formula_text(r.formula)
    return {"guard": guard, "action": str(r.decision), "priority": str(r.priority),
            "locked": str(r.locked).lower()}


def formula_text(f: Formula) -> str:
    """A formula in guard-like words (a rule read back from a bundle has no guard as
    written): `self_harm.instructions >= 0.5 and audience in {teen}`; a score's upper
    bound 1 is left out."""
    if isinstance(f, Atom):
        numeric = isinstance(f.value, (int, float)) and not isinstance(f.value, bool)
        if f.op == "in" or f.op == "==" and not numeric:  # one form for a set of values
            members = f.value if f.op == "in" else (f.value,)
            values = sorted(str(v).lower() if isinstance(v, bool) else str(v)
                            for v in members)  # type: ignore[union-attr]
            return f"{f.var} in {{{', '.join(values)}}}"
        value = format_number(f.value) if isinstance(f.value, float) else str(f.value)
        return f"{f.var} {f.op} {value}"
    if isinstance(f, FConst):
        return "true" if f.value else "false"
    if isinstance(f, FNot):
        return f"not ({formula_text(f.item)})"
    joiner = " and " if isinstance(f, FAnd) else " or "
    parts = [p for p in f.items if not (isinstance(f, FAnd) and isinstance(p, Atom)
                                         and p.op == "<=" and p.value == 1.0)]
    texts = [f"({formula_text(p)})" if isinstance(p, (FAnd, FOr)) else formula_text(p)
             for p in parts or f.items]
    return joiner.join(texts)


def _from_bundle(r: FlatRule) -> bool:
    return r.guard is None and r.sugar is None


def program_edits(old: FlatPolicy, new: FlatPolicy) -> list[Cause]:
    """Every edit from `old` to `new`, in a stable order."""
    out: list[Cause] = []
    rules_old = {r.id: r for r in old.rules}
    rules_new = {r.id: r for r in new.rules}
    for rid in [*rules_old, *(r for r in rules_new if r not in rules_old)]:
        a, b = rules_old.get(rid), rules_new.get(rid)
        if a is None or b is None:
            r = a or b
            assert r is not None
            out.append(Cause("rule", rid, "added" if a is None else "removed", origin=r.origin))
            continue
        region = _from_bundle(a) != _from_bundle(b)  # a source against a bundle
        fa, fb = _rule_fields(a, region), _rule_fields(b, region)
        out += [Cause("rule", rid, k, fa[k], fb[k], b.origin) for k in fa if fa[k] != fb[k]]
        if a.locked and b.locked and fa["guard"] == fb["guard"] and not region:
            # a floor keeps the lower threshold of where it was declared and the child
            # (LANGUAGE.md §5): an ancestor's threshold edit moves it without a visible edit
            ra, rb = formula_text(a.formula), formula_text(b.formula)
            if ra != rb:
                out.append(Cause("rule", rid, "floor region", ra, rb, b.origin))
    cats = sorted(set(old.categories) | set(new.categories))
    for key in [None, *cats]:
        ta, tb = old.thresholds.get(key), new.thresholds.get(key)
        if ta is None and tb is None:
            continue
        # a category's value in force on each side (a key one side declares and the other
        # inherits compares with the inherited value: a bundle records every leaf's)
        va = (old.threshold(key) if key in old.categories else None) if key else \
            (ta.value if ta else None)
        vb = (new.threshold(key) if key in new.categories else None) if key else \
            (tb.value if tb else None)
        if va == vb:
            continue
        origin = (tb or ta).origin  # type: ignore[union-attr]
        out.append(Cause("threshold", key, "changed",
                         format_number(va) if va is not None else "(inherited)",
                         format_number(vb) if vb is not None else "(inherited)", origin))
    for name in sorted(set(old.sets) | set(new.sets)):
        sa, sb = old.sets.get(name), new.sets.get(name)
        if sa != sb:
            if sa is None or sb is None:
                out.append(Cause("set", name, "added" if sa is None else "removed"))
            else:
                out.append(Cause("set", name, "changed", _set_text(sa), _set_text(sb)))
    if old.strategy != new.strategy:
        out.append(Cause("strategy", None, "changed", old.strategy, new.strategy))
    if old.default != new.default:
        out.append(Cause("default", None, "changed", str(old.default or "(none)"),
                         str(new.default or "(none)")))
    pa = {n: p.version for n, p in old.ancestors.items() if n != old.name}
    pb = {n: p.version for n, p in new.ancestors.items() if n != new.name}
    for name in [*pa, *(n for n in pb if n not in pa)]:
        if name not in pb or name not in pa:
            out.append(Cause("parent", name, "added" if name not in pa else "removed"))
        elif pa[name] != pb[name]:
            out.append(Cause("parent", name, "changed", pa[name], pb[name]))
    return out


def _set_text(s: frozenset[str]) -> str:
    return "{" + ", ".join(sorted(s)) + "}"


def row_causes(edits: list[Cause], rules: set[str | None], region_vars: set[str],
               witness: dict[str, Any], choice: bool = False) -> list[Cause]:
    """The edits that make a row differ (see the module docstring); `rules`: the rules
    deciding its witness in both versions (None: the default), `region_vars`: the
    variables its region constrains, `choice`: whether several rules match its witness in
    either version (a strategy edit then counts: it picks among them). A threshold edit
    counts where the row constrains a score under that category and its witness lies
    between the two thresholds."""
    out = [e for e in edits if e.kind == "rule" and e.target in rules]
    if choice:
        out += [e for e in edits if e.kind == "strategy"]
    per_score = _threshold_edits_per_score(edits, region_vars)
    for v, es in per_score.items():  # one edit between: the score's other edits too
        if any(_between(witness.get(v, 0.0), e) for e in es):
            out += [e for e in es if e not in out]
    origins = {e.origin for e in out}
    out += [e for e in edits if e.kind == "parent" and e.target in origins]
    if None in rules:
        out += [e for e in edits if e.kind == "default"]
    if not [e for e in out if e.kind != "parent"]:
        out += [e for e in edits if e.kind in ("strategy", "default", "set")
                and e not in out]
    if not [e for e in out if e.kind != "parent"]:
        # nothing local: a threshold edit can still decide it where the witness is not
        # between the two values, by changing which rule is the more specific one (under
        # `most-specific`, one rule's region now inside another's): those on the row's
        # scores first, else any
        near = list(dict.fromkeys(e for es in per_score.values() for e in es))
        out += near or [e for e in edits if e.kind == "threshold"]
    return out


def _threshold_edits_per_score(edits: list[Cause], region_vars: set[str]) -> dict[str, list[Cause]]:
    """Per score the row constrains, the threshold edits of its keys (`c.b`, `c`,
    `threshold default`). All of them, not only the most specific: reverting `threshold c`
    alone can leave `c.b` where an edited `threshold default` puts it, so both are the
    row's causes (the cause-revert property test)."""
    out: dict[str, list[Cause]] = {}
    for v in region_vars:
        covering = [e for e in edits if e.kind == "threshold" and (
            e.target is None or v == e.target or v.startswith(e.target + "."))]
        if covering:
            out[v] = covering
    return out


def _between(value: Any, e: Cause) -> bool:
    try:
        lo, hi = sorted((float(e.old or 0.5), float(e.new or 0.5)))
    except ValueError:  # an inherited threshold: the bounds are not known here
        return True
    return isinstance(value, (int, float)) and not isinstance(value, bool) and lo <= value < hi
