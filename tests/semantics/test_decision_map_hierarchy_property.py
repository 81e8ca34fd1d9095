"""Decision map, dead rules, ambiguity and narrowing on random *hierarchies*, against brute force.

Policies are generated as data (a parent, a chain grandparent → parent → child, or two
parents), written out as `.pol` files and run through the real front end (parse, hierarchy,
flatten). The reference below is an independent interpreter of LANGUAGE.md §3–§5 working on
the generated data, never on the front end's output: it flattens the hierarchy itself
(child's rules in source order with overrides where written, then each parent's in
`extends` order; `drop` and `override` remove the parent's rule), merges thresholds (a
child's key replaces the parent's, also for the parent's rules), evaluates guards, resolves
with the six strategies and applies locked floors (a locked rule keeps the region it has in
each parent it came through: a child's threshold tightens a floor, never loosens it). It is
compared with the `DecisionMap` on every cell of a grid that refines the decision map's own
grid of cut points.
"""

from __future__ import annotations

import itertools
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policyc.semantics.model import FlatPolicy
from policyc.semantics.program import Program, load_program
from policyc.semantics.regions.decision_map import DecisionMap
from policyc.semantics.regions.search import where_decides

ACTIONS = ("allow", "warn", "redact", "redirect", "refuse", "escalate")
RESTR = {a: i for i, a in enumerate(ACTIONS)}
STRATEGIES = ("most-restrictive", "least-restrictive", "first-match", "priority",
              "most-specific", "unique")
LEAVES = ("c.a", "c.b")
THRESHOLD_KEYS = ("default", "c", "c.a", "c.b")
CONSTANTS = (0.3, 0.6)  # thresholds and score bounds; 0.5 is the implicit threshold
AGES = (18.0,)
AUD = ("x", "y", "z")
SCHEMA = ("  context aud: enum { x, y, z }\n  context pro: bool\n  context age: number\n"
          "  categories { c { a, b } }\n")

Guard = Union[tuple, None]  # nested tuples, see `guards`
Decision = tuple[str, Union[str, None]]


# ---- the generated hierarchy, as data ---------------------------------------------------------


@dataclass
class Rule:
    id: str
    decision: Decision
    guard: Guard
    priority: int
    locked: bool = False
    override: bool = False
    origin: str = ""


@dataclass
class Policy:
    name: str
    parents: list[tuple[str, bool]]  # (name, narrowing)
    schema: bool
    thresholds: dict[str, float]
    strategy: str | None
    default: Decision | None
    items: list[Rule | str] = field(default_factory=list)  # a str is `drop ID`


@st.composite
def atoms(draw: Any) -> tuple:
    kind = draw(st.integers(0, 6))
    if kind == 0:
        return ("cat", draw(st.sampled_from(("c.a", "c.b", "c"))))
    if kind == 1:
        members = tuple(draw(st.lists(st.sampled_from(("c.a", "c.b", "c")), min_size=1,
                                      max_size=2, unique=True)))
        return ("set", draw(st.sampled_from(("any", "all", "none"))), members)
    if kind == 2:
        return ("score", draw(st.sampled_from(LEAVES)),
                draw(st.sampled_from((">=", ">", "<", "<="))), draw(st.sampled_from(CONSTANTS)))
    if kind == 3:
        op = draw(st.sampled_from(("==", "!=", "in", "not in")))
        if op in ("==", "!="):
            return ("enum", op, (draw(st.sampled_from(AUD)),))
        return ("enum", op, tuple(draw(st.lists(st.sampled_from(AUD), min_size=1, max_size=2,
                                                unique=True))))
    if kind == 4:
        return ("bool", draw(st.booleans()))
    return ("num", draw(st.sampled_from(("<", "<=", ">", ">=", "=="))), draw(st.sampled_from(AGES)))


@st.composite
def guards(draw: Any, depth: int = 0) -> Guard:
    if depth == 0 and draw(st.integers(0, 7)) == 0:
        return None  # no `when`: always true
    if depth >= 2 or draw(st.integers(0, 2)) == 0:
        return draw(atoms())
    op = draw(st.sampled_from(("and", "or", "not")))
    if op == "not":
        return ("not", draw(guards(depth + 1)))
    return (op, draw(guards(depth + 1)), draw(guards(depth + 1)))


@st.composite
def decisions(draw: Any) -> Decision:
    action = draw(st.sampled_from(ACTIONS))
    if action in ("allow", "refuse") or draw(st.booleans()):
        return (action, None)
    return (action, draw(st.sampled_from(("p", "q"))))


@st.composite
def rules(draw: Any, rid: str, may_lock: bool, override: bool = False) -> Rule:
    locked = may_lock and draw(st.integers(0, 3)) == 0
    return Rule(rid, draw(decisions()), draw(guards()), draw(st.integers(0, 2)), locked,
                override)


@st.composite
def policy(draw: Any, name: str, prefix: str, parents: list[tuple[str, bool]], schema: bool,
           inherited: list[Rule], may_lock: bool, taken_keys: set[str]) -> Policy:
    """One policy; `inherited`: its parents' flattened rules it may override or drop."""
    keys = [k for k in THRESHOLD_KEYS if k not in taken_keys]
    chosen = draw(st.lists(st.sampled_from(keys), max_size=2, unique=True)) if keys else []
    thresholds = {k: draw(st.sampled_from(CONSTANTS)) for k in chosen}
    strategy = draw(st.one_of(st.none(), st.sampled_from(STRATEGIES)))
    default = draw(st.one_of(st.none(), decisions())) if parents else \
        draw(st.one_of(decisions(), decisions(), st.none()))
    p = Policy(name, parents, schema, thresholds, strategy, default)
    own = [draw(rules(f"{prefix}{i}", may_lock)) for i in range(draw(st.integers(0, 3)))]
    changes = []
    for target in inherited:
        if target.locked:
            continue
        what = draw(st.integers(0, 3))
        if what == 0:
            changes.append(draw(rules(target.id, False, override=True)))
        elif what == 1:
            changes.append(target.id)
    items: list[Rule | str] = own + changes
    p.items = draw(st.permutations(items)) if items else []
    return p


@st.composite
def hierarchies(draw: Any) -> dict[str, Policy]:
    """t.child and its ancestors, by name: a parent, a chain, or two parents."""
    shape = draw(st.sampled_from(("parent", "chain", "two")))
    out: dict[str, Policy] = {}
    if shape == "chain":
        out["t.grand"] = draw(policy("t.grand", "g", [], True, [], True, set()))
        out["t.parent"] = draw(policy("t.parent", "p", [("t.grand", False)], False,
                                      flat_rules(out, "t.grand"), True, set()))
    else:
        out["t.parent"] = draw(policy("t.parent", "p", [], True, [], True, set()))
    parents = [("t.parent", draw(st.booleans()))]
    if shape == "two":
        taken = set(out["t.parent"].thresholds)  # two parents never declare one key twice
        out["t.other"] = draw(policy("t.other", "q", [], True, [], True, taken))
        parents.append(("t.other", False))
    inherited = [r for name, _ in parents for r in flat_rules(out, name)]
    out["t.child"] = draw(policy("t.child", "r", parents, False, inherited, True, set()))
    return out


# ---- writing it out ------------------------------------------------------------------------------


def guard_text(g: Guard) -> str:
    assert g is not None
    kind = g[0]
    if kind == "cat":
        return g[1]
    if kind == "set":
        return f"{g[1]} {{ {', '.join(g[2])} }}"
    if kind == "score":
        return f"score({g[1]}) {g[2]} {g[3]}"
    if kind == "enum":
        op, values = g[1], g[2]
        return f"aud {op} {values[0]}" if op in ("==", "!=") else \
            f"aud {op} {{ {', '.join(values)} }}"
    if kind == "bool":
        return "pro" if g[1] else "not pro"
    if kind == "num":
        return f"age {g[1]} {g[2]:g}"
    if kind == "not":
        return f"not ({guard_text(g[1])})"
    return f"({guard_text(g[1])} {kind} {guard_text(g[2])})"


def decision_text(d: Decision) -> str:
    return d[0] if d[1] is None else f'{d[0]}("{d[1]}")'


def policy_text(p: Policy) -> str:
    lines = [f'policy {p.name} version "1" {{', '  owner "o"']
    if p.parents:
        lines.append("  extends " + ", ".join(n + (" narrowing" if nar else "")
                                            for n, nar in p.parents))
    if p.schema:
        lines.append(SCHEMA.rstrip("\n"))
    lines += [f"  threshold {k} {v}" for k, v in p.thresholds.items()]
    if p.strategy:
        lines.append(f"  resolve {p.strategy}")
    if p.default:
        lines.append(f"  default {decision_text(p.default)}")
    for item in p.items:
        if isinstance(item, str):
            lines.append(f"  drop {item}")
            continue
        keyword = "override" if item.override else ("locked rule" if item.locked else "rule")
        when = "" if item.guard is None else f" when {guard_text(item.guard)}"
        lines.append(f"  {keyword} {item.id}: {decision_text(item.decision)}{when}"
                     f" priority {item.priority}")
    return "\n".join(lines) + "\n}\n"


def load(h: dict[str, Policy]) -> tuple[Program, FlatPolicy]:
    with tempfile.TemporaryDirectory() as tmp:
        for p in h.values():
            (Path(tmp) / f"{p.name}.pol").write_text(policy_text(p), encoding="utf-8")
        program = load_program([Path(tmp) / "t.child.pol"])
    assert not program.fatal, [d.message for d in program.diagnostics]
    return program, program.policies["t.child"]


# ---- the reference: LANGUAGE.md §3-§5 on the generated data ------------------------------------


def flat_rules(h: dict[str, Policy], name: str) -> list[Rule]:
    """§5: own rules in source order (overrides where written), then each parent's flattened
    rules in `extends` order; the targets of `override`/`drop` leave."""
    p = h[name]
    inherited: list[Rule] = []
    seen: set[tuple[str, str]] = set()
    for parent, _ in p.parents:
        for r in flat_rules(h, parent):
            if (r.origin, r.id) not in seen:
                seen.add((r.origin, r.id))
                inherited.append(r)
    targets = {i if isinstance(i, str) else i.id for i in p.items
               if isinstance(i, str) or i.override}
    own = [Rule(i.id, i.decision, i.guard, i.priority, i.locked, i.override, name)
           for i in p.items if isinstance(i, Rule)]
    return own + [r for r in inherited if r.id not in targets]


def thresholds(h: dict[str, Policy], name: str) -> dict[str, float]:
    """§3: a policy's key replaces its parents'; among parents, the first in `extends` order
    (the generator never lets two parents declare one key)."""
    merged: dict[str, float] = {}
    for parent, _ in reversed(h[name].parents):
        merged.update(thresholds(h, parent))
    merged.update(h[name].thresholds)
    return merged


def inherited_setting(h: dict[str, Policy], name: str, attr: str) -> Any:
    """`resolve`/`default`: the policy's own, else the first parent (in `extends` order)
    that has one."""
    own = getattr(h[name], attr)
    if own is not None:
        return own
    for parent, _ in h[name].parents:
        found = inherited_setting(h, parent, attr)
        if found is not None:
            return found
    return None


class Reference:
    """One policy of the hierarchy, interpreted on every cell of a grid."""

    def __init__(self, h: dict[str, Policy], name: str, cells: list[dict[str, Any]]):
        self.rules = flat_rules(h, name)
        self.strategy = inherited_setting(h, name, "strategy") or "most-restrictive"
        self.default = inherited_setting(h, name, "default")
        self.thresholds = thresholds(h, name)
        self.cells = cells
        self.truth = [[self.holds(r.guard, e) for e in cells] for r in self.rules]
        # §5 floors: an inherited locked rule still fires wherever it fires in a parent it
        # came through (with that parent's thresholds): a child tightens it, never loosens
        # it. For a category read positively that is the lower of the two thresholds.
        inherited = [i for i, r in enumerate(self.rules) if r.locked and r.origin != name]
        for parent, _ in h[name].parents if inherited else ():
            alone = Reference(h, parent, cells)
            where = {(r.origin, r.id): alone.truth[j] for j, r in enumerate(alone.rules)}
            for i in inherited:
                theirs = where.get((self.rules[i].origin, self.rules[i].id))
                if theirs is not None:
                    self.truth[i] = [a or b for a, b in zip(self.truth[i], theirs, strict=True)]

    def threshold(self, leaf: str) -> float:
        for key in (leaf, leaf.rsplit(".", 1)[0], "default"):
            if key in self.thresholds:
                return self.thresholds[key]
        return 0.5

    def category(self, name: str, e: dict[str, Any]) -> bool:
        leaves = [name] if name in LEAVES else [x for x in LEAVES if x.startswith(name + ".")]
        return any(e[x] >= self.threshold(x) for x in leaves)

    def holds(self, g: Guard, e: dict[str, Any]) -> bool:
        if g is None:
            return True
        kind = g[0]
        if kind == "cat":
            return self.category(g[1], e)
        if kind == "set":
            leaves = sorted({x for m in g[2] for x in LEAVES if x == m or x.startswith(m + ".")})
            truth = [self.category(x, e) for x in leaves]
            return any(truth) if g[1] == "any" else all(truth) if g[1] == "all" else \
                not any(truth)
        if kind == "score":
            return compare(e[g[1]], g[2], g[3])
        if kind == "enum":
            inside = e["aud"] in g[2]
            return inside if g[1] in ("==", "in") else not inside
        if kind == "bool":
            return e["pro"] is g[1]
        if kind == "num":
            return compare(e["age"], g[1], g[2])
        if kind == "not":
            return not self.holds(g[1], e)
        if kind == "and":
            return self.holds(g[1], e) and self.holds(g[2], e)
        return self.holds(g[1], e) or self.holds(g[2], e)

    def inside(self, inner: int, outer: int) -> bool:
        """Rule `inner`'s region lies in `outer`'s over the whole space (every cell)."""
        return all(b for a, b in zip(self.truth[inner], self.truth[outer], strict=True) if a)

    def decide(self, k: int) -> tuple[Decision | None, str | None, list[int]]:
        """(decision, deciding rule or None for the default, the tied rules if the strategy
        is ambiguous there, else []) at cell `k` (§4)."""
        matched = [i for i in range(len(self.rules)) if self.truth[i][k]]
        if not matched:
            return self.default, None, []
        rs = self.rules

        def restr(i: int) -> int:
            return RESTR[rs[i].decision[0]]

        def first_most_restrictive(among: list[int]) -> int:
            top = max(restr(i) for i in among)
            return next(i for i in among if restr(i) == top)

        tied: list[int] = []
        s = self.strategy
        if s == "most-restrictive":
            win = first_most_restrictive(matched)
        elif s == "least-restrictive":
            low = min(restr(i) for i in matched)
            win = next(i for i in matched if restr(i) == low)
        elif s == "first-match":
            win = matched[0]
        elif s == "priority":
            top = max(rs[i].priority for i in matched)
            tied = [i for i in matched if rs[i].priority == top]
            win = first_most_restrictive(tied)
        elif s == "unique":
            tied = matched
            win = first_most_restrictive(matched)
        else:  # most-specific
            tied = [i for i in matched if all(self.inside(i, o) for o in matched)]
            if not tied:
                tied = [i for i in matched if not any(
                    o != i and self.inside(o, i) and not self.inside(i, o) for o in matched)]
            win = first_most_restrictive(tied)
        if len({rs[i].decision for i in tied}) < 2:
            tied = []
        locked = [i for i in matched if rs[i].locked]
        if locked:
            floor = first_most_restrictive(locked)
            if restr(floor) > restr(win):
                win = floor
        return rs[win].decision, rs[win].id, tied


def compare(x: float, op: str, y: float) -> bool:
    return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y, "==": x == y}[op]


def grid(dm: DecisionMap) -> list[dict[str, Any]]:
    """Every cell of a grid finer than both the reference's cut points and the map's."""
    score_cuts = set(CONSTANTS) | {0.0, 0.5, 1.0}
    age_cuts = set(AGES)
    for var in dm.space.vars:
        if var.kind == "score":
            score_cuts |= set(var.cuts)
        elif var.kind == "number":
            age_cuts |= set(var.cuts)
    s = sorted(score_cuts)
    scores = sorted(set(s) | {(a + b) / 2 for a, b in itertools.pairwise(s)})
    a = sorted(age_cuts)
    ages = sorted(set(a) | {(x + y) / 2 for x, y in itertools.pairwise(a)} | {a[0] - 1, a[-1] + 1})
    return [{"c.a": x, "c.b": y, "aud": aud, "pro": pro, "age": age}
            for x, y, aud, pro, age in itertools.product(scores, scores, AUD, (False, True), ages)]


# ---- the properties -----------------------------------------------------------------------------


def decision_of(d: Any) -> Decision | None:
    return None if d is None else (d.action, d.argument)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hierarchies())
def test_hierarchy_decision_map_equals_brute_force(h: dict[str, Policy]) -> None:
    """Decisions and ambiguity on every cell; a rule is dead iff brute force never sees it
    decide; the flattened rule order is §5's."""
    _, child = load(h)
    dm = DecisionMap(child)
    cells = grid(dm)
    ref = Reference(h, "t.child", cells)
    texts = {n: policy_text(p) for n, p in h.items()}
    assert [r.id for r in child.rules] == [r.id for r in ref.rules], texts
    assert [r.locked for r in child.rules] == [r.locked for r in ref.rules], texts
    assert child.strategy == ref.strategy and decision_of(child.default) == ref.default, texts
    decided: set[str] = set()
    for k, event in enumerate(cells):
        expected, rule_id, tied = ref.decide(k)
        outcome = dm.decide_event(event)
        assert (decision_of(outcome.decision), outcome.rule) == (expected, rule_id), (texts, event)
        assert set(outcome.ambiguous) == {ref.rules[i].id for i in tied}, (texts, event)
        if rule_id is not None:
            decided.add(rule_id)
    for i, rule in enumerate(child.rules):
        assert (where_decides(dm, i) is not None) == (rule.id in decided), (texts, rule.id)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hierarchies())
def test_hierarchy_ambiguity_and_narrowing_reported_iff_brute_force(h: dict[str, Policy]
                                                                    ) -> None:
    """POL201 iff some cell is ambiguous; POL302 (for `narrowing` parents) iff some cell
    is decided less restrictively by the child than by that parent alone.

    POL201 reports an ambiguity once, where it is written: a child that inherits its
    `resolve` is not told about two tied rules it inherited both of when the ancestor
    that declared them (with the same strategy) is ambiguous on that pair itself; an
    ambiguity the child creates (by dropping or overriding a rule) is the child's."""
    from policyc.lint.context import LintContext
    from policyc.lint.rules import pol201_ambiguous_decision, pol302_narrowing_violated

    program, child = load(h)
    cells = grid(DecisionMap(child))
    ref = Reference(h, "t.child", cells)
    texts = {n: policy_text(p) for n, p in h.items()}
    ctx = LintContext(program, child)
    declares = h["t.child"].strategy is not None
    origin_pairs: dict[str, set[tuple[str, str]]] = {}

    def ambiguous_in_origin(a: Rule, b: Rule) -> bool:
        if a.origin not in origin_pairs:
            alone = Reference(h, a.origin, cells)
            origin_pairs[a.origin] = {
                (alone.rules[i].id, alone.rules[j].id) for k in range(len(cells))
                for i in alone.decide(k)[2] for j in alone.decide(k)[2]
                if alone.rules[i].decision != alone.rules[j].decision
            } if alone.strategy == ref.strategy else set()
        return (a.id, b.id) in origin_pairs[a.origin]

    ambiguous = False
    for k in range(len(cells)):
        tied = ref.decide(k)[2]
        ambiguous |= any(ref.rules[i].decision != ref.rules[j].decision
                         and (declares or "t.child" in (ref.rules[i].origin, ref.rules[j].origin)
                              or not (ambiguous_in_origin(ref.rules[i], ref.rules[j])
                                      or ambiguous_in_origin(ref.rules[j], ref.rules[i])))
                         for i in tied for j in tied)
    assert bool(list(pol201_ambiguous_decision.check(ctx))) == ambiguous, texts
    narrowed = [name for name, narrowing in h["t.child"].parents if narrowing]
    loosened = False
    for name in narrowed:
        # the parent alone, on a grid fine enough for both
        alone = Reference(h, name, cells)
        for k in range(len(cells)):
            mine, theirs = ref.decide(k)[0], alone.decide(k)[0]
            # a gap in the child where the parent decides loosens it too (docs/rules/POL302)
            if theirs is not None and (mine is None or RESTR[mine[0]] < RESTR[theirs[0]]):
                loosened = True
                break
    found = list(pol302_narrowing_violated.check(ctx))
    assert bool(found) == loosened, texts
