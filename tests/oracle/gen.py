"""Random policies (as the oracle's data model and as `.pol` text) and random events.

Driven by `random.Random(seed)`, so a failing case is one seed; `shrink` removes pieces
of a failing world while a predicate still holds, to report a minimal example.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from typing import Any

from oracle.oracle import ACTIONS, STRATEGIES, Ctx, Policy, Rule, World

THRESHOLDS = (0.0, 0.05, 0.2, 0.35, 0.5, 0.7, 0.9, 1.0)
SCORE_CONSTS = (0.0, 0.1, 0.35, 0.5, 0.6, 0.9, 1.0)
NUM_CONSTS = (-1, 0, 2.5, 3, 10)
OPS = (">=", ">", "<", "<=", "==", "!=")


class Gen:
    def __init__(self, seed: int, *, hierarchy: bool = True, small: bool = False):
        self.r = random.Random(seed)
        self.hierarchy = hierarchy
        self.small = small
        # diamond siblings' own sugar rules would both be `allow#1`: a POL104 clash
        self.no_sugar = {"t.left", "t.right"}
        self.n_sets = 0
        # small worlds keep the grid small enough to brute-force whole spaces (lint, diff)
        self.thr = (0.35, 0.5, 0.7) if small else THRESHOLDS
        self.sconst = (0.5, 0.7) if small else SCORE_CONSTS + THRESHOLDS
        self.nconst = (0, 3) if small else NUM_CONSTS

    # ---- schema --------------------------------------------------------------------------

    def schema(self, pol: Policy) -> None:
        r = self.r
        n_roots = r.randint(1, 2 if self.small else 3)
        for i in range(n_roots):
            kids: dict[str, dict] = {}
            for k in range(r.choice([0, 0, 1, 2, 3] if not self.small else [0, 1, 2])):
                sub = {}
                if not self.small and r.random() < 0.15:
                    sub = {f"g{j}": {} for j in range(r.randint(1, 2))}
                kids[f"l{k}"] = sub
            pol.categories[f"c{i}"] = kids
        for i in range(r.randint(0, 1 if self.small else 2)):
            vals = tuple(f"v{j}" for j in range(r.randint(2, 3)))
            pol.contexts[f"e{i}"] = Ctx("enum", vals, r.choice([None, vals[0], vals[-1]]))
        for i in range(r.randint(0, 1 if self.small else 2)):
            pol.contexts[f"b{i}"] = Ctx("bool", (), r.choice([None, False, True]))
        for i in range(r.randint(0, 1)):
            pol.contexts[f"n{i}"] = Ctx("number", (), r.choice([None, 3, 0]))

    def derives(self, w: World, pol: Policy) -> None:
        """Bridges from later leaves to earlier ones only, so never a cycle (POL103)."""
        leaves = w.leaves(pol.name)
        if len(leaves) < 2 or self.r.random() > 0.25:
            return
        t = self.r.randrange(len(leaves) - 1)
        srcs = self.r.sample(leaves[t + 1:], min(len(leaves) - t - 1, self.r.randint(1, 2)))
        pol.derives.append((leaves[t], tuple(srcs)))

    def thresholds(self, w: World, pol: Policy) -> None:
        r = self.r
        if r.random() < 0.3:
            pol.thresholds["default"] = r.choice(self.thr)
        paths = self.paths(w, pol.name)
        for _ in range(r.choice([0, 0, 1, 2, 3])):
            pol.thresholds[r.choice(paths)] = r.choice(self.thr)

    def paths(self, w: World, name: str) -> list[str]:
        out: list[str] = []

        def walk(prefix: str, sub: dict) -> None:
            for k, v in sub.items():
                p = f"{prefix}.{k}" if prefix else k
                out.append(p)
                walk(p, v)
        walk("", w.tree(name))
        return out

    # ---- guards --------------------------------------------------------------------------

    def setexpr(self, w: World, name: str, depth: int = 0) -> tuple:
        r = self.r
        sets = [s for n in w.ancestors(name) for s in w.p[n].sets]
        k = r.randint(0, 5)
        if k <= 2 or depth >= 1:
            pool = self.paths(w, name)   # a literal holds categories; sets are named bare
            return ("lit", tuple(r.sample(pool, min(len(pool), r.randint(0 if k == 0 else 1, 3)))))
        if k == 3:
            pool = sets + [p for p in self.paths(w, name) if "." not in p]
            return ("ref", r.choice(pool))
        return (r.choice("|&-"), self.setexpr(w, name, depth + 1), self.setexpr(w, name, depth + 1))

    def atom(self, w: World, name: str) -> tuple:
        r = self.r
        ctxs = w.contexts(name)
        leaves = w.leaves(name)
        kinds = ["cat", "cat", "set", "score"] + ["ctx"] * (3 if ctxs else 0)
        k = r.choice(kinds)
        if k == "cat":
            return ("cat", r.choice(self.paths(w, name)))
        if k == "set":
            return (r.choice(["any", "any", "all", "none"]), self.setexpr(w, name))
        if k == "score":
            return ("score", r.choice(leaves), r.choice(OPS), r.choice(self.sconst))
        a = r.choice(sorted(ctxs))
        c = ctxs[a]
        if c.kind == "enum":
            op = r.choice(["==", "!=", "in", "not in"])
            if op in ("==", "!="):
                return ("enum", a, op, (r.choice(c.values),))
            return ("enum", a, op, tuple(r.sample(c.values, r.randint(1, len(c.values)))))
        if c.kind == "bool":
            return ("bool", a, r.choice(["", "", "", "== true", "== false", "!= true"]))
        return ("num", a, r.choice(OPS), r.choice(self.nconst))

    def guard(self, w: World, name: str, depth: int = 0) -> tuple:
        r = self.r
        if depth >= 2 or r.random() < 0.45:
            return self.atom(w, name)
        op = r.choice(["and", "and", "or", "or", "not"])
        if op == "not":
            return ("not", self.guard(w, name, depth + 1))
        return (op, tuple(self.guard(w, name, depth + 1) for _ in range(r.randint(2, 3))))

    def decision(self) -> tuple[str, str | None]:
        r = self.r
        a = r.choice(ACTIONS)
        arg = None
        if r.random() < (0.6 if a in ("warn", "redact", "redirect", "escalate") else 0.1):
            arg = r.choice(["x", "y"])
        return a, arg

    def rule(self, w: World, name: str, rid: str, *, kind: str = "rule") -> Rule:
        r = self.r
        a, arg = self.decision()
        if kind == "rule" and name not in self.no_sugar and r.random() < 0.12:
            sugar = r.choice(["allow", "disallow"])
            return Rule("", "allow" if sugar == "allow" else "refuse", None,
                        kind=sugar, sugar=self.setexpr(w, name))
        guard = ("true",) if r.random() < 0.08 else self.guard(w, name)
        prio = r.choice([0, 0, 0, 1, 2, -1]) if r.random() < 0.5 else 0
        locked = kind == "rule" and r.random() < 0.15
        return Rule(rid, a, arg, guard, prio, locked, kind)

    def rules(self, w: World, pol: Policy, prefix: str, n: int) -> None:
        for i in range(n):
            pol.rules.append(self.rule(w, pol.name, f"{prefix}{i}"))
        number_sugar(w, pol)

    def settings(self, pol: Policy, *, always_default: bool = False) -> None:
        r = self.r
        if r.random() < 0.8:
            pol.resolve = r.choice(STRATEGIES)
        if always_default or r.random() < 0.75:
            pol.default = self.decision()
        if r.random() < 0.3:
            pol.on_error = self.decision()

    def sets(self, w: World, pol: Policy) -> None:
        for _ in range(self.r.choice([0, 0, 1, 2])):
            pol.sets[f"s{self.n_sets}"] = self.setexpr(w, pol.name)
            self.n_sets += 1

    # ---- worlds --------------------------------------------------------------------------

    def world(self) -> tuple[World, str]:
        """A world and the name of the policy to decide with."""
        r = self.r
        shape = "flat"
        if self.hierarchy:
            shape = r.choices(["flat", "child", "chain", "diamond"], [4, 4, 1.5, 1])[0]
        base = Policy("t.base" if shape != "flat" else "t.flat")
        w = World({base.name: base})
        self.schema(base)
        self.derives(w, base)
        self.thresholds(w, base)
        self.sets(w, base)
        self.settings(base, always_default=shape != "flat" and r.random() < 0.7)
        self.rules(w, base, "p", r.randint(1, 4 if self.small else 6))
        if shape == "flat":
            return World({base.name: base}), base.name
        mids: list[str] = []
        if shape == "chain":
            mids = ["t.mid"]
        elif shape == "diamond":
            mids = ["t.left", "t.right"]
        pols = {base.name: base}
        for m in mids:
            mp = Policy(m, extends=[(base.name, r.random() < 0.2)])
            pols[m] = mp
            w = World(dict(pols))
            if shape == "chain":
                self.thresholds(w, mp)
            self.child_body(w, mp, {"t.mid": "m", "t.left": "a", "t.right": "b"}[m],
                            replace=shape == "chain")
            pols[m] = mp
        parents = mids or [base.name]
        child = Policy("t.child", version="2", extends=[(p, r.random() < 0.25) for p in parents])
        pols[child.name] = child
        w = World(dict(pols))
        if r.random() < 0.2:
            child.contexts["bx"] = Ctx("bool", (), r.choice([None, False]))
        if r.random() < 0.15:
            child.categories["cx"] = {}
        w = World(dict(pols))
        if shape != "diamond":
            self.thresholds(w, child)
        self.derives(w, child)
        self.child_body(w, child, "r")
        return World(dict(pols)), child.name

    def child_body(self, w: World, pol: Policy, prefix: str, replace: bool = True) -> None:
        r = self.r
        self.sets(w, pol)
        w = World({**w.p, pol.name: pol})
        if r.random() < 0.6:
            self.settings(pol)
        self.rules(w, pol, prefix, r.randint(0, 3 if self.small else 5))
        inherited = [fr for p, _ in pol.extends for fr in w.flat(p)]
        done: set[str] = set()
        for fr in inherited if replace else []:
            if fr.locked or "#" in fr.id or fr.id in done:
                continue
            what = r.random()
            if what < 0.2:
                o = self.rule(w, pol.name, fr.id, kind="override")
                pol.rules.insert(r.randint(0, len(pol.rules)), o)
                done.add(fr.id)
            elif what < 0.3:
                pol.drops.append(fr.id)
                done.add(fr.id)


# ---- rendering ---------------------------------------------------------------------------


def num(x: float) -> str:
    return repr(x) if isinstance(x, float) else str(x)


def set_text(e: tuple, top: bool = True) -> str:
    k = e[0]
    if k == "lit":
        return "{ " + ", ".join(e[1]) + " }" if e[1] else "{}"
    if k == "ref":
        return e[1]
    inner = f"{set_text(e[1], False)} {k} {set_text(e[2], False)}"
    return inner if top else f"({inner})"


def set_atom(e: tuple) -> str:
    t = set_text(e, False)
    return t


def guard_text(g: tuple, tight: bool, prec: int = 0) -> str:
    """prec: 0 top / or operand, 1 and operand, 2 not operand. `tight`: fewest parens."""
    k = g[0]
    if k == "cat":
        return g[1]
    if k in ("any", "all", "none"):
        return f"{k} {set_atom(g[1])}"
    if k == "score":
        return f"score({g[1]}) {g[2]} {num(g[3])}"
    if k == "num":
        return f"{g[1]} {g[2]} {num(g[3])}"
    if k == "enum":
        if g[2] in ("==", "!="):
            return f"{g[1]} {g[2]} {g[3][0]}"
        return f"{g[1]} {g[2]} {{ {', '.join(g[3])} }}"
    if k == "bool":
        return f"{g[1]} {g[2]}".strip()
    if k == "not":
        return f"not {guard_text(g[1], tight, 2)}"
    if k in ("and", "or"):
        mine = 1 if k == "and" else 0
        text = f" {k} ".join(guard_text(s, tight, mine + 1) for s in g[1])
        return text if tight and prec <= mine else f"({text})"
    raise ValueError(g)


def decision_text(a: str, arg: str | None) -> str:
    return f'{a}("{arg}")' if arg is not None else a


def rule_text(rule: Rule, tight: bool) -> str:
    if rule.kind in ("allow", "disallow"):
        return f"  {rule.kind} {set_text(rule.sugar)}\n"
    head = "override" if rule.kind == "override" else ("locked rule" if rule.locked else "rule")
    when = "" if rule.guard == ("true",) else f" when {guard_text(rule.guard, tight)}"
    prio = f" priority {rule.priority}" if rule.priority else ""
    return f"  {head} {rule.id}: {decision_text(rule.action, rule.arg)}{when}{prio}\n"


def cat_text(tree: dict) -> str:
    parts = []
    for k, v in tree.items():
        parts.append(f"{k} {{ {cat_text(v)} }}" if v else k)
    return ", ".join(parts)


def policy_text(pol: Policy, tight: bool = True) -> str:
    out = [f'policy {pol.name} version "{pol.version}" {{\n']
    if pol.extends:
        out.append("  extends " + ", ".join(p + (" narrowing" if n else "")
                                            for p, n in pol.extends) + "\n")
    for a, c in pol.contexts.items():
        if c.kind == "enum":
            t = f"enum {{ {', '.join(c.values)} }}"
        else:
            t = c.kind
        d = ""
        if c.default is not None:
            d = f" = {str(c.default).lower() if isinstance(c.default, bool) else c.default}"
        out.append(f"  context {a}: {t}{d}\n")
    if pol.categories:
        out.append(f"  categories {{ {cat_text(pol.categories)} }}\n")
    for target, srcs in pol.derives:
        out.append(f"  derive {target} = max({', '.join(srcs)})\n")
    for k, v in pol.thresholds.items():
        out.append(f"  threshold {k} {num(v)}\n")
    for k, e in pol.sets.items():
        out.append(f"  set {k} = {set_text(e)}\n")
    if pol.resolve:
        out.append(f"  resolve {pol.resolve}\n")
    if pol.default:
        out.append(f"  default {decision_text(*pol.default)}\n")
    if pol.on_error:
        out.append(f"  on_error {decision_text(*pol.on_error)}\n")
    for rule in pol.rules:
        out.append(rule_text(rule, tight))
    for d in pol.drops:
        out.append(f"  drop {d}\n")
    out.append("}\n")
    return "".join(out)


# ---- events ------------------------------------------------------------------------------


def event(r: random.Random, w: World, name: str, invalid: float = 0.03
          ) -> tuple[dict[str, Any], dict[str, Any]]:
    ctxs = w.contexts(name)
    consts = w.constants(name)
    context: dict[str, Any] = {}
    for a, c in ctxs.items():
        if c.default is not None and r.random() < 0.3:
            continue
        if c.kind == "enum":
            context[a] = r.choice(c.values)
        elif c.kind == "bool":
            context[a] = r.choice([False, True])
        else:
            context[a] = r.choice(w.values(name, a) + [r.uniform(-5, 15), 3])
    scores: dict[str, Any] = {}
    for leaf in w.leaves(name):
        if r.random() < 0.35:
            continue
        cs = sorted(consts[leaf])
        x = r.choice([r.choice(cs), r.choice(cs), r.choice(cs) + 1e-9, r.choice(cs) - 1e-9,
                      r.random(), 0, 1])
        if 0 <= x <= 1:
            scores[leaf] = x
    if r.random() < invalid:
        kind = r.randint(0, 5)
        if kind == 0 and any(c.default is None for c in ctxs.values()):
            context.pop(r.choice([a for a, c in ctxs.items() if c.default is None]), None)
        elif kind == 1:
            scores[r.choice(w.leaves(name))] = r.choice([1.5, -0.1, float("nan")])
        elif kind == 2:
            scores["nosuch"] = 0.5
        elif kind == 3:
            context["nosuch"] = True
        elif kind == 4 and ctxs:
            a = r.choice(sorted(ctxs))
            context[a] = {"enum": "zz", "bool": 1, "number": "3"}[ctxs[a].kind]
        elif kind == 5:
            inner = [p for p in w.tree(name) if w.tree(name)[p]]
            if inner:
                scores[inner[0]] = 0.5
    return context, scores


# ---- shrinking ---------------------------------------------------------------------------


def candidates(w: World) -> list[World]:
    """Smaller worlds: a policy's rule, drop, threshold, set, setting or guard part gone."""
    out = []
    for name, pol in w.p.items():
        for i in range(len(pol.rules)):
            p2 = copy.deepcopy(pol)
            del p2.rules[i]
            out.append(World({**w.p, name: p2}))
        for i in range(len(pol.drops)):
            p2 = copy.deepcopy(pol)
            del p2.drops[i]
            out.append(World({**w.p, name: p2}))
        for key in list(pol.thresholds):
            p2 = copy.deepcopy(pol)
            del p2.thresholds[key]
            out.append(World({**w.p, name: p2}))
        for attr in ("resolve", "default", "on_error"):
            if getattr(pol, attr) is not None:
                p2 = copy.deepcopy(pol)
                setattr(p2, attr, None)
                out.append(World({**w.p, name: p2}))
        for i, rule in enumerate(pol.rules):
            for g in sub_guards(rule.guard):
                p2 = copy.deepcopy(pol)
                p2.rules[i].guard = g
                out.append(World({**w.p, name: p2}))
            if rule.priority:
                p2 = copy.deepcopy(pol)
                p2.rules[i].priority = 0
                out.append(World({**w.p, name: p2}))
            if rule.arg is not None:
                p2 = copy.deepcopy(pol)
                p2.rules[i].arg = None
                out.append(World({**w.p, name: p2}))
    return out


def sub_guards(g: tuple) -> list[tuple]:
    if g[0] in ("and", "or"):
        out: list[tuple] = list(g[1])
        if len(g[1]) > 2:
            out += [(g[0], g[1][:i] + g[1][i + 1:]) for i in range(len(g[1]))]
        for i, s in enumerate(g[1]):
            out += [(g[0], g[1][:i] + (t,) + g[1][i + 1:]) for t in sub_guards(s)]
        return out
    if g[0] == "not":
        return [g[1], *[("not", t) for t in sub_guards(g[1])]]
    return [("true",)] if g[0] != "true" else []


def shrink(w: World, still_fails: Callable[[World], bool], budget: int = 400) -> World:
    progress = True
    while progress and budget > 0:
        progress = False
        for cand in candidates(w):
            budget -= 1
            if budget <= 0:
                break
            try:
                ok = still_fails(cand)
            except Exception:
                ok = False
            if ok:
                w, progress = cand, True
                break
    return w


def number_sugar(w: World, pol: Policy) -> None:
    """Sugar ids in order of appearance, after the inherited ones (language.md §2)."""
    sugar = {"allow": 0, "disallow": 0}
    for parent, _ in pol.extends:
        for fr in w.flat(parent):
            kind, _, n = fr.id.partition("#")
            if kind in sugar:
                sugar[kind] = max(sugar[kind], int(n))
    for rule in pol.rules:
        if rule.kind in sugar:
            sugar[rule.kind] += 1
            rule.id = f"{rule.kind}#{sugar[rule.kind]}"


def mutate(g: Gen, w: World, name: str) -> World:
    """A new version of policy `name` (its parents unchanged): the same schema, some
    rules, thresholds or settings changed (what `policyc diff` compares)."""
    r = g.r
    pol = copy.deepcopy(w.p[name])
    pol.version = "9"
    new = World({**w.p, name: pol})
    for _ in range(r.randint(1, 3)):
        what = r.randint(0, 7)
        named = [x for x in pol.rules if x.kind == "rule"]
        if what == 0 and named:
            x = r.choice(named)
            x.action, x.arg = g.decision()
        elif what == 1 and pol.rules:
            del pol.rules[r.randrange(len(pol.rules))]
        elif what == 2:
            pol.rules.insert(r.randint(0, len(pol.rules)),
                             g.rule(new, name, f"n{len(pol.rules)}x{r.randint(0, 99)}"))
        elif what == 3:
            g.thresholds(new, pol)
        elif what == 4:
            pol.resolve = r.choice(STRATEGIES)
        elif what == 5:
            pol.default = g.decision()
        elif what == 6 and named:
            x = r.choice(named)
            x.guard = g.guard(new, name)
        elif what == 7 and named:   # a rename: no semantic change
            x = r.choice(named)
            x.id = x.id + "_renamed"
        new = World({**w.p, name: pol})
    number_sugar(new, pol)
    return World({**w.p, name: pol})
