"""Lint findings the spec defines exactly == brute force over the whole grid.

Small random worlds (so every cell of the event space can be enumerated): POL205
(unsatisfiable), POL203 (never decides; locked rules exempt), POL207 (a gap with no
`default`), POL201 (ambiguity, flat policies), POL301 (a child rule the strategy picks
inside a parent's floor, less restrictive than it), POL302/POL303 (the child less
restrictive than a parent alone somewhere), POL304 (a raised threshold that shrinks a
floor), and `compile` refusing exactly POL301, POL302 and POL304.
"""

from __future__ import annotations

from oracle.gen import Gen, policy_text
from oracle.harness import compare_lint
from oracle.scale import seeds


def test_lint_agrees_with_the_oracle() -> None:
    failures = []
    for seed in seeds(60, salt=3):
        w, name = Gen(seed, small=True).world()
        bad = compare_lint(w, name)
        if bad:
            failures.append(f"seed {seed}: {bad}\n" + "".join(policy_text(p)
                                                              for p in w.p.values()))
    assert not failures, "\n\n".join(failures[:3])
