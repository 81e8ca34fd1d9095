"""Diff scaling: two versions of a generated policy differing in 1% of their rules.

Reports the time to load both versions and compute the exact diff, the time of the
bundle hashes the report names (a compile of each version), and the report size — which
should grow with the change, not with the policy. Goal: 5k rules in <= 10 s.

    python benchmarks/diff_scaling.py [--sizes 1000,5000] [--changed 0.01]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_policy import categories, generate, rule_line  # noqa: E402

from policyc.diff.semantic import policy_hash, semantic_diff  # noqa: E402
from policyc.semantics.program import load_program  # noqa: E402


def mutate(text: str, fraction: float, seed: int = 11) -> str:
    """Replace a fraction of the rules by new random ones (same ids)."""
    rng = random.Random(seed)
    lines = text.splitlines()
    rule_lines = [i for i, line in enumerate(lines) if line.lstrip().startswith("rule r")]
    for i in rng.sample(rule_lines, max(1, int(len(rule_lines) * fraction))):
        rid = int(lines[i].split()[1][1:].rstrip(":"))
        lines[i] = "  " + rule_line(rng, rid, categories(), "most-restrictive")
    return "\n".join(lines).replace('version "1.0.0"', 'version "1.1.0"') + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,5000")
    ap.add_argument("--changed", type=float, default=0.01)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            old_text = generate(n)
            new_text = mutate(old_text, args.changed)
            a, b = Path(tmp) / f"old{n}.pol", Path(tmp) / f"new{n}.pol"
            a.write_text(old_text)
            b.write_text(new_text)
            t0 = time.perf_counter()
            pa, pb = load_program([a]), load_program([b])
            t_load = time.perf_counter() - t0
            old, new = next(iter(pa.policies.values())), next(iter(pb.policies.values()))
            t0 = time.perf_counter()
            report = semantic_diff(old, new, new_text, hashes=("-", "-"))
            t_diff = time.perf_counter() - t0
            t0 = time.perf_counter()
            policy_hash(old, pa), policy_hash(new, pb)
            t_hash = time.perf_counter() - t0
            s = report.summary()
            print(f"{n:>6} rules, {args.changed:.0%} changed: load {t_load:6.2f} s, diff "
                  f"{t_diff:6.2f} s, bundle hashes {t_hash:6.2f} s, total "
                  f"{t_load + t_diff + t_hash:6.2f} s; {len(report.changes)} regions "
                  f"({s['loosened']} loosened, {s['tightened']} tightened, {s['changed']} "
                  f"changed)", flush=True)


if __name__ == "__main__":
    main()
