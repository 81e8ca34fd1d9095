"""`policyc rules`: every diagnostic code with its name, severity and summary."""

from __future__ import annotations

import sys

import typer

from policyc.lint.registry import all_codes
from policyc.render.machine import dumps


def run(json_out: bool = False) -> int:
    specs = list(all_codes().values())
    if json_out:
        sys.stdout.write(dumps({"schema": "policyc/rules/v1", "rules": [
            {"code": s.code, "name": s.name, "severity": s.severity.value,
             "summary": s.summary, "lint_rule": s.check is not None, "doc": s.doc_path}
            for s in specs]}))
        return 0
    for spec in specs:
        typer.echo(f"{spec.code}  {spec.name:<28} {spec.severity.value:<8} {spec.summary}")
    return 0
