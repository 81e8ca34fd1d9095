"""Decision map, dead rules, ambiguity and diff against brute force on small policies.

The reference here is written from LANGUAGE.md §4–§5 independently of
`policyc.semantics.regions.decision_map`: evaluate every rule's formula on a concrete event,
then pick the decision. Brute force visits every cell of the grid of cut points.
"""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policyc.semantics.formula import evaluate
from policyc.semantics.program import load_policy_text
from policyc.semantics.regions.boxes import build_space
from policyc.semantics.regions.compare import diff_maps
from policyc.semantics.regions.decision_map import DecisionMap
from policyc.semantics.regions.search import where_decides

RESTRICT = ["allow", "warn", "redact", "redirect", "refuse", "escalate"]
STRATEGIES = ["most-restrictive", "least-restrictive", "first-match", "priority",
              "most-specific", "unique"]
LEAVES = ["c.a", "c.b", "d"]
THRESHOLDS = [0.2, 0.5, 0.8]
#: events are cells of the grid of cut points; keep the grid small enough to enumerate



@st.composite
def atoms(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["cat", "score", "enum", "in", "bool", "num"]))
    if kind == "cat":
        return draw(st.sampled_from(["c.a", "c.b", "d", "c"]))
    if kind == "score":
        op = draw(st.sampled_from([">=", ">", "<", "<="]))
        return f"score({draw(st.sampled_from(LEAVES))}) {op} {draw(st.sampled_from(THRESHOLDS))}"
    if kind == "enum":
        return f"aud {draw(st.sampled_from(['==', '!=']))} {draw(st.sampled_from(['x', 'y', 'z']))}"
    if kind == "in":
        vals = draw(st.lists(st.sampled_from(["x", "y", "z"]), min_size=1, max_size=2,
                             unique=True))
        return f"aud in {{ {', '.join(vals)} }}"
    if kind == "bool":
        return draw(st.sampled_from(["pro", "not pro"]))
    return f"age {draw(st.sampled_from(['<', '<=', '>', '>=', '==']))} {draw(st.sampled_from([3, 18]))}"


@st.composite
def guards(draw: st.DrawFn, depth: int = 0) -> str:
    if depth >= 2 or draw(st.booleans()):
        return draw(atoms())
    op = draw(st.sampled_from(["and", "or"]))
    left, right = draw(guards(depth + 1)), draw(guards(depth + 1))
    text = f"({left} {op} {right})"
    return f"not {text}" if draw(st.integers(0, 4)) == 0 else text


@st.composite
def rule_lines(draw: st.DrawFn, i: int, strategy: str) -> str:
    action = draw(st.sampled_from(RESTRICT))
    arg = draw(st.sampled_from(["", '("p")', '("q")'])) if action != "allow" else ""
    locked = "locked " if draw(st.integers(0, 5)) == 0 else ""
    prio = f" priority {draw(st.integers(0, 2))}" if strategy == "priority" else ""
    return f"  {locked}rule r{i}: {action}{arg} when {draw(guards())}{prio}"


@st.composite
def versions(draw: st.DrawFn) -> tuple[str, str]:
    """An old policy and a new version of it: same header, some rules replaced, one
    maybe added (locked rules and floors included)."""
    old = draw(policies())
    strategy = old.split("resolve ")[1].split()[0]
    lines = old.splitlines()
    rules = [k for k, line in enumerate(lines) if " rule r" in line]
    for k in rules:
        if draw(st.booleans()):
            lines[k] = draw(rule_lines(k, strategy))
    if draw(st.booleans()):
        lines.insert(rules[-1] + 1, draw(rule_lines(99, strategy)))
    return old, "\n".join(lines) + "\n"


@st.composite
def policies(draw: st.DrawFn) -> str:
    strategy = draw(st.sampled_from(STRATEGIES))
    n = draw(st.integers(1, 5))
    lines = [draw(rule_lines(i, strategy)) for i in range(n)]
    default = draw(st.sampled_from(["default allow", "default warn(\"d\")", ""]))
    return (
        'policy t.p version "1" {\n  owner "o"\n'
        "  context aud: enum { x, y, z }\n  context pro: bool\n  context age: number\n"
        "  categories { c { a, b }, d }\n  threshold default 0.5\n"
        f"  resolve {strategy}\n  {default}\n" + "\n".join(lines) + "\n}\n")


def reference(policy, event, inside=None):  # type: ignore[no-untyped-def]
    """LANGUAGE.md §4–§5, from the text, on one event. Returns (decision, ambiguous).

    `inside(a, b)`: whether rule a's region lies in b's over the whole space (brute force,
    computed once per policy by `containment`)."""
    rules = policy.rules
    matched = [r for r in rules if evaluate(r.formula, event)]
    if not matched:
        return (None if policy.default is None else policy.default), False
    restr = RESTRICT.index

    def most_restrictive(rs):  # type: ignore[no-untyped-def]
        top = max(restr(r.decision.action) for r in rs)
        return next(r for r in rs if restr(r.decision.action) == top)  # first in order

    ambiguous = False
    s = policy.strategy
    if s == "most-restrictive":
        win = most_restrictive(matched)
    elif s == "least-restrictive":
        low = min(restr(r.decision.action) for r in matched)
        win = next(r for r in matched if restr(r.decision.action) == low)
    elif s == "first-match":
        win = matched[0]
    elif s == "priority":
        top = max(r.priority for r in matched)
        tied = [r for r in matched if r.priority == top]
        ambiguous = len({r.decision for r in tied}) > 1
        win = most_restrictive(tied)
    elif s == "unique":
        ambiguous = len({r.decision for r in matched}) > 1
        win = most_restrictive(matched)
    else:  # most-specific: containment over the whole space, by brute force
        inside = inside or containment(policy)
        cands = [r for r in matched if all(inside(r, o) for o in matched)]
        if not cands:
            cands = [r for r in matched if not any(
                o is not r and inside(o, r) and not inside(r, o) for o in matched)]
        ambiguous = len({r.decision for r in cands}) > 1
        win = most_restrictive(cands)
    locked = [r for r in matched if r.locked]
    if locked:
        floor = most_restrictive(locked)
        if restr(floor.decision.action) > restr(win.decision.action):
            win = floor
    return win.decision, ambiguous


CELLS: list[dict[str, object]] = []


def containment(policy):  # type: ignore[no-untyped-def]
    """inside(a, b) by brute force over CELLS: every cell matching a matches b."""
    truth = {r.id: [evaluate(r.formula, e) for e in CELLS] for r in policy.rules}

    def inside(a, b):  # type: ignore[no-untyped-def]
        return all(y for x, y in zip(truth[a.id], truth[b.id], strict=True) if x)

    return inside


def grid(space):  # type: ignore[no-untyped-def]
    axes = []
    for var in space.vars:
        axes.append([(var.name, var.rep_exact(p)) for p in var.pieces(var.domain)])
    return [dict(combo) for combo in itertools.product(*axes)]


def load(text: str):  # type: ignore[no-untyped-def]
    program = load_policy_text(text, "t.pol")
    assert not program.fatal, [d.message for d in program.diagnostics]
    return program.policies["t.p"]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies())
def test_decision_map_equals_brute_force(text: str) -> None:
    policy = load(text)
    dm = DecisionMap(policy)
    CELLS[:] = grid(dm.space)
    inside = containment(policy)
    decided_by: set[str] = set()
    any_ambiguous = False
    for event in CELLS:
        expected, ambiguous = reference(policy, event, inside)
        outcome = dm.decide_event(event)
        assert outcome.decision == expected, (text, event)
        assert bool(outcome.ambiguous) == ambiguous, (text, event)
        any_ambiguous |= ambiguous
        if outcome.rule is not None:
            decided_by.add(outcome.rule)
    # a rule is dead iff brute force never sees it decide
    for i, rule in enumerate(policy.rules):
        assert (where_decides(dm, i) is not None) == (rule.id in decided_by), (text, rule.id)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies())
def test_ambiguity_reported_iff_brute_force_finds_it(text: str) -> None:
    from policyc.lint.context import LintContext
    from policyc.lint.rules.pol201_ambiguous_decision import check
    from policyc.semantics.program import load_policy_text as lp

    program = lp(text, "t.pol")
    policy = program.policies["t.p"]
    dm = DecisionMap(policy)
    CELLS[:] = grid(dm.space)
    inside = containment(policy)
    brute = any(reference(policy, e, inside)[1] for e in CELLS)
    found = list(check(LintContext(program, policy)))
    assert bool(found) == brute, text
    for d in found:  # every witness really is ambiguous
        assert d.witness is not None
        event = dict(d.witness) | _zero_scores(dm, d.witness)
        assert reference(policy, event, inside)[1], (text, d)


def _zero_scores(dm: DecisionMap, witness: dict[str, object]) -> dict[str, object]:
    return {v.name: 0.0 for v in dm.space.vars if v.kind == "score" and v.name not in witness}


def _in_box(box, point, space) -> bool:  # type: ignore[no-untyped-def]
    return all((box.get(v, space.vars[v].domain) >> p) & 1 for v, p in enumerate(point))


def _check_diff(old_text: str, new_text: str, budget: int | None) -> None:
    """Complete and sound against brute force, for exact and scoped rows alike."""
    old, new = load(old_text), load(new_text)
    space = build_space([old, new])
    a, b = DecisionMap(old, space), DecisionMap(new, space)
    diffs = diff_maps(a, b, budget=budget)
    for d in diffs:  # every witness really changes as its row says
        point = list(d.point) if d.point is not None else a.cell_point(d.box)
        assert _in_box(d.box, point, space)
        assert (a.decide_point(point).key(), b.decide_point(point).key()) == (
            d.old.key(), d.new.key()), (old_text, new_text, d)
    for event in grid(space):
        oa, ob = a.decide_event(event), b.decide_event(event)
        point = a.point_of(event)
        inside = []
        for d in diffs:
            if not _in_box(d.box, point, space):
                continue
            if d.scope is not None:  # only where its rule wins, at the stated decisions
                rule, version = d.scope
                dm = a if version == "old" else b
                matched = dm.matched_entries(point)
                if not matched or dm.rules[dm.entry_rule[(matched & -matched).bit_length() - 1]
                                           ].id != rule:
                    continue
                if (oa.key(), ob.key()) != (d.old.key(), d.new.key()):
                    continue
            inside.append(d)
        if oa.key() != ob.key():  # complete: the changed cell is in a reported region
            assert inside, (old_text, new_text, event)
            for d in inside:  # ... and every region holding it says what changed
                assert (d.old.key(), d.new.key()) == (oa.key(), ob.key())
        else:  # sound: no reported region covers an unchanged cell
            assert not inside, (old_text, new_text, event)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies(), policies())
def test_diff_is_complete_and_sound(old_text: str, new_text: str) -> None:
    _check_diff(old_text, new_text, budget=None)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(versions())
def test_scoped_diff_is_complete_and_sound(pair: tuple[str, str]) -> None:
    """Budget 0: every unlocked changed rule is reported in the scoped form."""
    _check_diff(*pair, budget=0)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies())
def test_redundant_reported_iff_brute_force(text: str) -> None:
    """POL204: a live, unlocked rule is redundant iff removing it changes no cell."""
    from dataclasses import replace

    from policyc.lint.context import LintContext
    from policyc.lint.rules.pol204_redundant_rule import check

    program = load_policy_text(text, "t.pol")
    policy = program.policies["t.p"]
    dm = DecisionMap(policy)
    CELLS[:] = grid(dm.space)
    inside = containment(policy)
    full = [reference(policy, e, inside) for e in CELLS]
    expected = set()
    for i, rule in enumerate(policy.rules):
        if rule.locked or where_decides(dm, i) is None:
            continue
        without = replace(policy, rules=tuple(r for r in policy.rules if r is not rule))
        if all(reference(without, e, inside)[0] == full[k][0] for k, e in enumerate(CELLS)):
            expected.add(rule.id)
    found = {d.message.split("`")[1] for d in check(LintContext(program, policy))}
    assert found == expected, text


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies())
def test_merge_by_hash_covers_exactly_the_same_cells(text: str) -> None:
    """The linear merge used for large diffs: same cells, fewer (or as many) boxes."""
    import itertools

    from policyc.semantics.regions.merge import _merge_by_hash

    dm = DecisionMap(load(text))
    space = dm.space
    axes = [var.pieces(var.domain) for var in space.vars]
    cells = [list(c) for c in itertools.product(*axes)]
    target = dm.decide_point(cells[0]).key()
    chosen = {tuple(c) for c in cells if dm.decide_point(c).key() == target}
    merged = _merge_by_hash([{v: 1 << p for v, p in enumerate(c)} for c in chosen], space)
    assert len(merged) <= len(chosen)
    covered = {tuple(c) for c in cells if any(_in_box(bx, c, space) for bx in merged)}
    assert covered == chosen, text
