"""`policyc test FILES`: run every `test` block and report rule coverage (LANGUAGE.md §6).

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

Coverage: a rule is **exercised** when it decided some test. Each rule's guard is a
union of boxes (its regions); a box is a **deciding region** when the rule decides
somewhere inside it (exact, from the decision map), and it is **reached** when some
test's event lies in it and the rule decided that test. Rules are counted once per
declaration (a parent's rule seen through several children is one rule).

Exit codes: 0 all tests passed; 1 a test failed or could not be decided; 2 the input
could not be processed (syntax, names, types, a policy that does not compile).
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from policyc.semantics.decision import DecisionMap
from policyc.semantics.model import Decision, FlatPolicy
from policyc.syntax import ast

SCHEMA = "policyc/test/v1"
#: Cells examined per box when deciding regions need enumeration (locked, most-specific).
CELL_BUDGET = 20000


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
class RuleCoverage:
    rule: str
    policy: str  # the declaring policy
    file: str
    line: int | None
    regions: int = 0  # boxes of the guard
    deciding: set[int] = field(default_factory=set)  # boxes where the rule can decide
    reached: set[int] = field(default_factory=set)  # deciding boxes a test reached
    decided_in: list[str] = field(default_factory=list)  # tests it decided
    #: inherited from the standard library (a `std.*` policy not among the files given):
    #: counted apart, since the user's tests are not where it gets tested
    stdlib: bool = False

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "policy": self.policy, "file": self.file, "line": self.line,
                "regions": len(self.deciding), "reached": len(self.reached & self.deciding),
                "dead": not self.deciding, "decided_in": self.decided_in,
                "stdlib": self.stdlib}


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


# ---- deciding regions ---------------------------------------------------------------------


def _box_entries(dm: DecisionMap) -> dict[int, tuple[int, int]]:
    """Entry -> (rule index, box index within the rule), as DecisionMap numbers them."""
    out: dict[int, tuple[int, int]] = {}
    e = 0
    for ri in dm.rank:
        for k in range(len(dm.boxes[ri])):
            out[e] = (ri, k)
            e += 1
    return out


def deciding_boxes(dm: DecisionMap, ri: int) -> set[int]:
    """Indices of rule `ri`'s boxes inside which it decides somewhere (exact)."""
    rule = dm.rules[ri]
    out: set[int] = set()
    forbid = dm.entries_above(ri) | dm.floor_overriders(ri) if dm.key_ordered else 0
    for k, box in enumerate(dm.boxes[ri]):
        if dm.key_ordered and dm.search(box, forbid) is not None:
            out.add(k)
        elif (rule.locked or not dm.key_ordered) and _decides_by_cells(dm, ri, box):
            out.add(k)
    return out


def _decides_by_cells(dm: DecisionMap, ri: int, box: dict[int, int]) -> bool:
    target = dm.rules[ri].id
    for n, cell in enumerate(dm.cells(box)):
        if dm.decide_point(dm.cell_point(cell)).rule == target:
            return True
        if n >= CELL_BUDGET:  # pragma: no cover - enormous policies: count it, stay fast
            return True
    return False


# ---- running ------------------------------------------------------------------------------


def _show(action: str, argument: str | None) -> str:
    return action if argument is None else f'{action}("{argument}")'


def _decided(actual: dict[str, Any]) -> str:
    by = f"rule `{actual['rule']}`" if actual["rule"] else "default"
    matched = ", ".join(actual["matched"]) or "none"
    extra = f"; errors: {'; '.join(actual['errors'])}" if actual.get("errors") else ""
    return f"{_show(actual['action'], actual['argument'])} by {by} (matched: {matched}){extra}"


def run_policy_tests(flat: FlatPolicy, checker: Any, dm: DecisionMap, run: TestRun) -> PolicyRun:
    from policyc.runtime.checker import InvalidEvent

    prun = PolicyRun(flat.name, flat.path)
    index = {r.id: i for i, r in enumerate(dm.rules)}
    entry_box = _box_entries(dm)
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
    result.message = f"expected {want}, got {_decided(actual)}"
    return result


def run_tests(program: Any) -> tuple[TestRun, list[Any]]:
    """Run every policy's tests; (the run, fatal diagnostics that stopped a compile)."""
    from policyc.compile.pipeline import compile_program
    from policyc.runtime.bundle import Bundle

    run = TestRun(given={m.path for m in program.roots})
    fatal: list[Any] = []
    for flat in sorted(program.policies.values(), key=lambda f: (f.path, f.name)):
        state = compile_program(program, policy=flat)
        if state.bundle is None or state.dm is None:
            fatal.extend(d for d in state.diagnostics if d not in fatal)
            continue
        checker = Bundle.from_bytes(state.bundle, flat.path, verify_key=False)  # from source
        run_policy_tests(flat, checker, state.dm, run)
    return run, fatal


# ---- output -------------------------------------------------------------------------------------


def _counts(rules: list[RuleCoverage]) -> dict[str, int]:
    return {"rules": len(rules), "exercised": sum(bool(c.decided_in) for c in rules),
            "regions": sum(len(c.deciding) for c in rules),
            "reached": sum(len(c.reached & c.deciding) for c in rules)}


def coverage_summary(run: TestRun) -> dict[str, Any]:
    """Figures over the user's rules (the policies given and their own parents); rules
    inherited from the standard library are counted apart under `stdlib`."""
    ordered = sorted(run.coverage.values(), key=lambda c: (c.file, c.line or 0, c.rule))
    rules = [c for c in ordered if not c.stdlib]
    std = [c for c in ordered if c.stdlib]
    return {
        **_counts(rules),
        "unexercised": [c.to_dict() for c in rules if not c.decided_in],
        "per_rule": [c.to_dict() for c in [*rules, *std]],
        "dead": [c.rule for c in rules if not c.deciding],
        "live_rules": sum(bool(c.deciding) for c in rules),
        "stdlib": _counts(std),
    }


def closing_line(run: TestRun) -> str:
    """The plain line CI reads: errors count as failures."""
    return f"{run.count('passed')} passed, {run.count('failed') + run.count('error')} failed"


def render_text(run: TestRun, console: Console) -> None:
    from policyc.console import quiet

    for p in run.policies:
        n_pass = sum(r.status == "passed" for r in p.results)
        n_fail = len(p.results) - n_pass
        if quiet() and not n_fail:
            continue
        if not p.results:
            status = "no tests"
        else:
            status = f"{n_pass} passed" + (f", {n_fail} failed" if n_fail else "")
        style = "red" if n_fail else ("dim" if not p.results else "green")
        console.print(f"[{style}]{p.file}[/]  {p.policy}: {status}", markup=True,
                      highlight=False)
        for r in p.results:
            if r.status == "passed":
                continue
            where = f"{r.file}:{r.line}" if r.line else r.file
            tag = "[bold red]FAIL[/]" if r.status == "failed" else "[bold red]ERROR[/]"
            console.print(f"  {tag} \"{_esc(r.name)}\" ({_esc(where)})", markup=True,
                          highlight=False)
            if r.status == "failed" and r.actual is not None:
                want = "any" if r.expected is None else str(r.expected)
                if r.expected_rule:
                    want += f" by rule `{r.expected_rule}`"
                console.print(f"      expected: {want}", markup=False, highlight=False)
                console.print(f"      actual:   {_decided(r.actual)}", markup=False,
                              highlight=False)
            else:
                console.print(f"      {r.message}", markup=False, highlight=False)
    if not quiet():
        _render_coverage(coverage_summary(run), console)
    errors = run.count("error")
    if errors:
        console.print(f"{errors} test{'s' if errors != 1 else ''} could not be decided "
                      "(counted as failed)", markup=False)
    console.print(closing_line(run), markup=False, highlight=False)


def _render_coverage(cov: dict[str, Any], console: Console) -> None:
    """The user's rules one by one; the standard library's in one line."""
    console.print()
    console.print(f"coverage: {cov['exercised']}/{cov['rules']} rules decided in some test; "
                  f"{cov['reached']}/{cov['regions']} deciding regions reached", markup=False,
                  highlight=False)
    if cov["unexercised"]:
        console.print("rules no test exercised:", markup=False)
        for c in cov["unexercised"]:
            where = f"{c['file']}:{c['line']}" if c["line"] else c["file"]
            dead = "  (shadowed: it decides no event)" if c["dead"] else ""
            console.print(f"  {where}  {c['rule']}  ({c['policy']}){dead}", markup=False,
                          highlight=False)
    partial = [c for c in cov["per_rule"] if c["decided_in"] and c["reached"] < c["regions"]
               and not c["stdlib"]]
    if partial:
        console.print("rules with deciding regions no test reached:", markup=False)
        for c in partial:
            where = f"{c['file']}:{c['line']}" if c["line"] else c["file"]
            console.print(f"  {where}  {c['rule']}: {c['reached']}/{c['regions']} regions",
                          markup=False, highlight=False)
    std = cov["stdlib"]
    if std["rules"]:
        console.print(f"standard library (inherited, not listed): {std['exercised']}/"
                      f"{std['rules']} rules decided in some test; {std['reached']}/"
                      f"{std['regions']} deciding regions reached", markup=False,
                      highlight=False)


def _esc(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def to_dict(run: TestRun, diagnostics: Sequence[Any] = ()) -> dict[str, Any]:
    from policyc.render.machine import to_lint_json

    return {
        "schema": SCHEMA,
        "results": [r.to_dict() for r in run.results],
        "policies": [{"policy": p.policy, "file": p.file, "tests": len(p.results),
                      "passed": sum(r.status == "passed" for r in p.results),
                      "failed": sum(r.status == "failed" for r in p.results),
                      "errors": sum(r.status == "error" for r in p.results)}
                     for p in run.policies],
        "coverage": coverage_summary(run),
        "diagnostics": to_lint_json(diagnostics)["diagnostics"],
        "summary": {"passed": run.count("passed"), "failed": run.count("failed"),
                    "errors": run.count("error"), "total": len(run.results)},
    }


def to_junit(run: TestRun) -> str:
    """JUnit XML (the common Jenkins/GitLab/GitHub dialect): one suite per policy."""
    results = run.results
    root = ET.Element("testsuites", {
        "name": "policyc test", "tests": str(len(results)),
        "failures": str(run.count("failed")), "errors": str(run.count("error")),
        "time": f"{sum(r.time_s for r in results):.6f}"})
    for p in run.policies:
        suite = ET.SubElement(root, "testsuite", {
            "name": p.policy, "file": p.file, "tests": str(len(p.results)),
            "failures": str(sum(r.status == "failed" for r in p.results)),
            "errors": str(sum(r.status == "error" for r in p.results)), "skipped": "0",
            "time": f"{sum(r.time_s for r in p.results):.6f}"})
        for r in p.results:
            attrs = {"classname": p.policy, "name": r.name, "file": r.file,
                     "time": f"{r.time_s:.6f}"}
            if r.line:
                attrs["line"] = str(r.line)
            case = ET.SubElement(suite, "testcase", attrs)
            if r.status == "failed":
                el = ET.SubElement(case, "failure", {"message": r.message, "type": "decision"})
                el.text = r.message
            elif r.status == "error":
                el = ET.SubElement(case, "error", {"message": r.message, "type": "invalid_event"})
                el.text = r.message
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


# ---- the command -----------------------------------------------------------------------------


def run_tests_command(files: list[Path], format: str, path: list[Path],
                      stdin_filename: str | None = None) -> int:
    import sys

    from policyc.console import console
    from policyc.inputs import load_inputs
    from policyc.render.human import render_human

    program = load_inputs(list(files), list(path), stdin_filename)
    fatal = [d for d in program.diagnostics if d.fatal]
    run = TestRun()
    if not fatal:
        run, fatal = run_tests(program)
    if fatal:
        if format == "json":
            from policyc.render.machine import dumps

            sys.stdout.write(dumps(to_dict(TestRun(), fatal)))
        else:
            render_human(fatal, program.sources, console(stderr=True))
        return 2
    if format == "json":
        from policyc.render.machine import dumps

        sys.stdout.write(dumps(to_dict(run)))
    elif format == "junit":
        sys.stdout.write(to_junit(run))
    else:
        render_text(run, console())
    return 1 if run.count("failed") or run.count("error") else 0
