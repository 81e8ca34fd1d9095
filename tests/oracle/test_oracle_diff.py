"""`policyc diff --format json` == brute force over the grid (CLI.md, *Diff*).

A random policy (flat, or a child with its parents) and a new version of it
(decisions, guards, thresholds, strategy, default changed; rules added, removed,
renamed; the parents unchanged): the kinds reported are exactly the
kinds of the grid events whose decision differs, every witness shows the change it
claims, and every such grid event lies in a reported region of its kind.
"""

from __future__ import annotations

from oracle.gen import Gen, mutate, policy_text
from oracle.harness import compare_diff
from oracle.scale import seeds


def test_diff_agrees_with_the_oracle() -> None:
    failures = []
    for seed in seeds(60, salt=4):
        g = Gen(seed, small=True, hierarchy=seed % 2 == 0)
        old, name = g.world()
        new = mutate(g, old, name)
        bad = compare_diff(old, new, name)
        if bad:
            failures.append(f"seed {seed}: {bad}\n" + "".join(map(policy_text, old.p.values()))
                            + f"new:\n{policy_text(new.p[name])}")
    assert not failures, "\n\n".join(failures[:3])
