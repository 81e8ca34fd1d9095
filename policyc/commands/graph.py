"""`policyc graph`: print the policy hierarchy and the rule-overlap graph.

The graphs are built and rendered by `policyc/render/graph.py`. Exit codes: 0 printed;
2 the input could not be processed, or `--format svg` without Graphviz.
"""

from __future__ import annotations

import sys
from pathlib import Path

from policyc.commands.console import fail, print_diagnostics
from policyc.commands.inputs import load_inputs
from policyc.render.graph import render_graph


def run(files: list[Path], format: str, path: list[Path], stdin_filename: str | None = None
        ) -> int:
    program = load_inputs(files, path, stdin_filename)
    fatal = [d for d in program.diagnostics if d.fatal]
    if fatal:
        print_diagnostics(fatal, program.sources)
        return 2
    try:
        sys.stdout.write(render_graph(program, format))
    except RuntimeError as err:
        return fail(str(err), "install Graphviz (`dot`) for svg, or use `--format dot`")
    return 0
