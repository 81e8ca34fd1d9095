"""`policyc test FILES`: run every `test` block and report rule coverage (LANGUAGE.md §6).

Output as text (failures, then coverage, then the closing line CI reads), JSON
(`policyc/test/v1`) or JUnit XML. The runner is `policyc/testing/runner.py`, coverage
`policyc/testing/coverage.py`.

Exit codes: 0 all tests passed; 1 a test failed or could not be decided; 2 the input
could not be processed (syntax, names, types, a policy that does not compile).
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from policyc.commands.console import console, print_diagnostics, quiet
from policyc.commands.inputs import load_inputs
from policyc.render.machine import dumps, to_lint_json
from policyc.testing.coverage import coverage_summary
from policyc.testing.runner import TestRun, decided_text, run_tests

SCHEMA = "policyc/test/v1"


def closing_line(run: TestRun) -> str:
    """The plain line CI reads: errors count as failures."""
    return f"{run.count('passed')} passed, {run.count('failed') + run.count('error')} failed"


def render_text(run: TestRun, console: Console) -> None:
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
            console.print(f"  {tag} \"{escape(r.name)}\" ({escape(where)})", markup=True,
                          highlight=False)
            if r.status == "failed" and r.actual is not None:
                want = "any" if r.expected is None else str(r.expected)
                if r.expected_rule:
                    want += f" by rule `{r.expected_rule}`"
                console.print(f"      expected: {want}", markup=False, highlight=False)
                console.print(f"      actual:   {decided_text(r.actual)}", markup=False,
                              highlight=False)
            else:
                console.print(f"      {r.message}", markup=False, highlight=False)
    if not quiet():
        _render_coverage(coverage_summary(run.coverage.values()), console)
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


def to_dict(run: TestRun, diagnostics: Sequence[Any] = ()) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "results": [r.to_dict() for r in run.results],
        "policies": [{"policy": p.policy, "file": p.file, "tests": len(p.results),
                      "passed": sum(r.status == "passed" for r in p.results),
                      "failed": sum(r.status == "failed" for r in p.results),
                      "errors": sum(r.status == "error" for r in p.results)}
                     for p in run.policies],
        "coverage": coverage_summary(run.coverage.values()),
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


def run(files: list[Path], format: str, path: list[Path], stdin_filename: str | None = None
        ) -> int:
    program = load_inputs(list(files), list(path), stdin_filename)
    fatal = [d for d in program.diagnostics if d.fatal]
    tests = TestRun()
    if not fatal:
        tests, fatal = run_tests(program)
    if fatal:
        if format == "json":
            sys.stdout.write(dumps(to_dict(TestRun(), fatal)))
        else:
            print_diagnostics(fatal, program.sources)
        return 2
    if format == "json":
        sys.stdout.write(dumps(to_dict(tests)))
    elif format == "junit":
        sys.stdout.write(to_junit(tests))
    else:
        render_text(tests, console())
    return 1 if tests.count("failed") or tests.count("error") else 0
