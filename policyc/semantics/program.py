"""The front end in one call: files → parsed modules → hierarchy → flattened policies."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from policyc.diagnostics import Diagnostic, sort_diagnostics
from policyc.semantics.flatten import flatten_workspace
from policyc.semantics.loader import Workspace, expand_inputs
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


def load_program(inputs: list[str | Path], search_path: list[str | Path] | None = None
                 ) -> Program:
    """Parse and flatten every policy in `inputs` (files or folders)."""
    files, diagnostics = expand_inputs(inputs)
    ws = Workspace(search_path=[Path(p) for p in (search_path or [])])
    ws.diagnostics.extend(diagnostics)
    roots = [m for m in (ws.load(f) for f in files) if m is not None]
    policies = flatten_workspace(ws, roots)
    return Program(ws, roots, policies, sort_diagnostics(ws.diagnostics))


def load_policy_text(text: str, path: str = "<string>",
                     search_path: list[str | Path] | None = None) -> Program:
    """Front end on a string (tests, `policyc check` on a snippet)."""
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
