"""The front end in one call: files → parsed modules → hierarchy → flattened policies.

The stages are named, in order, in `STAGES`; each reads and fills in a `FrontEnd` (one
workspace: two versions of one policy get one each).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from policyc.diagnostics import Diagnostic, sort_diagnostics
from policyc.semantics.checktests import check_tests
from policyc.semantics.flatten import Flattener
from policyc.semantics.gates import check_gates
from policyc.semantics.loader import Workspace, declared_name, expand_inputs
from policyc.semantics.model import FlatPolicy
from policyc.syntax import ast


@dataclass
class Program:
    workspace: Workspace
    roots: list[ast.Module]
    policies: dict[str, FlatPolicy]  # flattened roots, by name
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def fatal(self) -> bool:
        return any(d.fatal for d in self.diagnostics)

    @property
    def sources(self) -> dict[str, str]:
        return self.workspace.sources


@dataclass
class FrontEnd:
    """What the stages read and fill in, for one workspace."""

    ws: Workspace
    files: list[Path] = field(default_factory=list)  # to load (a string input is preloaded)
    roots: list[ast.Module] = field(default_factory=list)
    flattener: Flattener | None = None
    policies: dict[str, FlatPolicy] = field(default_factory=dict)  # flattened roots, by name


def load(fe: FrontEnd) -> None:
    """Parse each file (and, through the workspace, every policy it `extends`)."""
    fe.roots.extend(m for m in (fe.ws.load(f) for f in fe.files) if m is not None)


def hierarchy(fe: FrontEnd) -> None:
    """The `extends` graph (networkx); a cycle is reported once, its policies skipped."""
    fe.flattener = Flattener(fe.ws)
    fe.flattener.prepare(fe.roots)


def flatten(fe: FrontEnd) -> None:
    """Each root merged with its ancestors, parents first (inherit.py); names and guards
    resolved in the merged scope (resolve.py). Resolution is part of flattening: a
    child's thresholds replace its parents', also in the rules it inherits."""
    assert fe.flattener is not None
    for module in fe.roots:
        flat = fe.flattener.flatten(module.policy.name)
        if flat is not None:
            fe.policies[module.policy.name] = flat


def check_test_blocks(fe: FrontEnd) -> None:
    """Each flattened policy's `test` blocks, against its rules and merged schema, and its
    `gate`s against the metrics it can be evaluated on."""
    assert fe.flattener is not None
    for flat, complete in fe.flattener.done:
        check_tests(fe.flattener.reporter(complete), flat)
        check_gates(fe.flattener.reporter(complete), flat)


#: The front-end stages, in order.
STAGES: tuple[Callable[[FrontEnd], None], ...] = (
    load,               # first: every later stage reads the parsed modules
    hierarchy,          # before flatten: it follows the graph's edges, skips what is on a cycle
    flatten,            # parents before children; resolves names in the merged scope
    check_test_blocks,  # last: tests name rules and attributes of the flattened policy
)


def run_stages(fe: FrontEnd) -> FrontEnd:
    for stage in STAGES:
        stage(fe)
    return fe


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The front end builds large acyclic trees: cyclic GC passes over them are pure cost
    (a fifth of the load time of a 5k-rule policy). Collection resumes afterwards."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def load_program(inputs: Sequence[str | Path], search_path: Sequence[str | Path] | None = None
                 ) -> Program:
    """Parse and flatten every policy in `inputs` (files or folders)."""
    with _gc_paused():
        return _load_program(inputs, search_path)


def _load_program(inputs: Sequence[str | Path], search_path: Sequence[str | Path] | None
                  ) -> Program:
    files, diagnostics = expand_inputs(inputs)
    # Two versions of one policy (e.g. v1/ and v2/) are each checked on their own: files
    # that declare an already-seen name go to a later batch with its own workspace.
    batches: list[list[Path]] = []
    for f in files:
        name = declared_name(f)
        for batch in batches:
            if name is None or all(declared_name(g) != name for g in batch):
                batch.append(f)
                break
        else:
            batches.append([f])
    search = [Path(p) for p in (search_path or [])]
    ws = Workspace(search_path=search)
    ws.diagnostics.extend(diagnostics)
    first = run_stages(FrontEnd(ws, batches[0] if batches else []))
    roots, policies = first.roots, first.policies
    for batch in batches[1:]:
        extra = Workspace(search_path=search)
        fe = run_stages(FrontEnd(extra, batch))
        for name, flat in fe.policies.items():
            policies[f"{name}@{flat.path}"] = flat
        roots.extend(fe.roots)
        ws.diagnostics.extend(extra.diagnostics)
        ws.sources.update(extra.sources)
        ws.files.update(extra.files)
    return Program(ws, roots, policies, sort_diagnostics(ws.diagnostics))


def load_policy_text(text: str, path: str = "<string>",
                     search_path: list[str | Path] | None = None) -> Program:
    """Front end on a string (tests, `policyc check` on a snippet)."""
    with _gc_paused():
        return _load_policy_text(text, path, search_path)


def _load_policy_text(text: str, path: str, search_path: list[str | Path] | None) -> Program:
    return text_program(Workspace(search_path=[Path(p) for p in (search_path or [])]), text, path)


def text_program(ws: Workspace, text: str, path: str) -> Program:
    """The stages on one text as the file `path`, parents found through `ws` (an editor's
    workspace may serve them from its own cache)."""
    from policyc.syntax.parse import parse_text

    module, diagnostics = parse_text(text, path)
    ws.diagnostics.extend(diagnostics)
    ws.sources[path] = text
    fe = FrontEnd(ws)
    if module is not None:
        ws.files[path] = module
        ws.modules[module.policy.name] = module
        fe.roots.append(module)
    run_stages(fe)
    return Program(ws, fe.roots, fe.policies, sort_diagnostics(ws.diagnostics))
