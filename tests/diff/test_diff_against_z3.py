"""Cross-check of `policyc diff` against z3 on random policy pairs (a sample).

Both versions' decisions are encoded as SMT terms straight from the flattened rules
(an if-then-else chain in strategy order, then the locked floor); z3 must find no event
outside the reported regions where the versions disagree (complete), and every
reported witness must make them disagree (sound).
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from semantics.test_decision_map_property import load, policies

from policyc.semantics.formula import Atom, FAnd, FConst, FNot, FOr
from policyc.semantics.regions.boxes import build_space, witness
from policyc.semantics.regions.compare import diff_maps
from policyc.semantics.regions.decision_map import KEY_ORDERED, DecisionMap, floor_key, rule_key

z3 = pytest.importorskip("z3")


def _vars(space):  # type: ignore[no-untyped-def]
    out = {}
    for v in space.vars:
        if v.kind in ("score", "number"):
            out[v.name] = z3.Real(v.name)
        elif v.kind == "bool":
            out[v.name] = z3.Bool(v.name)
        else:
            out[v.name] = z3.Int(v.name)
    return out


def _domain(space, zv):  # type: ignore[no-untyped-def]
    cons = []
    for v in space.vars:
        x = zv[v.name]
        if v.kind == "score":
            cons += [x >= 0, x <= 1]
        elif v.kind == "enum":
            cons += [x >= 0, x < len(v.values)]
    return cons


def _atom(a: Atom, space, zv):  # type: ignore[no-untyped-def]
    var = space.var(a.var)
    x = zv[a.var]
    if var.kind == "enum":
        values = a.value if a.op == "in" else {a.value}
        hit = z3.Or([x == var.values.index(v) for v in values]) if values else z3.BoolVal(False)
        return z3.Not(hit) if a.op == "!=" else hit
    if var.kind == "bool":
        return x if a.value else z3.Not(x)
    c = z3.RealVal(str(a.value))
    return {"==": x == c, "!=": x != c, "<": x < c, "<=": x <= c, ">": x > c,
            ">=": x >= c}[a.op]


def _formula(f, space, zv):  # type: ignore[no-untyped-def]
    if isinstance(f, Atom):
        return _atom(f, space, zv)
    if isinstance(f, FAnd):
        return z3.And([_formula(g, space, zv) for g in f.items])
    if isinstance(f, FOr):
        return z3.Or([_formula(g, space, zv) for g in f.items])
    if isinstance(f, FNot):
        return z3.Not(_formula(f.item, space, zv))
    assert isinstance(f, FConst)
    return z3.BoolVal(f.value)


def _decision_term(policy, space, zv, ids):  # type: ignore[no-untyped-def]
    """The decision id as a z3 term, from LANGUAGE.md §4–§5 (key-ordered strategies)."""
    rules = list(policy.rules)
    default = ids.setdefault(policy.default, len(ids))
    ordered = sorted(rules, key=lambda r: rule_key(r, policy.strategy), reverse=True)
    term = z3.IntVal(default)
    restr = z3.IntVal(-1)
    for r in reversed(ordered):
        g = _formula(r.formula, space, zv)
        term = z3.If(g, z3.IntVal(ids.setdefault(r.decision, len(ids))), term)
        restr = z3.If(g, z3.IntVal(r.decision.restrictiveness), restr)
    floor = z3.IntVal(-1)
    floor_restr = z3.IntVal(-1)
    for r in sorted((r for r in rules if r.locked), key=floor_key):
        g = _formula(r.formula, space, zv)
        floor = z3.If(g, z3.IntVal(ids.setdefault(r.decision, len(ids))), floor)
        floor_restr = z3.If(g, z3.IntVal(r.decision.restrictiveness), floor_restr)
    return z3.If(floor_restr > restr, floor, term)


def _box_term(box, space, zv):  # type: ignore[no-untyped-def]
    cons = []
    for i, mask in box.items():
        var = space.vars[i]
        x = zv[var.name]
        alts = []
        for p in var.pieces(mask):
            if var.kind == "enum":
                alts.append(x == p)
            elif var.kind == "bool":
                alts.append(x if var.values[p] else z3.Not(x))
            else:
                lo, lo_c, hi, hi_c = var.bounds(p)
                part = []
                if lo != -math.inf:
                    part.append(x >= lo if lo_c else x > lo)
                if hi != math.inf:
                    part.append(x <= hi if hi_c else x < hi)
                alts.append(z3.And(part) if part else z3.BoolVal(True))
        cons.append(z3.Or(alts))
    return z3.And(cons) if cons else z3.BoolVal(True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies(), policies())
def test_diff_agrees_with_z3(old_text: str, new_text: str) -> None:
    old, new = load(old_text), load(new_text)
    if old.strategy not in KEY_ORDERED or new.strategy not in KEY_ORDERED:
        return  # the SMT encoding here covers the key-ordered strategies
    if old.default is None or new.default is None:
        return
    space = build_space([old, new])
    diffs = diff_maps(DecisionMap(old, space), DecisionMap(new, space))
    zv = _vars(space)
    ids: dict[object, int] = {}
    d_old = _decision_term(old, space, zv, ids)
    d_new = _decision_term(new, space, zv, ids)
    solver = z3.Solver()
    solver.add(*_domain(space, zv))
    # complete: outside every reported region the versions agree
    solver.push()
    solver.add(d_old != d_new)
    for d in diffs:
        solver.add(z3.Not(_box_term(d.box, space, zv)))
    assert solver.check() == z3.unsat, (old_text, new_text, solver.model())
    solver.pop()
    # sound: each witness makes them disagree
    for d in diffs:
        w = witness(d.box, space)
        solver.push()
        for v in space.vars:
            value = w.get(v.name, 0.0 if v.kind == "score" else None)
            x = zv[v.name]
            if v.kind == "enum":
                solver.add(x == v.values.index(value))
            elif v.kind == "bool":
                solver.add(x == bool(value))
            else:
                solver.add(x == z3.RealVal(str(value)))
        solver.add(d_old == d_new)
        assert solver.check() == z3.unsat, (old_text, new_text, w)
        solver.pop()
