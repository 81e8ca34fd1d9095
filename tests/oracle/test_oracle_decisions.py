"""Decisions of compiled bundles == the independent oracle (LANGUAGE.md §1, §3-§5).

Random policies (flat, parent and child, a chain of three, a diamond; every strategy,
locked floors, overrides, drops, sugar, thresholds per category and by default, sets)
are written as `.pol` text, compiled, and decided on random events (scores at, just
above and just below every threshold and constant; missing scores and attributes;
invalid events). Volume in-process through `policyc.runtime.Bundle`; a sample through
the real command line (`compile`, then `check --input`) in subprocesses.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

from oracle.gen import Gen, event, policy_text, shrink
from oracle.harness import compare_events, compile_world, write
from oracle.oracle import TooBig, World, lint_facts, raised_floor_thresholds
from oracle.scale import seeds

ROOT = Path(__file__).resolve().parents[2]


def report(w: World, bad: list[Any]) -> str:
    return "\n".join([*(policy_text(p) for p in w.p.values()), *map(str, bad[:3])])


def test_bundle_decides_as_the_oracle() -> None:
    failures = []
    for seed in seeds(300, salt=1):
        w, name = Gen(seed).world()
        bundle, fatal = compile_world(w, name)
        assert bundle is not None, (seed, fatal, report(w, []))
        bad = compare_events(w, name, bundle, random.Random(seed), 30)
        if bad:
            def fails(cand: World, name: str = name, seed: int = seed) -> bool:
                b, _ = compile_world(cand, name)
                return b is not None and bool(compare_events(cand, name, b,
                                                             random.Random(seed), 30))
            small = shrink(w, fails, budget=150)
            b, _ = compile_world(small, name)
            assert b is not None
            failures.append((seed, report(small, compare_events(small, name, b,
                                                                random.Random(seed), 30))))
            if len(failures) >= 3:
                break
    assert not failures, "\n\n".join(f"seed {s}:\n{r}" for s, r in failures)


def refused(w: World, name: str) -> bool:
    """compile refuses exactly the children with an error-level hierarchy finding."""
    facts = lint_facts(w, name)
    return bool(facts["floor_loosened"] or raised_floor_thresholds(w, name) or any(
        facts["loosened"][p] for p, narrowing in w.p[name].extends if narrowing))


def test_command_line_decides_as_the_oracle(tmp_path: Path) -> None:
    """`policyc compile` then `policyc check --input` in real processes."""
    for seed in seeds(8, salt=2):
        w, name = Gen(seed, small=True).world()
        folder = tmp_path / str(seed)
        folder.mkdir()
        write(w, folder)
        src = folder / f"{name.replace('.', '_')}.pol"
        bundle = folder / "p.pbundle"
        comp = subprocess.run([sys.executable, "-m", "policyc", "compile", str(src), "-o",
                               str(bundle)], capture_output=True, text=True, cwd=ROOT)
        want_refused = refused(w, name)
        assert (comp.returncode == 2) == want_refused, (seed, comp.stdout, comp.stderr,
                                                         report(w, []))
        if want_refused:
            continue
        assert comp.returncode == 0, (seed, comp.stderr)
        r = random.Random(seed)
        events = [event(r, w, name, invalid=0.1) for _ in range(40)]
        lines = [json.dumps({"id": f"e{i}", "context": c, "scores": s})
                 for i, (c, s) in enumerate(events)]
        (folder / "events.jsonl").write_text("\n".join(lines) + "\n")
        out = folder / "out.jsonl"
        chk = subprocess.run([sys.executable, "-m", "policyc", "check", str(bundle), "--input",
                              str(folder / "events.jsonl"), "--output", str(out)],
                             capture_output=True, text=True, cwd=ROOT)
        got = {d["id"]: d for d in map(json.loads, out.read_text().splitlines())}
        any_invalid = False
        for i, (c, s) in enumerate(events):
            env = w.env(name, c, s)
            if isinstance(env, str):
                any_invalid = True
                assert "action" not in got.get(f"e{i}", {}), (seed, c, s, env, got.get(f"e{i}"))
                continue
            try:
                want = w.decide(name, env)
            except TooBig:
                continue
            d = got[f"e{i}"]
            assert (d["action"], d["argument"], d["rule"], d["matched"]) == want, (
                seed, c, s, d, want, report(w, []))
        assert chk.returncode == (1 if any_invalid else 0), (seed, chk.stderr)
        # one event at a time, as flags: `check --context k=v --score c=x --json`
        valid = [(c, s) for c, s in events if not isinstance(w.env(name, c, s), str)]
        for c, s in valid[:2]:
            args = [f"--context={k}={flag(v)}" for k, v in c.items()]
            args += [f"--score={k}={flag(v)}" for k, v in s.items()]
            one = subprocess.run([sys.executable, "-m", "policyc", "check", str(bundle),
                                  "--json", *args], capture_output=True, text=True, cwd=ROOT)
            d = json.loads(one.stdout)
            env = w.env(name, c, s)
            assert not isinstance(env, str)
            assert (d["action"], d["argument"], d["rule"], d["matched"]) == w.decide(name, env), (
                seed, args, d, report(w, []))


def test_policy_tests_pass_when_they_expect_the_oracle(tmp_path: Path) -> None:
    """`test` blocks whose `expect` (and `by`) is the oracle's decision all pass
    (LANGUAGE.md §6: `given` sets attributes and scores, the others default / 0)."""
    from typer.testing import CliRunner

    from policyc.cli import app

    for seed in seeds(40, salt=5):
        w, name = Gen(seed, small=True).world()
        if refused(w, name):
            continue
        r = random.Random(seed)
        blocks = []
        for k in range(4):
            c, s = event(r, w, name, invalid=0)
            env = w.env(name, c, s)
            if isinstance(env, str):
                continue
            action, arg, rule, _ = w.decide(name, env)
            given = ", ".join(f"{a} = {flag(v)}" for a, v in [*c.items(), *s.items()])
            expect = action if arg is None else f'{action}("{arg}")'
            by = f" by {rule}" if rule and "#" not in rule else ""
            blocks.append(f'  test "t{k}" {{\n    {"given " + given if given else ""}\n'
                          f"    expect {expect}{by}\n  }}\n")
        folder = tmp_path / str(seed)
        folder.mkdir()
        write(w, folder)
        src = folder / f"{name.replace('.', '_')}.pol"
        text = src.read_text()
        src.write_text(text[: text.rstrip().rfind("}")] + "".join(blocks) + "}\n")
        res = CliRunner().invoke(app, ["test", str(src)])
        assert res.exit_code == 0, (seed, res.stdout, src.read_text())


def flag(v: Any) -> str:
    return str(v).lower() if isinstance(v, bool) else repr(v) if isinstance(v, float) else str(v)
