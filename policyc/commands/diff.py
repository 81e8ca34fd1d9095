"""`policyc diff OLD NEW`: load both versions, diff, render, exit per `--fail-on`.

Exit codes: 0 (or no `--fail-on`) no change `--fail-on` names; 1 a loosening that no
`accept` covers (`--fail-on loosened`), or any semantic change (`--fail-on any`);
2 a version could not be loaded (syntax, unknown names, no such file, a bad bundle).
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from policyc.commands.console import UsageError, console, fail, print_diagnostics
from policyc.commands.inputs import is_bundle, verify_keys
from policyc.diff.flips import FlipGroup, flips_markdown, flips_text
from policyc.diff.replay import replay
from policyc.diff.report import to_markdown, to_text
from policyc.diff.semantic import semantic_diff
from policyc.render.machine import dumps
from policyc.semantics.loader import named_policy, stdlib_names
from policyc.semantics.model import FlatPolicy
from policyc.semantics.program import Program, load_program
from policyc.semantics.regions.compare import EXACT_BUDGET

if TYPE_CHECKING:
    from policyc.runtime.signing import VerifyKeys


def _load_one(path: Path, search: list[Path], err: Console, keys: VerifyKeys | None = None
              ) -> tuple[FlatPolicy, str, Program | None, str | None] | None:
    """A `.pol` file (flattened with its hierarchy), a compiled bundle (checked against
    `keys`, the `--verify-key` files; None: `POLICYC_VERIFY_KEY`), or a policy name
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
            flat, digest = load_bundle_policy(str(path), verify_key=keys)
        except BundleError as e:
            err.print(f"error: {e}", markup=False)
            fix = e.help or "recompile it with `policyc compile`, or diff the `.pol` sources"
            err.print(f"  = help: {fix}", markup=False)
            return None
        return flat, "", None, digest
    program = load_program([path], search)
    fatal = [d for d in program.diagnostics if d.fatal]
    if fatal:
        print_diagnostics(fatal, program.sources)
        return None
    module = program.roots[0]
    return (program.policies[module.policy.name], program.sources.get(module.path, ""),
            program, None)


def _checkers(old: Path, new: Path, search: list[Path], keys: VerifyKeys | None
              ) -> tuple[Any, Any]:
    """Both versions as checkers for the streaming engine of `--replay`; (None, None)
    when one does not compile (the replay then decides on the decision maps)."""
    from policyc.commands.inputs import load_target
    from policyc.runtime.bundle import BundleError

    try:
        return (load_target(old, search, verify_key=keys),
                load_target(new, search, verify_key=keys))
    except (UsageError, BundleError):
        return None, None


def _bundle_hash(program: Program | None, flat: FlatPolicy) -> str | None:
    """A source's hash: its compiled bundle's (None: from a bundle file, or no bundle)."""
    if program is None:
        return None
    from policyc.compile.pipeline import bundle_hash
    from policyc.lint.gate import COMPILE_GATE

    return bundle_hash(program, flat, COMPILE_GATE)


def _replay_head(replayed: dict[str, Any], title: str) -> str:
    """`replay of N events: ...`, saying how many were skipped as not valid events (they
    are counted in N: without this, a file of bad lines read as "no change")."""
    skipped = replayed.get("skipped", 0)
    bad = (f" ({skipped} skipped: not valid events; `policyc replay` names each line's "
           f"problem)" if skipped else "")
    return (f"{title} of {replayed['events']} events{bad}: "
            + ", ".join(f"{n} {k}" for k, n in replayed["flips"].items()))


def _groups(replayed: dict[str, Any]) -> list[FlipGroup]:
    return [FlipGroup(g["causes"], g["count"], g["kinds"], g["ids"])
            for g in replayed["by_cause"]]


def run(old: Path, new: Path, fmt: str, fail_on: str | None, replay_path: Path | None,
        search: list[Path], exact: bool = False, verify_key: list[Path] | None = None,
        limit: int = 20) -> int:
    err = console(stderr=True)
    try:
        keys = verify_keys(verify_key)
    except UsageError as e:
        return fail(str(e), e.help)
    a = _load_one(old, search, err, keys)
    b = _load_one(new, search, err, keys)
    if a is None or b is None:
        return 2
    hashes = (a[3] or _bundle_hash(a[2], a[0]), b[3] or _bundle_hash(b[2], b[0]))
    report = semantic_diff(a[0], b[0], b[1], hashes, budget=None if exact else EXACT_BUDGET)
    replayed = None
    if replay_path is not None:
        from policyc.runtime.columns import ColumnError  # pyarrow: only to replay

        try:
            replayed = replay(report, replay_path, limit, *_checkers(old, new, search, keys))
        except OSError as e:
            err.print(f"error: cannot read `{replay_path}`: {e.strerror or e}", markup=False)
            return 2
        except ColumnError as e:  # not Parquet, or a column the mapping does not know
            return fail(str(e), e.help)
    if fmt == "json":
        data = report.to_dict()
        if replayed is not None:
            data["replay"] = replayed
        sys.stdout.write(dumps(data))
    elif fmt == "markdown":
        sys.stdout.write(to_markdown(report))
        if replayed is not None:
            sys.stdout.write("\n".join(["", _replay_head(replayed, "**Replay**"), "",
                                        *flips_markdown(_groups(replayed))]) + "\n")
    else:
        sys.stdout.write(to_text(report))
        if replayed is not None:
            sys.stdout.write("\n".join([_replay_head(replayed, "replay"),
                                        *flips_text(_groups(replayed))]) + "\n")
    if fail_on == "loosened" and report.unaccepted_loosenings():
        return 1
    if fail_on == "any" and (report.changes or report.bindings):
        return 1
    return 0
