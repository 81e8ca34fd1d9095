"""`cannot_loosen` (the search-free answer POL302/POL303 take first) never hides a loosened
region: on random parent/child pairs, whenever it says "cannot loosen", the exact region
search finds no loosened region either."""

from __future__ import annotations

import random

from policyc.lint.rules._hierarchy import cannot_loosen
from policyc.semantics.program import load_policy_text
from policyc.semantics.regions.changes import change_kind, changed_regions

ACTIONS = ["allow", 'warn("w")', 'redact("r")', 'redirect("d")', "refuse", 'escalate("q")']
GUARDS = ["harm.x", "harm.y", "harm", "spam", "score(harm.x) >= 0.7", "spam and teen",
          "harm.y and not teen", "score(spam) < 0.3", "harm.x or spam", "teen"]


def _policy(name: str, rules: list[tuple[str, str]], default: str | None,
            strategy: str = "most-restrictive"):
    lines = [f'policy {name} version "1.0.0" {{', '  owner "t@example.com"',
             "  context teen: bool = false", "  categories { harm { x, y }, spam }",
             f"  resolve {strategy}"]
    if default is not None:
        lines.append(f"  default {default}")
    lines += [f"  rule r{i}: {action} when {guard}" for i, (action, guard) in enumerate(rules)]
    program = load_policy_text("\n".join([*lines, "}"]) + "\n", f"{name}.pol")
    assert not program.fatal, program.diagnostics
    return next(iter(program.policies.values()))


def test_cannot_loosen_agrees_with_the_region_search() -> None:
    rng = random.Random(18)
    proved = 0
    for _ in range(150):
        parent_rules = [(rng.choice(ACTIONS), rng.choice(GUARDS)) for _ in range(rng.randint(1, 5))]
        child_rules = []
        for action, guard in parent_rules:  # kept, sometimes with another decision
            if rng.random() < 0.85:
                child_rules.append((rng.choice(ACTIONS) if rng.random() < 0.3 else action, guard))
        for _ in range(rng.randint(0, 3)):  # added rules, in random places
            child_rules.insert(rng.randint(0, len(child_rules)),
                               (rng.choice(ACTIONS), rng.choice(GUARDS)))
        defaults = [None, "allow", "warn(\"w\")", "refuse"]
        parent_default = rng.choice(defaults)
        child_default = parent_default if rng.random() < 0.7 else rng.choice(defaults)
        parent = _policy("p", parent_rules, parent_default)
        child = _policy("c", child_rules, child_default,
                        "most-restrictive" if rng.random() < 0.9 else "first-match")
        loosened = [d for d in changed_regions(parent, child, kind="loosened").regions
                    if change_kind(d) == "loosened"]
        if cannot_loosen(parent, child):
            proved += 1
            assert not loosened, (parent_rules, parent_default, child_rules, child_default)
    assert 30 <= proved <= 120  # both answers were exercised


def test_a_child_that_only_adds_stricter_rules_is_proved() -> None:
    parent = _policy("p", [("allow", "harm.x"), ("refuse", "spam")], "allow")
    child = _policy("c", [("allow", "harm.x"), ("escalate(\"q\")", "teen"), ("refuse", "spam")],
                    "allow")
    assert cannot_loosen(parent, child)
    looser = _policy("c", [("allow", "harm.x"), ("warn(\"w\")", "spam")], "allow")
    assert not cannot_loosen(parent, looser)
