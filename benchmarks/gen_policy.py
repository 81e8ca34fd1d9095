"""Generate large realistic policies for the scaling benchmarks (deterministic).

~40 leaf categories in 8 groups, 6 context attributes, rules mixing one or two
categories with context conditions and varied actions, like a big org's policy.
"""

from __future__ import annotations

import random

GROUPS = ["violence", "self_harm", "sexual", "hate", "harassment", "illicit", "privacy",
          "jailbreak"]
LEAVES = ["a", "b", "c", "d", "e"]
ACTIONS = ['allow', 'warn("w{n}")', 'redact("r{n}")', 'redirect("d{n}")', "refuse",
           'escalate("q{n}")']


def categories() -> list[str]:
    return [f"{g}.{leaf}" for g in GROUPS for leaf in LEAVES]


def generate(n_rules: int, seed: int = 7, strategy: str = "most-restrictive",
             name: str = "bench.big", version: str = "1.0.0") -> str:
    rng = random.Random(seed)
    cats = categories()
    lines = [f'policy {name} version "{version}" {{', '  owner "bench@example.com"',
             "  context audience: enum { adult, teen, child } = adult",
             "  context surface: enum { chat, api, agent, voice } = chat",
             "  context region: enum { us, eu, apac, latam } = us",
             "  context verified: bool = false",
             "  context tool_use: bool = false",
             "  context account_age_days: number = 365",
             "  categories {"]
    for g in GROUPS:
        lines.append(f"    {g} {{ {', '.join(LEAVES)} }}")
    lines += ["  }", "  threshold default 0.5", f"  resolve {strategy}", "  default allow"]
    for i in range(n_rules):
        lines.append("  " + rule_line(rng, i, cats, strategy))
    lines.append("}")
    return "\n".join(lines) + "\n"


def rule_line(rng: random.Random, i: int, cats: list[str], strategy: str) -> str:
    cat = rng.choice(cats)
    parts = [cat if rng.random() < 0.6 else
             f"score({cat}) >= {rng.choice([0.3, 0.4, 0.6, 0.7, 0.8, 0.9])}"]
    if rng.random() < 0.15:
        parts.append(rng.choice(cats))
    ctx = rng.random()
    if ctx < 0.3:
        parts.append(f"audience in {{ {', '.join(rng.sample(['adult', 'teen', 'child'], 2))} }}")
    elif ctx < 0.45:
        parts.append(f"surface == {rng.choice(['chat', 'api', 'agent', 'voice'])}")
    elif ctx < 0.55:
        parts.append(f"region != {rng.choice(['us', 'eu', 'apac', 'latam'])}")
    elif ctx < 0.65:
        parts.append(rng.choice(["verified", "not verified", "tool_use"]))
    elif ctx < 0.72:
        parts.append(f"account_age_days < {rng.choice([1, 3, 7, 30])}")
    action = rng.choice(ACTIONS).format(n=rng.randrange(5))
    prio = f" priority {rng.randrange(10)}" if strategy == "priority" else ""
    return f"rule r{i}: {action} when {' and '.join(parts)}{prio}"
