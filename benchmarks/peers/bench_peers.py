"""policyc vs Cedar (cedarpy) vs Rego (opa-eval/regorus, regopy) on one deny-overrides policy.

The same ~30-rule policy is generated in three languages, the same 10,000 random
events are decided by every installed engine, agreement is checked (must be 100%),
and the median µs per decision is printed side by side, with policyc's batch
throughput (`check_batch`) and a generated 5k-rule policy's batch throughput. Engines
are timed in interleaved rounds after a warm-up pass, and the speedup is taken per
round (a shared machine's speed drifts between runs).
A peer that is not installed is skipped. Run: `python benchmarks/peers/bench_peers.py`.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

AUDIENCE = ("adult", "teen", "child")
SURFACE = ("chat", "api", "agent")
TIER = ("free", "pro", "enterprise")


def make_rules(n_rules: int, n_cats: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rules = []
    for i in range(n_rules):
        r: dict[str, Any] = {"id": f"r{i}", "cat": f"c{rng.randrange(n_cats)}",
                             "min": rng.choice([10, 20, 30, 40, 50, 60, 70, 80, 90])}
        for cond in rng.sample(["audience", "surface", "tier", "optin"], rng.randint(1, 2)):
            if cond == "audience":
                r["audience"] = sorted(rng.sample(AUDIENCE, rng.randint(1, 2)))
            elif cond == "surface":
                r["surface"] = rng.choice(SURFACE)
            elif cond == "tier":
                r["tier_not"] = rng.choice(TIER)
            else:
                r["optin"] = False
        rules.append(r)
    return rules


def to_pol(rules: list[dict[str, Any]], n_cats: int) -> str:
    cats = ", ".join(f"c{k}" for k in range(n_cats))
    out = ['policy bench.guard version "1" {',
           f"  context audience: enum {{ {', '.join(AUDIENCE)} }}",
           f"  context surface: enum {{ {', '.join(SURFACE)} }}",
           f"  context tier: enum {{ {', '.join(TIER)} }}",
           "  context optin: bool",
           f"  categories {{ {cats} }}",
           "  resolve most-restrictive", "  default allow"]
    for r in rules:
        g = [f"score({r['cat']}) >= {r['min'] / 100}"]
        if "audience" in r:
            g.append(f"audience in {{ {', '.join(r['audience'])} }}")
        if "surface" in r:
            g.append(f"surface == {r['surface']}")
        if "tier_not" in r:
            g.append(f"tier != {r['tier_not']}")
        if "optin" in r:
            g.append("not optin")
        out.append(f"  rule {r['id']}: refuse when {' and '.join(g)}")
    out.append("}")
    return "\n".join(out) + "\n"


def to_cedar(rules: list[dict[str, Any]]) -> str:
    out = ["permit(principal, action, resource);"]
    for r in rules:
        g = [f'context.category == "{r["cat"]}"', f"context.score >= {r['min']}"]
        if "audience" in r:
            g.append("(" + " || ".join(f'context.audience == "{a}"' for a in r["audience"]) + ")")
        if "surface" in r:
            g.append(f'context.surface == "{r["surface"]}"')
        if "tier_not" in r:
            g.append(f'context.tier != "{r["tier_not"]}"')
        if "optin" in r:
            g.append("!context.optin")
        out.append(f"forbid(principal, action, resource) when {{ {' && '.join(g)} }};")
    return "\n".join(out) + "\n"


def to_rego(rules: list[dict[str, Any]]) -> str:
    out = ["package guard", "", "import future.keywords.if", "import future.keywords.in", "",
           "default allow := false", "", "allow if { not deny }", ""]
    for r in rules:
        body = [f'input.category == "{r["cat"]}"', f"input.score >= {r['min']}"]
        if "audience" in r:
            body.append(f"input.audience in {{{', '.join(json.dumps(a) for a in r['audience'])}}}")
        if "surface" in r:
            body.append(f'input.surface == "{r["surface"]}"')
        if "tier_not" in r:
            body.append(f'input.tier != "{r["tier_not"]}"')
        if "optin" in r:
            body.append("input.optin == false")
        out.append("deny if {\n  " + "\n  ".join(body) + "\n}\n")
    return "\n".join(out)


def make_events(n: int, n_cats: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [{"category": f"c{rng.randrange(n_cats)}", "score": rng.randrange(101),
             "audience": rng.choice(AUDIENCE), "surface": rng.choice(SURFACE),
             "tier": rng.choice(TIER), "optin": rng.random() < 0.5} for _ in range(n)]


def reference(rules: list[dict[str, Any]], e: dict[str, Any]) -> bool:
    """allowed? (a plain loop, to check every engine)"""
    for r in rules:
        if (e["category"] == r["cat"] and e["score"] >= r["min"]
                and ("audience" not in r or e["audience"] in r["audience"])
                and ("surface" not in r or e["surface"] == r["surface"])
                and ("tier_not" not in r or e["tier"] != r["tier_not"])
                and ("optin" not in r or not e["optin"])):
            return False
    return True


def timed(fn: Callable[[dict[str, Any]], bool], events: list[dict[str, Any]]
          ) -> tuple[float, list[bool]]:
    """Median µs per decision over `events`, after one untimed pass (every engine warms up:
    caches, lazily built structures, the interpreter's specialisation)."""
    for e in events:
        fn(e)
    out, times = [], []
    clock = time.perf_counter_ns
    for e in events:
        t0 = clock()
        out.append(fn(e))
        times.append(clock() - t0)
    return statistics.median(times) / 1000, out


def compile_bundle(pol: str, folder: Path) -> Any:
    from policyc.compile.pipeline import compile_file
    from policyc.runtime import Bundle

    path = folder / "guard.pol"
    path.write_text(pol)
    t0 = time.perf_counter()
    state = compile_file(path)
    assert state.bundle is not None, [d.message for d in state.diagnostics]
    print(f"  compiled {path.name}: {state.stats} in {time.perf_counter() - t0:.2f} s",
          file=sys.stderr)
    return Bundle.from_bytes(state.bundle)


def policyc_engine(bundle: Any) -> Callable[[dict[str, Any]], bool]:
    check = bundle.check

    def decide(e: dict[str, Any]) -> bool:
        d = check(context={"audience": e["audience"], "surface": e["surface"],
                           "tier": e["tier"], "optin": e["optin"]},
                  scores={e["category"]: e["score"] / 100})
        return d.action == "allow"
    return decide


def batch_columns(events: list[dict[str, Any]], n_cats: int, repeat: int
                  ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    n = len(events)
    ctx = {k: np.array([vals.index(e[k]) for e in events], dtype=np.int32)
           for k, vals in (("audience", AUDIENCE), ("surface", SURFACE), ("tier", TIER))}
    ctx["optin"] = np.array([e["optin"] for e in events], dtype=bool)
    cat = np.array([int(e["category"][1:]) for e in events])
    score = np.array([e["score"] / 100 for e in events])
    scores = {}
    for k in range(n_cats):
        col = np.zeros(n)
        col[cat == k] = score[cat == k]
        scores[f"c{k}"] = col
    if repeat > 1:
        ctx = {k: np.tile(v, repeat) for k, v in ctx.items()}
        scores = {k: np.tile(v, repeat) for k, v in scores.items()}
    return ctx, scores


def batch_throughput(bundle: Any, events: list[dict[str, Any]], n_cats: int, repeat: int
                     ) -> tuple[float, np.ndarray]:
    ctx, scores = batch_columns(events, n_cats, repeat)
    bundle.check_batch(ctx, scores)  # warm up
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        res = bundle.check_batch(ctx, scores)
        best = min(best, time.perf_counter() - t0)
    allow = np.array([d.action == "allow" for d in res.decisions])[res.decision]
    return len(res.decision) / best, allow[: len(events)]


ROUNDS = 5


def main() -> None:
    n_cats, n_rules, n_events = 16, 30, 10_000
    rules = make_rules(n_rules, n_cats, seed=1)
    events = make_events(n_events, n_cats, seed=2)
    want = [reference(rules, e) for e in events]
    rows: list[tuple[str, float | None, str]] = []
    tmp = Path(tempfile.mkdtemp())
    bundle = compile_bundle(to_pol(rules, n_cats), tmp)
    engines: list[tuple[str, Callable[[dict[str, Any]], bool] | None]] = [
        ("policyc check (single)", policyc_engine(bundle))]

    try:
        import cedarpy

        ps = cedarpy.PolicySet.from_str(to_cedar(rules))
        ent = cedarpy.Entities.from_json_str("[]")

        def cedar(e: dict[str, Any]) -> bool:
            return bool(cedarpy.is_authorized(
                {"principal": 'User::"u"', "action": 'Action::"respond"',
                 "resource": 'Surface::"s"', "context": e}, ps, ent).allowed)
        engines.append(("Cedar (cedarpy)", cedar))
    except ImportError:
        engines.append(("Cedar (cedarpy)", None))

    rego = tmp / "policy.rego"
    rego.write_text(to_rego(rules))
    try:
        import opa_eval

        ev = opa_eval.OpaEval(str(rego), query="data.guard.allow")

        def regorus(e: dict[str, Any]) -> bool:
            res = ev.evaluate_parsed(json.dumps(e))
            return _truthy(res)
        engines.append(("Rego / regorus (opa-eval)", regorus))
    except ImportError:
        engines.append(("Rego / regorus (opa-eval)", None))

    try:
        import regopy

        it = regopy.Interpreter()
        it.add_module("guard.rego", rego.read_text())
        compiled = it.build("x := data.guard.allow")
        it2 = regopy.Interpreter()

        def rego_cpp(e: dict[str, Any]) -> bool:
            it2.set_input(regopy.Input(e))
            out = it2.query_bundle(compiled)  # keep the result alive while reading it
            value = out.binding("x")
            return value.json() == "true"
        engines.append(("Rego / rego-cpp (regopy, bundle)", rego_cpp))
    except ImportError:
        engines.append(("Rego / rego-cpp (regopy, bundle)", None))

    # Rounds, engines interleaved: a shared 2-core machine changes speed over seconds
    # (2x swings were seen), so each round's ratios compare engines timed moments apart.
    per_round: dict[str, list[float]] = {name: [] for name, fn in engines if fn is not None}
    agree: dict[str, str] = {}
    for _ in range(ROUNDS):
        for name, fn in engines:
            if fn is not None:
                med, got = timed(fn, events)
                per_round[name].append(med)
                agree[name] = f"{sum(map(int.__eq__, got, want))}/{n_events}"
    rows: list[tuple[str, float | None, str]] = [
        (name, statistics.median(per_round[name]), agree[name]) if fn is not None
        else (name, None, "not installed") for name, fn in engines]
    ours_rounds = per_round["policyc check (single)"]
    peer_names = [name for name, fn in engines[1:] if fn is not None]
    speedups = [min(per_round[p][k] for p in peer_names) / ours_rounds[k]
                for k in range(ROUNDS)] if peer_names else []

    ours = rows[0][1]
    assert ours is not None
    print(f"\n{n_rules}-rule deny-overrides policy, {n_events:,} events "
          f"({100 - 100 * sum(want) / n_events:.1f}% denied), {ROUNDS} interleaved rounds "
          "(median of the rounds' medians)\n")
    print(f"{'engine':<34} {'median µs':>10} {'vs policyc':>11}  agree")
    for name, med, agree in rows:
        if med is None:
            print(f"{name:<34} {'-':>10} {'-':>11}  {agree}")
        else:
            print(f"{name:<34} {med:>10.2f} {med / ours:>10.1f}x  {agree}")
    rate, allow = batch_throughput(bundle, events, n_cats, repeat=100)
    agree = int((allow == np.array(want)).sum())
    print(f"\npolicyc check_batch, {n_rules} rules: {rate / 1e6:.1f} M decisions/s "
          f"(1M events; agree {agree}/{n_events})")
    if speedups:
        print(f"single-decision speedup over the fastest peer, per round: "
              f"{', '.join(f'{x:.1f}x' for x in speedups)}; median "
              f"{statistics.median(speedups):.1f}x (target >= 20x)")

    big_rules = make_rules(5000, 64, seed=3)
    big_events = make_events(n_events, 64, seed=4)
    big = compile_bundle(to_pol(big_rules, 64), tmp)
    rate, allow = batch_throughput(big, big_events, 64, repeat=20)
    big_want = np.array([reference(big_rules, e) for e in big_events])
    print(f"policyc check_batch, 5000 rules: {rate / 1e6:.2f} M decisions/s "
          f"(200k events; agree {int((allow == big_want).sum())}/{n_events})")
    med, got = timed(policyc_engine(big), big_events[:2000])
    print(f"policyc check (single), 5000 rules: {med:.2f} µs median "
          f"(agree {sum(map(int.__eq__, got, big_want[:2000].tolist()))}/2000)")


def _truthy(res: Any) -> bool:
    """opa-eval returns the query's value, possibly wrapped in a result list/dict."""
    if isinstance(res, str):
        res = json.loads(res)
    while isinstance(res, (list, dict)):
        if isinstance(res, dict):
            res = res.get("result", res.get("value", res.get("expressions", False)))
            if isinstance(res, dict) and "value" in res:
                res = res["value"]
        elif res:
            res = res[0]
        else:
            return False
    return res is True


if __name__ == "__main__":
    main()
