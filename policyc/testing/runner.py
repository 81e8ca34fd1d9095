"""The `policyc test` runner: run every `test` block and record rule coverage (LANGUAGE.md §6).

Each policy is compiled in memory (the compile pipeline, as `policyc check FILE.pol`
does) and its tests are decided by the runtime checker:

- `given` sets category scores and attributes; other scores are 0 and other
  attributes take their defaults. An attribute with no default that `given` does not
  set makes the test an **error** ("missing attribute `x` (no default): give it in
  `given`"), never a guess;
- `text "…"` runs the policy's classifier bindings (models, detectors) on the text;
  scores in `given` replace computed ones;
- `expect D` passes when the decision is D (action and argument); `expect D by R`
  also needs rule R to have decided.

Coverage (which rules and regions the tests reached) is `policyc/testing/coverage.py`;
the command (output formats, exit codes) is `policyc/commands/test.py`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from policyc.compile.pipeline import compile_program
from policyc.lint.gate import COMPILE_GATE
from policyc.runtime.checker import Bundle, InvalidEvent
from policyc.semantics.model import Decision, FlatPolicy
from policyc.semantics.regions.decision_map import DecisionMap
from policyc.syntax import ast
from policyc.testing.coverage import RuleCoverage, box_entries, deciding_boxes


@dataclass
class TestResult:
    policy: str
    file: str
    line: int | None
    name: str
    status: str  # "passed" | "failed" | "error"
    expected: Decision | None
    expected_rule: str | None
    actual: dict[str, Any] | None  # action, argument, rule, matched, scores, errors
    message: str
    time_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "file": self.file, "line": self.line, "name": self.name,
                "status": self.status,
                "expected": None if self.expected is None else
                {**self.expected.to_dict(), "rule": self.expected_rule},
                "actual": self.actual, "message": self.message}


@dataclass
class PolicyRun:
    policy: str
    file: str
    results: list[TestResult] = field(default_factory=list)


@dataclass
class TestRun:
    policies: list[PolicyRun] = field(default_factory=list)
    coverage: dict[tuple[str, str], RuleCoverage] = field(default_factory=dict)
    given: set[str] = field(default_factory=set)  # files of the policies given (roots)

    @property
    def results(self) -> list[TestResult]:
        return [r for p in self.policies for r in p.results]

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)


# ---- running ------------------------------------------------------------------------------


def decided_text(actual: dict[str, Any]) -> str:
    """What a test decided: `refuse by rule `r` (matched: r, s)`, errors appended."""
    by = f"rule `{actual['rule']}`" if actual["rule"] else "default"
    matched = ", ".join(actual["matched"]) or "none"
    extra = f"; errors: {'; '.join(actual['errors'])}" if actual.get("errors") else ""
    return f"{Decision(actual['action'], actual['argument'])} by {by} (matched: {matched}){extra}"


def run_policy_tests(flat: FlatPolicy, checker: Any, dm: DecisionMap, run: TestRun) -> PolicyRun:
    prun = PolicyRun(flat.name, flat.path)
    index = {r.id: i for i, r in enumerate(dm.rules)}
    entry_box = box_entries(dm)
    for ri, rule in enumerate(dm.rules):
        span = rule.span
        key = (span.file if span else rule.origin, rule.id)
        cov = run.coverage.get(key)
        if cov is None:
            cov = run.coverage[key] = RuleCoverage(
                rule.id, rule.origin, key[0], span.line if span else None,
                stdlib=rule.origin.startswith("std.") and key[0] not in run.given)
        cov.regions = max(cov.regions, len(dm.boxes[ri]))
        cov.deciding |= deciding_boxes(dm, ri)
    for t in flat.tests:
        prun.results.append(_run_one(flat, checker, dm, t, index, entry_box, run,
                                     InvalidEvent))
    run.policies.append(prun)
    return prun


def _run_one(flat: FlatPolicy, checker: Any, dm: DecisionMap, t: ast.Test,
             index: dict[str, int], entry_box: dict[int, tuple[int, int]], run: TestRun,
             invalid: type[Exception]) -> TestResult:
    expected = Decision.of(t.expect) if t.expect is not None else None
    line = t.span.line if t.span else None
    result = TestResult(flat.name, flat.path, line, t.name, "error", expected, t.expect_rule,
                        None, "")
    given = {a.name: a.value for a in t.given}
    context = {k: v for k, v in given.items() if k in flat.contexts}
    scores = {k: v for k, v in given.items() if k not in flat.contexts}
    missing = [n for n, var in flat.contexts.items() if var.default is None and n not in context]
    if missing:
        result.message = "; ".join(f"missing attribute `{n}` (no default): give it in `given`"
                                   for n in missing)
        return result
    start = time.perf_counter()
    try:
        d = checker.check(text=t.text, context=context, scores=scores)
    except invalid as exc:
        result.message = f"invalid event: {exc}"
        return result
    finally:
        result.time_s = time.perf_counter() - start
    actual = {"action": d.action, "argument": d.argument, "rule": d.rule,
              "matched": list(d.matched), "scores": dict(d.scores)}
    if d.errors:
        actual["errors"] = list(d.errors)
    result.actual = actual
    # coverage: the rule that decided, and which of its boxes the event lies in
    if d.rule is not None and d.rule in index:
        ri = index[d.rule]
        rule = dm.rules[ri]
        span = rule.span
        cov = run.coverage[(span.file if span else rule.origin, rule.id)]
        cov.decided_in.append(f"{flat.name}: {t.name}")
        try:
            point = dm.point_of({**context, **d.scores})
        except KeyError:  # pragma: no cover - every attribute was checked above
            point = None
        if point is not None:
            hit = dm.matched_entries(point) & dm.rule_entries[ri]
            e = 0
            while hit:
                if hit & 1:
                    cov.reached.add(entry_box[e][1])
                hit >>= 1
                e += 1
    ok_decision = expected is None or (d.action == expected.action
                                       and d.argument == expected.argument)
    ok_rule = t.expect_rule is None or d.rule == t.expect_rule
    if ok_decision and ok_rule:
        result.status = "passed"
        return result
    result.status = "failed"
    want = "any decision" if expected is None else str(expected)
    if t.expect_rule is not None:
        want += f" by rule `{t.expect_rule}`"
    result.message = f"expected {want}, got {decided_text(actual)}"
    return result


def run_tests(program: Any) -> tuple[TestRun, list[Any]]:
    """Run every policy's tests; (the run, fatal diagnostics that stopped a compile)."""
    run = TestRun(given={m.path for m in program.roots})
    fatal: list[Any] = []
    for flat in sorted(program.policies.values(), key=lambda f: (f.path, f.name)):
        state = compile_program(program, policy=flat, gate=COMPILE_GATE)
        if state.bundle is None or state.dm is None:
            fatal.extend(d for d in state.diagnostics if d not in fatal)
            continue
        checker = Bundle.from_bytes(state.bundle, flat.path, verify_key=False)  # from source
        run_policy_tests(flat, checker, state.dm, run)
    return run, fatal
