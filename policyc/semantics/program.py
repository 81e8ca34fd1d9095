"""The front end in one call: files → parsed modules → hierarchy → flattened policies."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from policyc.diagnostics import Diagnostic, sort_diagnostics
from policyc.semantics.flatten import flatten_workspace
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
    roots = [m for m in (ws.load(f) for f in (batches[0] if batches else [])) if m is not None]
    policies = flatten_workspace(ws, roots)
    for batch in batches[1:]:
        extra = Workspace(search_path=search)
        more = [m for m in (extra.load(f) for f in batch) if m is not None]
        for name, flat in flatten_workspace(extra, more).items():
            policies[f"{name}@{flat.path}"] = flat
        roots.extend(more)
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
    from policyc.syntax.parse import parse_text

    ws = Workspace(search_path=[Path(p) for p in (search_path or [])])
    module, diagnostics = parse_text(text, path)
    ws.diagnostics.extend(diagnostics)
    ws.sources[path] = text
    roots: list[ast.Module] = []
    if module is not None:
        ws.files[path] = module
        ws.modules[module.policy.name] = module
        roots.append(module)
    policies = flatten_workspace(ws, roots)
    return Program(ws, roots, policies, sort_diagnostics(ws.diagnostics))
