"""A reference interpreter of the `.pol` decision semantics, written from LANGUAGE.md alone.

It imports nothing from policyc: policies are the plain data model below (the generator
renders them to `.pol` text for policyc), and every question (decide an event, does one
region contain another, is a rule dead, where do two policies differ) is answered by
direct evaluation, over a grid of representative values where a whole space is needed.
The grid is exact: every atom compares one variable with a constant, so a value at each
constant and one between (and beyond) consecutive constants meets every piece.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from typing import Any

ACTIONS = ("allow", "warn", "redact", "redirect", "refuse", "escalate")
RANK = {a: i for i, a in enumerate(ACTIONS)}
STRATEGIES = ("most-restrictive", "least-restrictive", "first-match", "priority",
              "most-specific", "unique")

# Guards are tuples:
#   ("true",)                       no `when`
#   ("cat", path)                   leaf or inner category
#   ("any"|"all"|"none", setexpr)
#   ("score", leaf, op, x)
#   ("enum", attr, op, values)      op in ==, !=, in, not in
#   ("bool", attr, form)            form: "", "== true", "== false", "!= true", "!= false"
#   ("num", attr, op, n)
#   ("and", (g, ...)) / ("or", (g, ...)) / ("not", g)
# Set expressions: ("lit", (names, ...)) / ("ref", name) / ("|"|"&"|"-", a, b)


@dataclass
class Ctx:
    kind: str                       # enum | bool | number
    values: tuple[str, ...] = ()
    default: Any = None


@dataclass
class Rule:
    id: str
    action: str
    arg: str | None = None
    guard: tuple = ("true",)
    priority: int = 0
    locked: bool = False
    kind: str = "rule"              # rule | override | allow | disallow (sugar)
    sugar: tuple | None = None      # the set of a sugar rule


@dataclass
class Policy:
    name: str
    version: str = "1"
    extends: list[tuple[str, bool]] = field(default_factory=list)   # (name, narrowing)
    contexts: dict[str, Ctx] = field(default_factory=dict)
    categories: dict[str, dict] = field(default_factory=dict)       # name -> subtree
    thresholds: dict[str, float] = field(default_factory=dict)      # "default" or a path
    sets: dict[str, tuple] = field(default_factory=dict)
    resolve: str | None = None
    default: tuple[str, str | None] | None = None
    on_error: tuple[str, str | None] | None = None
    rules: list[Rule] = field(default_factory=list)
    drops: list[str] = field(default_factory=list)
    derives: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)


@dataclass
class FlatRule:
    id: str
    action: str
    arg: str | None
    guard: tuple
    priority: int
    locked: bool
    declarer: str
    order: int = 0

    @property
    def decision(self) -> tuple[str, str | None]:
        return (self.action, self.arg)


GRID_LIMIT = 100_000


class TooBig(Exception):
    """A brute-force question over more cells than a test can afford: skip the case."""


def memo(fn: Any) -> Any:
    """Per-World cache: a World is never changed once built, and the grid asks often."""
    def wrapper(self: World, *args: Any) -> Any:
        key = (fn.__name__, *args)
        try:
            return self._memo[key]
        except KeyError:
            out = self._memo[key] = fn(self, *args)
            return out
    return wrapper


class World:
    """A set of policies by name, and everything derived from their hierarchy."""

    def __init__(self, policies: dict[str, Policy]):
        self.p = policies
        self._memo: dict[tuple, Any] = {}

    # ---- hierarchy -----------------------------------------------------------------------

    @memo
    def ancestors(self, name: str) -> list[str]:
        """`name` and every policy above it, depth first in extends order, once each."""
        out: list[str] = []

        def walk(n: str) -> None:
            if n in out:
                return
            out.append(n)
            for parent, _ in self.p[n].extends:
                walk(parent)
        walk(name)
        return out

    @memo
    def contexts(self, name: str) -> dict[str, Ctx]:
        out: dict[str, Ctx] = {}
        for n in reversed(self.ancestors(name)):
            out.update(self.p[n].contexts)
        return out

    @memo
    def tree(self, name: str) -> dict[str, dict]:
        out: dict[str, dict] = {}

        def merge(dst: dict, src: dict) -> None:
            for k, v in src.items():
                merge(dst.setdefault(k, {}), v)
        for n in reversed(self.ancestors(name)):
            merge(out, self.p[n].categories)
        return out

    @memo
    def leaves(self, name: str) -> list[str]:
        out: list[str] = []

        def walk(prefix: str, sub: dict) -> None:
            for k, v in sub.items():
                path = f"{prefix}.{k}" if prefix else k
                if v:
                    walk(path, v)
                else:
                    out.append(path)
        walk("", self.tree(name))
        return out

    @memo
    def leaves_under(self, name: str, path: str) -> list[str]:
        return [leaf for leaf in self.leaves(name) if leaf == path or leaf.startswith(path + ".")]

    @memo
    def sources(self, name: str, leaf: str) -> frozenset[str]:
        """The leaf and every leaf bridged into it (`derive`, transitively; the
        declarations of every policy of the lineage add up)."""
        direct: dict[str, set[str]] = {}
        for n in self.ancestors(name):
            for target, srcs in self.p[n].derives:
                direct.setdefault(target, set()).update(srcs)
        out = {leaf}
        todo = [leaf]
        while todo:
            for s in direct.get(todo.pop(), ()):
                if s not in out:
                    out.add(s)
                    todo.append(s)
        return frozenset(out)

    @memo
    def thresholds(self, name: str) -> dict[str, float]:
        """Merged declarations: a child's key replaces its parents' (LANGUAGE.md §3)."""
        out: dict[str, float] = {}
        for n in reversed(self.ancestors(name)):
            out.update(self.p[n].thresholds)
        return out

    @memo
    def threshold(self, name: str, leaf: str) -> float:
        merged = self.thresholds(name)
        parts = leaf.split(".")
        for k in range(len(parts), 0, -1):
            key = ".".join(parts[:k])
            if key in merged:
                return merged[key]
        return merged.get("default", 0.5)

    def setting(self, name: str, attr: str) -> Any:
        """resolve/default/on_error: the child's, else the first parent's that has one."""
        own = getattr(self.p[name], attr)
        if own is not None:
            return own
        for parent, _ in self.p[name].extends:
            v = self.setting(parent, attr)
            if v is not None:
                return v
        return None

    @memo
    def strategy(self, name: str) -> str:
        return self.setting(name, "resolve") or "most-restrictive"

    @memo
    def default(self, name: str) -> tuple[str, str | None] | None:
        return self.setting(name, "default")

    @memo
    def on_error(self, name: str) -> tuple[str, str | None]:
        return self.setting(name, "on_error") or ("refuse", None)

    @memo
    def set_leaves(self, name: str, expr: tuple) -> frozenset[str]:
        sets: dict[str, tuple] = {}
        for n in reversed(self.ancestors(name)):
            sets.update(self.p[n].sets)
        kind = expr[0]
        if kind == "lit":
            out: set[str] = set()
            for member in expr[1]:
                out |= set(self.leaves_under(name, member))
            return frozenset(out)
        if kind == "ref":
            if expr[1] in sets:
                return self.set_leaves(name, sets[expr[1]])
            return frozenset(self.leaves_under(name, expr[1]))
        a, b = self.set_leaves(name, expr[1]), self.set_leaves(name, expr[2])
        return a | b if kind == "|" else a & b if kind == "&" else a - b

    @memo
    def flat(self, name: str) -> list[FlatRule]:
        """Flattened rule order (LANGUAGE.md §5): own rules, then each parent's, once."""
        pol = self.p[name]
        own: list[FlatRule] = []
        for r in pol.rules:
            guard = r.guard
            if r.kind in ("allow", "disallow"):
                guard = ("any", r.sugar)
            own.append(FlatRule(r.id, r.action, r.arg, guard, r.priority, r.locked, name))
        replaced = {r.id for r in pol.rules if r.kind == "override"} | set(pol.drops)
        out = list(own)
        seen = {(r.declarer, r.id) for r in out}
        for parent, _ in pol.extends:
            for r in self.flat(parent):
                if r.id in replaced or (r.declarer, r.id) in seen:
                    continue
                seen.add((r.declarer, r.id))
                out.append(r)
        return [replace(r, order=i) for i, r in enumerate(out)]

    @memo
    def through(self, child: str, declarer: str) -> list[str]:
        """Policies a rule declared in `declarer` came through on its way to `child`."""
        out = []
        for n in self.ancestors(child):
            if declarer in self.ancestors(n):
                out.append(n)
        return out

    # ---- evaluation ----------------------------------------------------------------------

    def holds(self, name: str, g: tuple, env: dict[str, Any], thr_of: str) -> bool:
        """Guard `g` of policy `name`'s world on `env`, with thresholds in force in `thr_of`."""
        k = g[0]
        if k == "true":
            return True
        if k == "cat":
            return any(self.score(name, env, leaf) >= self.threshold(thr_of, leaf)
                       for leaf in self.leaves_under(name, g[1]))
        if k in ("any", "all", "none"):
            vals = [self.score(name, env, leaf) >= self.threshold(thr_of, leaf)
                    for leaf in sorted(self.set_leaves(name, g[1]))]
            return any(vals) if k == "any" else all(vals) if k == "all" else not any(vals)
        if k == "score":
            return compare(self.score(name, env, g[1]), g[2], g[3])
        if k == "num":
            return compare(env[g[1]], g[2], g[3])
        if k == "enum":
            v, op, vals = env[g[1]], g[2], g[3]
            return {"==": v == vals[0], "!=": v != vals[0], "in": v in vals,
                    "not in": v not in vals}[op]
        if k == "bool":
            v, form = env[g[1]], g[2]
            return {"": v, "== true": v is True, "== false": v is False,
                    "!= true": v is not True, "!= false": v is not False}[form]
        if k == "and":
            return all(self.holds(name, s, env, thr_of) for s in g[1])
        if k == "or":
            return any(self.holds(name, s, env, thr_of) for s in g[1])
        if k == "not":
            return not self.holds(name, g[1], env, thr_of)
        raise ValueError(g)

    def matches(self, name: str, r: FlatRule, env: dict[str, Any]) -> bool:
        """A rule matches with the child's thresholds (late-bound); a locked rule also
        wherever it matched in any policy it came through (a floor never shrinks, §5),
        and with that policy's thresholds on the child's scores (a child's `derive`
        bridging a score up to a parent's threshold: the lower threshold of §5)."""
        if self.holds(name, r.guard, env, name):
            return True
        if r.locked:
            return any(self.holds(name, r.guard, env, n) or self.holds(n, r.guard, env, n)
                       for n in self.through(name, r.declarer) if n != name)
        return False

    # ---- events --------------------------------------------------------------------------

    def env(self, name: str, context: dict[str, Any], scores: dict[str, Any]
            ) -> dict[str, Any] | str:
        """The full event, or the reason it is invalid (LANGUAGE.md §1)."""
        ctxs = self.contexts(name)
        leaves = set(self.leaves(name))
        out: dict[str, Any] = dict.fromkeys(leaves, 0.0)
        for k, v in scores.items():
            if k not in leaves:
                return f"unknown category {k}"
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
                return f"bad score {k}={v!r}"
            out[k] = v
        for k in context:
            if k not in ctxs:
                return f"unknown attribute {k}"
        for k, c in ctxs.items():
            if k in context:
                v = context[k]
            elif c.default is not None:
                v = c.default
            else:
                return f"missing {k}"
            if c.kind == "enum" and not (isinstance(v, str) and v in c.values):
                return f"bad enum {k}={v!r}"
            if c.kind == "bool" and not isinstance(v, bool):
                return f"bad bool {k}={v!r}"
            if c.kind == "number" and (isinstance(v, bool) or not isinstance(v, (int, float))
                                       or v != v):
                return f"bad number {k}={v!r}"
            out[k] = v
        return out

    def score(self, name: str, env: dict[str, Any], leaf: str) -> float:
        """A derived leaf's score is the max of its own and its sources' (language.md §2)."""
        return max(env[s] for s in self.sources(name, leaf))

    # ---- resolution (LANGUAGE.md §4, §5) --------------------------------------------------

    def decide(self, name: str, env: dict[str, Any], rules: list[FlatRule] | None = None
               ) -> tuple[str, str | None, str | None, list[str]]:
        """(action, argument, deciding rule or None, matched ids in flattened order)."""
        rules = self.flat(name) if rules is None else rules
        matched = [r for r in rules if self.matches(name, r, env)]
        ids = [r.id for r in matched]
        win = self.winner(name, matched)
        if win is None:
            d = self.default(name) or self.on_error(name)
            return d[0], d[1], None, ids
        return win.action, win.arg, win.id, ids

    def winner(self, name: str, matched: list[FlatRule], floors: bool = True
               ) -> FlatRule | None:
        if not matched:
            return None
        s = self.strategy(name)
        if s in ("most-restrictive", "unique"):
            win = most_restrictive(matched)
        elif s == "least-restrictive":
            low = min(RANK[r.action] for r in matched)
            win = next(r for r in matched if RANK[r.action] == low)
        elif s == "first-match":
            win = matched[0]
        elif s == "priority":
            top = max(r.priority for r in matched)
            win = most_restrictive([r for r in matched if r.priority == top])
        else:
            inside = [r for r in matched
                      if all(o is r or self.contains(name, o, r) for o in matched)]
            if not inside:
                inside = [r for r in matched if not any(
                    o is not r and self.contains(name, r, o) and not self.contains(name, o, r)
                    for o in matched)]
            win = most_restrictive(inside)
        locked = [r for r in matched if r.locked]
        if locked and floors:
            floor = most_restrictive(locked)
            if RANK[floor.action] > RANK[win.action]:
                win = floor
        return win

    # ---- regions -------------------------------------------------------------------------

    def contains(self, name: str, outer: FlatRule, inner: FlatRule) -> bool:
        """outer's region contains inner's over the whole event space (brute force)."""
        key = (name, outer.declarer, outer.id, inner.declarer, inner.id)
        cache = self.__dict__.setdefault("_contains", {})
        if key not in cache:
            vs = sorted(self.rule_vars(name, outer) | self.rule_vars(name, inner))
            size = 1
            for v in vs:
                size *= len(self.values(name, v))
            if size > GRID_LIMIT:
                raise TooBig(f"{size} cells")
            cache[key] = all(not self.matches(name, inner, env) or self.matches(name, outer, env)
                             for env in self.grid(name, vs))
        return cache[key]

    @memo
    def guard_vars(self, name: str, g: tuple) -> set[str]:
        leaves = set(self.leaves(name))
        out: set[str] = set()
        for v in self._guard_vars(name, g):
            out |= self.sources(name, v) if v in leaves else {v}
        return out

    def _guard_vars(self, name: str, g: tuple) -> set[str]:
        k = g[0]
        if k == "true":
            return set()
        if k == "cat":
            return set(self.leaves_under(name, g[1]))
        if k in ("any", "all", "none"):
            return set(self.set_leaves(name, g[1]))
        if k in ("score", "num", "enum", "bool"):
            return {g[1]}
        if k in ("and", "or"):
            return set().union(*(self._guard_vars(name, s) for s in g[1]))
        return self._guard_vars(name, g[1])

    def rule_vars(self, name: str, r: FlatRule) -> set[str]:
        return self.guard_vars(name, r.guard)

    @memo
    def constants(self, name: str) -> dict[str, set[float]]:
        """Every constant each variable is compared with, in any policy of the world."""
        out: dict[str, set[float]] = {}
        leaves = self.leaves(name)
        for leaf in leaves:
            out[leaf] = {0.0, 1.0}
            for n in self.p:
                if leaf in self.leaves(n):
                    out[leaf].add(self.threshold(n, leaf))
        for c in self.contexts(name):
            out.setdefault(c, set())

        def walk(g: tuple) -> None:
            if g[0] in ("score", "num"):
                out.setdefault(g[1], set()).add(float(g[3]))
            elif g[0] in ("and", "or"):
                for s in g[1]:
                    walk(s)
            elif g[0] == "not":
                walk(g[1])
        for pol in self.p.values():
            for r in pol.rules:
                walk(r.guard)
        own = {leaf: set(out[leaf]) for leaf in leaves}
        for leaf in leaves:   # a bridged source is compared with its target's constants
            for src in self.sources(name, leaf):
                out[src] |= own[leaf]
        return out

    @memo
    def values(self, name: str, var: str) -> list[Any]:
        ctxs = self.contexts(name)
        if var in ctxs:
            c = ctxs[var]
            if c.kind == "enum":
                return list(c.values)
            if c.kind == "bool":
                return [False, True]
            cs = sorted(self.constants(name).get(var, set()) | {0.0})
            return between(cs, cs[0] - 1.0, cs[-1] + 1.0)
        cs = sorted(c for c in self.constants(name)[var] if 0 <= c <= 1)
        return between(cs, None, None)

    def grid(self, name: str, variables: list[str]) -> Any:
        base: dict[str, Any] = dict.fromkeys(self.leaves(name), 0.0)
        for k, c in self.contexts(name).items():
            base[k] = c.default if c.default is not None else self.values(name, k)[0]
        choices = [self.values(name, v) for v in variables]
        for combo in itertools.product(*choices):
            env = dict(base)
            env.update(zip(variables, combo, strict=True))
            yield env

    def all_vars(self, name: str) -> list[str]:
        return [*self.leaves(name), *self.contexts(name)]


def between(cs: list[float], lo: float | None, hi: float | None) -> list[float]:
    out = []
    if lo is not None:
        out.append(lo)
    for i, c in enumerate(cs):
        out.append(c)
        if i + 1 < len(cs):
            out.append((c + cs[i + 1]) / 2)
    if hi is not None:
        out.append(hi)
    return out


def compare(v: float, op: str, x: float) -> bool:
    return {">=": v >= x, ">": v > x, "<": v < x, "<=": v <= x, "==": v == x,
            "!=": v != x}[op]


def most_restrictive(rules: list[FlatRule]) -> FlatRule:
    """The most restrictive; among equally restrictive, the first in flattened order."""
    top = max(RANK[r.action] for r in rules)
    return next(r for r in rules if RANK[r.action] == top)


# ---- whole-space questions (lint, compile's refusals, diff), by brute force over the grid ----


def read_vars(w: World, name: str) -> list[str]:
    """Every variable a rule of `name`'s world reads (the others change no decision)."""
    known = set(w.all_vars(name))
    out: set[str] = set()
    for n in w.ancestors(name):
        for r in w.flat(n):
            out |= w.rule_vars(name, r) & known
    return sorted(out)


@dataclass
class Cell:
    env: dict[str, Any]
    matched: list[FlatRule]
    pick: FlatRule | None       # the strategy's pick, before floors
    final: FlatRule | None      # the deciding rule (None: default or gap)
    decision: tuple[str, str | None] | None   # None: a gap (no rule, no default)


def cells(w: World, name: str, variables: list[str] | None = None) -> list[Cell]:
    variables = read_vars(w, name) if variables is None else variables
    rules = w.flat(name)
    out = []
    for env in w.grid(name, variables):
        matched = [r for r in rules if w.matches(name, r, env)]
        pick = floorless_pick(w, name, matched)
        final = w.winner(name, matched)
        if final is not None:
            decision: tuple[str, str | None] | None = final.decision
        else:
            decision = w.default(name)
        out.append(Cell(env, matched, pick, final, decision))
    return out


def floorless_pick(w: World, name: str, matched: list[FlatRule]) -> FlatRule | None:
    return w.winner(name, matched, floors=False)


def candidates_at(w: World, name: str, matched: list[FlatRule]) -> list[FlatRule]:
    """The rules a strategy cannot choose between at one event (for ambiguity)."""
    s = w.strategy(name)
    if not matched or s in ("most-restrictive", "least-restrictive", "first-match"):
        return matched[:1]
    if s == "unique":
        return matched
    if s == "priority":
        top = max(r.priority for r in matched)
        return [r for r in matched if r.priority == top]
    inside = [r for r in matched if all(o is r or w.contains(name, o, r) for o in matched)]
    if not inside:
        inside = [r for r in matched if not any(
            o is not r and w.contains(name, r, o) and not w.contains(name, o, r)
            for o in matched)]
    return inside


def lint_facts(w: World, name: str) -> dict[str, Any]:
    """What the spec defines exactly: unsatisfiable, dead rules, a gap, ambiguity,
    loosened floors (POL301), narrowing (POL302) and loosening (POL303) per parent."""
    cs = cells(w, name)
    rules = w.flat(name)
    sat = {r.order for c in cs for r in c.matched}
    decides = {c.final.order for c in cs if c.final is not None}
    own = [r for r in rules if r.declarer == name]
    facts: dict[str, Any] = {
        "unsat": sorted(r.id for r in own if r.order not in sat),
        "dead": sorted(r.id for r in own
                       if r.order in sat and r.order not in decides and not r.locked),
        "gap": any(c.decision is None for c in cs),
        "ambiguous": any(len({r.decision for r in candidates_at(w, name, c.matched)}) > 1
                         for c in cs),
        "floor_loosened": sorted({
            c.pick.id for c in cs
            if c.pick is not None and c.pick.declarer == name and not c.pick.locked
            and any(r.locked and r.declarer != name and RANK[r.action] > RANK[c.pick.action]
                    and w.rule_vars(name, r) & w.rule_vars(name, c.pick)
                    for r in c.matched)}),
    }
    facts["redundant"] = sorted(
        r.id for r in own if r.order in decides and not r.locked
        and all(without(w, name, c, r) == c.decision for c in cs))
    loosened: dict[str, bool] = {}
    for parent, _ in w.p[name].extends:
        loosened[parent] = any(loosens(c.decision, decision_at(w, parent, c.env)) for c in cs)
    facts["loosened"] = loosened
    return facts


def without(w: World, name: str, c: Cell, r: FlatRule) -> tuple[str, str | None] | None:
    """The decision at a cell with rule `r` removed (POL204: redundant)."""
    win = w.winner(name, [m for m in c.matched if m is not r])
    return win.decision if win is not None else w.default(name)


def decision_at(w: World, name: str, env: dict[str, Any]) -> tuple[str, str | None] | None:
    """`name`'s decision on `env` (extra variables ignored); None for a gap."""
    win = w.winner(name, [r for r in w.flat(name) if w.matches(name, r, env)])
    return win.decision if win is not None else w.default(name)


def loosens(child: tuple | None, parent: tuple | None) -> bool:
    """A gap where the parent decides counts as loosened (POL302's reading)."""
    if parent is None:
        return False
    if child is None:
        return True
    return RANK[child[0]] < RANK[parent[0]]


def raised_floor_thresholds(w: World, name: str) -> list[tuple[str, str]]:
    """(locked rule, leaf) where the child's threshold is above a parent's and the floor
    would lose ground by it (POL304: the floor matches somewhere only with the parent's
    thresholds; a raise that shrinks nothing loosens nothing)."""
    out = []
    cs = cells(w, name)
    for r in w.flat(name):
        if not r.locked or r.declarer == name:
            continue
        cats = cat_leaves(w, name, r.guard)
        for n, _ in w.p[name].extends:   # a raise in a parent is the parent's finding
            if n not in w.through(name, r.declarer):
                continue
            if not any(w.matches(n, r, c.env) and not w.holds(name, r.guard, c.env, name)
                       for c in cs):
                continue
            for leaf in cats:
                if w.threshold(name, leaf) > w.threshold(n, leaf):
                    out.append((r.id, leaf))
    return sorted(set(out))


def cat_leaves(w: World, name: str, g: tuple) -> set[str]:
    """Leaves a guard reads through a threshold (category atoms and sets, not score())."""
    k = g[0]
    if k == "cat":
        return set(w.leaves_under(name, g[1]))
    if k in ("any", "all", "none"):
        return set(w.set_leaves(name, g[1]))
    if k in ("and", "or"):
        return set().union(*(cat_leaves(w, name, s) for s in g[1]))
    if k == "not":
        return cat_leaves(w, name, g[1])
    return set()


def diff_cells(old: World, old_name: str, new: World, new_name: str
               ) -> list[tuple[dict[str, Any], str, tuple, tuple]]:
    """Every grid event whose decision differs, with its kind (LANGUAGE.md, CLI.md *Diff*):
    tightened / loosened by restrictiveness, changed for the same action, other argument.
    A gap (no rule, no default) is an outcome of its own, `(None, None)`, whose direction
    is that of the `on_error` decision the runtime takes there."""
    variables = sorted(set(read_vars(old, old_name)) | set(read_vars(new, new_name)))
    # one grid cut at both versions' constants: widen the grid world's (a finer grid
    # answers its own questions exactly too)
    grid_world = old if len(old.leaves(old_name)) >= len(new.leaves(new_name)) else new
    gname = old_name if grid_world is old else new_name
    consts = {**grid_world.constants(gname)}
    other = new if grid_world is old else old
    oname = new_name if grid_world is old else old_name
    for k, v in other.constants(oname).items():
        consts[k] = consts.get(k, set()) | v
    grid_world._memo[("constants", gname)] = consts
    for k in variables:
        grid_world._memo.pop(("values", gname, k), None)
    out = []
    for env in grid_world.grid(gname, variables):
        a = decision_at(old, old_name, env)
        b = decision_at(new, new_name, env)
        if a != b:
            ra = a or old.on_error(old_name)
            rb = b or new.on_error(new_name)
            kind = ("tightened" if RANK[rb[0]] > RANK[ra[0]] else
                    "loosened" if RANK[rb[0]] < RANK[ra[0]] else "changed")
            out.append((env, kind, a or (None, None), b or (None, None)))
    return out
