"""policyc side of the comparison: write a world as `.pol` files, compile, decide.

Only plumbing comes from policyc (loading, compiling, the runtime); what is right is the
oracle's (`oracle.py`).
"""

from __future__ import annotations

import json
import math
import random
import re
import tempfile
from pathlib import Path
from typing import Any

from oracle.gen import event, policy_text
from oracle.oracle import TooBig, World, decision_at, diff_cells, lint_facts, raised_floor_thresholds
from policyc.compile.pipeline import compile_program
from policyc.runtime import Bundle, InvalidEvent
from policyc.semantics.program import load_program


def write(w: World, folder: Path, tight: bool = True) -> None:
    for name, pol in w.p.items():
        (folder / f"{name.replace('.', '_')}.pol").write_text(policy_text(pol, tight))


def compile_world(w: World, name: str, tight: bool = True) -> tuple[Bundle | None, list[str]]:
    """The bundle of `name` (in-process, not gated by hierarchy errors) and fatal messages."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write(w, folder, tight)
        program = load_program([folder / f"{name.replace('.', '_')}.pol"], [folder])
        fatal = [f"{d.code} {d.message}" for d in program.diagnostics if d.fatal]
        if program.fatal:
            return None, fatal
        state = compile_program(program)
        if state.bundle is None:
            return None, [f"{d.code} {d.message}" for d in state.diagnostics]
        return Bundle.from_bytes(state.bundle), []


def same(a: Any, b: Any) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a)
                      and math.isnan(b))


def compare_events(w: World, name: str, bundle: Bundle, r: random.Random, n: int
                   ) -> list[dict[str, Any]]:
    """Disagreements between the bundle and the oracle on `n` random events."""
    bad = []
    for _ in range(n):
        context, scores = event(r, w, name)
        env = w.env(name, context, scores)
        try:
            d = bundle.check(context=context, scores=scores)
            got: Any = (d.action, d.argument, d.rule, list(d.matched))
        except InvalidEvent as e:
            got = ("invalid", str(e))
        if isinstance(env, str):
            want: Any = ("invalid", env)
            ok = got[0] == "invalid"
        else:
            try:
                want = w.decide(name, env)
            except TooBig:
                continue
            ok = got == want
        if not ok:
            bad.append({"context": context, "scores": scores, "want": want, "got": got})
    return bad


def cli(args: list[str]) -> tuple[int, str]:
    """The real command line, in-process (`subprocess` is used for a sample elsewhere)."""
    from typer.testing import CliRunner

    from policyc.cli import app

    res = CliRunner().invoke(app, args)
    return res.exit_code, res.stdout


def lint_json(w: World, name: str) -> tuple[dict[str, Any], int]:
    """policyc's findings on `name` (codes -> rule ids or a flag) and compile's exit code."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write(w, folder)
        f = folder / f"{name.replace('.', '_')}.pol"
        code, out = cli(["lint", str(f), "--path", str(folder), "--format", "json"])
        data = json.loads(out)
        ccode, _ = cli(["compile", str(f), "--path", str(folder), "-o", str(folder / "b")])
    return data, ccode


def rule_in(msg: str) -> str:
    m = re.search(r"rule `([^`]+)`", msg)
    return m.group(1) if m else "?"


def compare_lint(w: World, name: str) -> list[str]:
    """Mismatches between policyc lint/compile and the oracle's whole-space facts."""
    facts = lint_facts(w, name)
    data, ccode = lint_json(w, name)
    diags = data["diagnostics"]
    own = f"{name.replace('.', '_')}.pol"
    by: dict[str, list[dict[str, Any]]] = {}
    for d in diags:
        by.setdefault(d["code"], []).append(d)
    bad = []
    fatal = [d for d in diags if d["code"] < "POL200"]
    if fatal:
        return [f"front-end errors: {[(d['code'], d['message']) for d in fatal]}"]
    got_unsat = sorted(rule_in(d["message"]) for d in by.get("POL205", [])
                       if d["file"].endswith(own))
    if got_unsat != facts["unsat"]:
        bad.append(f"POL205 got {got_unsat} want {facts['unsat']}")
    got_dead = sorted(rule_in(d["message"]) for d in by.get("POL203", [])
                      if d["file"].endswith(own))
    if got_dead != facts["dead"]:
        bad.append(f"POL203 got {got_dead} want {facts['dead']}")
    got_red = sorted(rule_in(d["message"]) for d in by.get("POL204", [])
                     if d["file"].endswith(own))
    if got_red != facts["redundant"]:
        bad.append(f"POL204 got {got_red} want {facts['redundant']}")
    if bool(by.get("POL207")) != facts["gap"]:
        bad.append(f"POL207 got {bool(by.get('POL207'))} want {facts['gap']}")
    if not w.p[name].extends and bool(by.get("POL201")) != facts["ambiguous"]:
        bad.append(f"POL201 got {[d['message'] for d in by.get('POL201', [])]}"
                   f" want {facts['ambiguous']}")
    got_301 = sorted({rule_in(d["message"]) for d in by.get("POL301", [])})
    if got_301 != facts["floor_loosened"]:
        bad.append(f"POL301 got {got_301} want {facts['floor_loosened']}")
    for parent, narrowing in w.p[name].extends:
        code = "POL302" if narrowing else "POL303"
        got = any(parent in d["message"] for d in by.get(code, []))
        if got != facts["loosened"][parent]:
            bad.append(f"{code} for {parent} got {got} want {facts['loosened'][parent]}")
    raised = raised_floor_thresholds(w, name)
    if bool(by.get("POL304")) != bool(raised):
        bad.append(f"POL304 got {[d['message'] for d in by.get('POL304', [])]} want {raised}")
    refuse = bool(facts["floor_loosened"] or raised or any(
        facts["loosened"][p] for p, n in w.p[name].extends if n))
    if (ccode == 2) != refuse:
        bad.append(f"compile exit {ccode}, oracle refuses: {refuse}")
    return bad


def in_region(env: dict[str, Any], region: dict[str, Any]) -> bool:
    return all(in_constraint(env[var], c) for var, c in region.items())


def in_constraint(v: Any, c: dict[str, Any]) -> bool:
    """A diff region's constraint on one variable (CLI.md *Rows*), read literally."""
    for op, x in c.items():
        if op == "any_of":
            ok = any(in_constraint(v, y) for y in x)
        elif op == "in":
            ok = v in x
        else:
            ok = {"ge": v >= x, "gt": v > x, "le": v <= x, "lt": v < x, "eq": v == x}[op]
        if not ok:
            return False
    return True


def compare_diff(old: World, new: World, name: str) -> list[str]:
    """policyc diff --format json against the oracle's brute force over the grid."""
    want = diff_cells(old, name, new, name)
    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp) / "a", Path(tmp) / "b"
        a.mkdir()
        b.mkdir()
        write(old, a)
        write(new, b)
        f = f"{name.replace('.', '_')}.pol"
        code, out = cli(["diff", str(a / f), str(b / f), "--format", "json"])
    if code == 2:
        return [f"diff exit 2: {out[:300]}"]
    data = json.loads(out)
    bad = []
    changes = data["changes"]
    got_kinds = {c["kind"] for c in changes}
    want_kinds = {k for _, k, _, _ in want}
    if got_kinds != want_kinds:
        bad.append(f"kinds got {sorted(got_kinds)} want {sorted(want_kinds)}")
    leaves = old.leaves(name)
    ctxs = old.contexts(name)
    for c in changes:
        env: dict[str, Any] = dict.fromkeys(leaves, 0.0)
        env.update({k: v.default for k, v in ctxs.items() if v.default is not None})
        env.update(c["witness"])
        if any(k not in env for k in ctxs):
            bad.append(f"witness lacks an attribute: {c['witness']}")
            continue
        a = decision_at(old, name, env) or (None, None)
        b = decision_at(new, name, env) or (None, None)
        if (a, b) != ((c["old"]["action"], c["old"]["argument"]),
                      (c["new"]["action"], c["new"]["argument"])):
            bad.append(f"witness {c['witness']}: oracle {a} -> {b}, diff says {c['old']} -> "
                       f"{c['new']}")
    missed = 0
    for env, kind, a, b in want:
        hit = [c for c in changes if in_region(env, c["region"])
               and not any(in_region(env, x) for x in c.get("except", []))]
        if not any(c["kind"] == kind and (c["old"]["action"], c["old"]["argument"]) == a
                   and (c["new"]["action"], c["new"]["argument"]) == b for c in hit):
            missed += 1
            if missed == 1:
                bad.append(f"grid event {env} ({kind} {a} -> {b}) is in no such region")
    return bad
