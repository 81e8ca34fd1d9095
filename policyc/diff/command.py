"""`policyc diff OLD NEW`: load both versions, diff, render, exit per `--fail-on`."""

from __future__ import annotations

import difflib
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from policyc.console import console
from policyc.diff.report import to_markdown, to_text
from policyc.diff.semantic import DiffReport, semantic_diff
from policyc.inputs import is_bundle
from policyc.render.human import render_human
from policyc.render.machine import dumps
from policyc.semantics.loader import named_policy, stdlib_names
from policyc.semantics.model import FlatPolicy
from policyc.semantics.program import Program, load_program
from policyc.semantics.regions.boxes import build_space
from policyc.semantics.regions.compare import EXACT_BUDGET
from policyc.semantics.regions.decision_map import DecisionMap


def _load_one(path: Path, search: list[Path],
              err: Console) -> tuple[FlatPolicy, str, Program | None, str | None] | None:
    """A `.pol` file (flattened with its hierarchy), a compiled bundle, or a policy name
    (`std.baseline`, or one declared in a `--path` folder)."""
    named = named_policy(path, search)
    if named is not None:
        path = named
    if not path.is_file():
        if str(path).startswith("std.") and not path.exists():
            guess = difflib.get_close_matches(str(path), stdlib_names(), n=1)
            err.print(f"error: unknown standard library policy `{path}`", markup=False)
            err.print("  = help: " + (f"did you mean `{guess[0]}`?" if guess else
                                      f"known: {', '.join(stdlib_names())}"), markup=False)
            return None
        err.print(f"error: no such file `{path}`", markup=False)
        err.print("  = help: give two `.pol` files, two bundles, or a `std.*` policy name",
                  markup=False)
        return None
    if is_bundle(path):  # by content, whatever the name
        from policyc.diff.bundles import load_bundle_policy
        from policyc.runtime.bundle import BundleError

        try:
            flat, digest = load_bundle_policy(str(path))
        except BundleError as e:
            err.print(f"error: {e}", markup=False)
            err.print("  = help: recompile it with `policyc compile`, or diff the `.pol` "
                      "sources", markup=False)
            return None
        return flat, "", None, digest
    program = load_program([path], search)
    fatal = [d for d in program.diagnostics if d.fatal]
    if fatal:
        render_human(fatal, program.sources, err)
        return None
    module = program.roots[0]
    return (program.policies[module.policy.name], program.sources.get(module.path, ""),
            program, None)


def replay(report: DiffReport, events_path: Path) -> dict[str, Any]:
    """Decision flips on real events (scores and context; text events are skipped)."""
    space = build_space([report.old, report.new])
    a, b = DecisionMap(report.old, space), DecisionMap(report.new, space)
    flips: dict[str, list[dict[str, Any]]] = {"loosened": [], "tightened": [], "changed": []}
    total = skipped = 0
    for n, line in enumerate(events_path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        total += 1
        try:
            event = json.loads(line)
            values = {**event.get("context", {}), **event.get("scores", {})}
            oa, ob = a.decide_event(values), b.decide_event(values)
        except (ValueError, KeyError, TypeError, AttributeError):
            skipped += 1
            continue
        if oa.key() == ob.key() or oa.decision is None or ob.decision is None:
            continue
        ra, rb = oa.decision.restrictiveness, ob.decision.restrictiveness
        kind = "tightened" if rb > ra else "loosened" if rb < ra else "changed"
        flips[kind].append({"id": event.get("id", n), "old": str(oa.decision),
                            "new": str(ob.decision)})
    return {"events": total, "skipped": skipped,
            "flips": {k: len(v) for k, v in flips.items()},
            "examples": {k: v[:5] for k, v in flips.items()}}


def _bundle_hash(program: Program | None, flat: FlatPolicy) -> str | None:
    """A source's hash: its compiled bundle's (None: from a bundle file, or no bundle)."""
    if program is None:
        return None
    from policyc.compile.pipeline import bundle_hash
    from policyc.lint.gate import COMPILE_GATE

    return bundle_hash(program, flat, COMPILE_GATE)


def run_diff(old: Path, new: Path, fmt: str, fail_on: str | None, replay_path: Path | None,
             search: list[Path], exact: bool = False) -> int:
    err = console(stderr=True)
    a = _load_one(old, search, err)
    b = _load_one(new, search, err)
    if a is None or b is None:
        return 2
    hashes = (a[3] or _bundle_hash(a[2], a[0]), b[3] or _bundle_hash(b[2], b[0]))
    report = semantic_diff(a[0], b[0], b[1], hashes, budget=None if exact else EXACT_BUDGET)
    replayed = None
    if replay_path is not None:
        try:
            replayed = replay(report, replay_path)
        except OSError as e:
            err.print(f"error: cannot read `{replay_path}`: {e.strerror}", markup=False)
            return 2
    if fmt == "json":
        data = report.to_dict()
        if replayed is not None:
            data["replay"] = replayed
        sys.stdout.write(dumps(data))
    elif fmt == "markdown":
        sys.stdout.write(to_markdown(report))
        if replayed is not None:
            sys.stdout.write(f"\n**Replay** of {replayed['events']} events: "
                             + ", ".join(f"{n} {k}" for k, n in replayed["flips"].items()) + "\n")
    else:
        sys.stdout.write(to_text(report))
        if replayed is not None:
            sys.stdout.write(f"replay of {replayed['events']} events: "
                             + ", ".join(f"{n} {k}" for k, n in replayed["flips"].items()) + "\n")
    if fail_on == "loosened" and report.unaccepted_loosenings():
        return 1
    if fail_on == "any" and (report.changes or report.bindings):
        return 1
    return 0
