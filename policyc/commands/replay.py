"""`policyc replay POLICY EVENTS [--against OLD] [--engine local|ray]` (docs/cli.md).

Exit codes: 0 done; 1 `--fail-on` matched, or rows were skipped; 2 bad input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from policyc.commands.console import UsageError, quiet
from policyc.commands.console import console as _console
from policyc.commands.event_flags import input_failure
from policyc.commands.inputs import is_bundle, load_inputs, load_target, verify_keys
from policyc.runtime.bundle import BundleError
from policyc.runtime.checker import Checker, InvalidEvent
from policyc.runtime.jsonl import BadLine

if TYPE_CHECKING:
    from policyc.diff.flips import FlipGroup
    from policyc.runtime.replay import Flip


def run_replay(target: Path, events: Path, against: Path | None, engine: str, json_out: bool,
               fail_on: str | None, limit: int, path: list[Path],
               verify_key: list[Path] | None = None) -> int:
    from policyc.runtime.columns import ColumnError
    from policyc.runtime.replay import replay

    err = _console(stderr=True)
    try:
        if engine not in ("local", "ray"):
            raise UsageError(f"unknown engine `{engine}`", "use `--engine local` or `--engine ray`")
        if not events.exists():  # a pipe (`<(zcat events.gz)`) is no regular file, but fine
            raise UsageError(f"cannot read {events}: no such file")
        if events.is_dir():
            raise UsageError(f"cannot read {events}: is a directory")
        keys = verify_keys(verify_key)  # read once, for both sides
        new = load_target(target, path, verify_key=keys)
        old = load_target(against, path, verify_key=keys) if against is not None else None

        def report(bad: BadLine) -> None:
            where = f"{events}:{bad.number}" if bad.number else str(events)
            err.print(f"{where}: skipped: {bad.message}", markup=False)

        if engine == "ray":
            from policyc.runtime.ray_engine import replay_ray

            counts = replay_ray(events, target_bytes(target, path),
                                target_bytes(against, path) if against is not None else None,
                                report, limit)
        else:
            counts = replay(events, new, old, report, limit)
    except ColumnError as exc:
        return input_failure(UsageError(str(exc), exc.help))
    except (UsageError, BundleError, InvalidEvent) as exc:
        return input_failure(exc)
    doc = counts.to_dict(old is not None)
    groups = _by_cause(counts.flips, old, new, limit) if old is not None else []
    if old is not None:
        doc["by_cause"] = [g.to_dict() for g in groups]
    if json_out:
        sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
    else:
        lines = [f"{counts.rows} rows: {counts.decided} decided, {counts.skipped} skipped",
                 "decisions: " + ", ".join(f"{a} {c}" for a, c in doc["actions"].items())]
        if old is not None:
            ch = doc["changed"]
            lines.append(f"changed: {sum(ch.values())} rows ({ch['loosened']} loosened, "
                         f"{ch['tightened']} tightened, {ch['changed']} changed argument)")
            for p in doc["pairs"]:
                if p["old"] != p["new"]:
                    lines.append(f"  {p['old']} -> {p['new']}: {p['count']}")
            if doc["rules"]:
                lines.append("by rule: " + ", ".join(f"`{r}` {c}" for r, c in doc["rules"].items()))
            if groups:
                from policyc.diff.flips import flips_text

                lines.append(f"flipped, by cause (the first {len(counts.flips)}):")
                for g, line in zip(groups, flips_text(groups, ids=False), strict=True):
                    lines.append(line)
                    for f in g.details:
                        who = f"id {json.dumps(f.id)}" if f.id is not None else f"row {f.row}"
                        lines.append(f"    {who}: {f.old} -> {f.new} ({f.kind}, rule "
                                     f"`{f.new_rule or f.old_rule}`)")
        sys.stdout.write("\n".join(lines) + "\n")
    ch = doc.get("changed", {})
    if fail_on == "loosened" and ch.get("loosened"):
        return 1
    if fail_on == "any" and sum(ch.values()):
        return 1
    if counts.skipped:
        if not quiet():
            err.print(f"{counts.skipped} row(s) skipped", markup=False)
        return 1
    return 0


def _by_cause(flips: list[Flip], old: Checker, new: Checker, limit: int) -> list[FlipGroup]:
    """The listed flips (the first `--limit`) grouped by cause: the edits between the two
    bundles' programs (`diff/causes.py`) of the rules deciding each row; the rows' values
    are not kept, so a flip no rule edit explains names the threshold and policy-wide
    edits."""
    from policyc.diff.bundles import flat_from_bundle
    from policyc.diff.causes import program_edits
    from policyc.diff.flips import FlipGroups

    grouped = FlipGroups(program_edits(flat_from_bundle(old.data), flat_from_bundle(new.data)),
                         limit)
    for f in flips:
        grouped.add(f.id if f.id is not None else f"row {f.row}", f.kind,
                    grouped.causes({f.old_rule, f.new_rule}, None), f)
    return grouped.groups()


def target_bytes(target: Path, path: list[Path]) -> bytes:
    """The bundle bytes of a target (a bundle file, or a policy compiled in memory): what
    `--engine ray` ships to its workers."""
    from policyc.semantics.loader import named_policy

    target = named_policy(target, path) or target
    if is_bundle(target):
        return target.read_bytes()
    from policyc.compile.pipeline import compile_program
    from policyc.lint.gate import COMPILE_GATE

    state = compile_program(load_inputs([target], list(path)), gate=COMPILE_GATE)
    if state.bundle is None:
        raise UsageError(f"{target} could not be compiled")
    return state.bundle  # type: ignore[no-any-return]
