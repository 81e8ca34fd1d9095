"""Finding and parsing policy files, and looking parents up on the search path.

Search order for a parent (LANGUAGE.md §2): the files given on the command line,
the child's folder, each `--path` entry, then `stdlib_policies/` for `std.*`.
A policy `a.b.c` lives in a file that declares it; by convention `a.b.c.pol` or
`a/b/c.pol` under a search folder, but any `.pol` file in those folders counts.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from policyc.diagnostics import Diagnostic, Related, diagnostic
from policyc.syntax import ast
from policyc.syntax.parse import data_dir, parse_text, read_source


def stdlib_dir() -> Path:
    return data_dir("_stdlib_policies", "stdlib_policies")


def named_policy(arg: str | Path, search_path: Sequence[str | Path]) -> Path | None:
    """A command-line argument that names a policy instead of a file (`std.baseline`):
    the file declaring it in a `--path` folder or, for `std.*`, the standard library.
    None when the argument is a path (an existing one, or one ending in `.pol`)."""
    raw = str(arg)
    if Path(raw).exists() or raw.endswith(".pol") or "/" in raw or "\\" in raw:
        return None
    ws = Workspace(search_path=[Path(p) for p in search_path])
    folders = [*ws.search_path, *([stdlib_dir()] if raw.startswith("std.") else [])]
    for folder in folders:
        found = ws._index(folder).get(raw)
        if found is not None:
            return found
    return None


def stdlib_names() -> list[str]:
    """Every policy the standard library declares (for hints)."""
    return sorted(Workspace()._index(stdlib_dir()))


def expand_inputs(inputs: Sequence[str | Path]) -> tuple[list[Path], list[Diagnostic]]:
    """Files and folders (recursively, `*.pol`) in a stable order; missing paths reported."""
    files: list[Path] = []
    diagnostics: list[Diagnostic] = []
    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            files.extend(sorted(q for q in p.rglob("*.pol") if q.is_file()))
        elif p.is_file():
            files.append(p)
        else:
            message, help = _not_a_policy_path(p, str(raw))
            diagnostics.append(diagnostic(
                code="POL002", fatal=True, message=message,
                span=ast.Span(str(raw), 1, 1, 1, 1), help=help))
    seen: set[Path] = set()
    unique = []
    for f in files:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique, diagnostics


def _not_a_policy_path(p: Path, raw: str) -> tuple[str, str]:
    """(what is wrong with an input that is neither a file nor a folder, help): missing, a
    broken or looping symbolic link, or something else (a pipe, a device) that is not read,
    as reading a pipe with no writer would wait for ever."""
    help = "check the path; folders are searched recursively for `*.pol` files"
    link_help = "point the link at a policy file or folder"
    try:
        os.stat(p)
    except OSError as err:
        if err.errno == errno.ELOOP:
            return f"symbolic link `{raw}` loops (it leads back to itself)", link_help
        if os.path.islink(p):
            return (f"symbolic link `{raw}` points to `{os.readlink(p)}`, which does not "
                    f"exist", link_help)
        return f"no such file or folder `{raw}`", help
    return (f"`{raw}` is not a file or folder (a pipe or a device)",
            "give `.pol` files or folders; to read a policy from a pipe, give `-` (standard "
            "input) with `--stdin-filename NAME`")


@dataclass
class Workspace:
    """Every parsed module, by policy name, plus what went wrong reading them."""

    search_path: list[Path] = field(default_factory=list)
    modules: dict[str, ast.Module] = field(default_factory=dict)
    files: dict[str, ast.Module] = field(default_factory=dict)  # by display path
    sources: dict[str, str] = field(default_factory=dict)  # display path -> text
    diagnostics: list[Diagnostic] = field(default_factory=list)
    _indexed: set[Path] = field(default_factory=set)
    _folder_index: dict[Path, dict[str, Path]] = field(default_factory=dict)

    def load(self, path: Path, display: str | None = None) -> ast.Module | None:
        shown = display or _display(path)
        if shown in self.files:
            return self.files[shown]
        text, diagnostics = read_source(path, shown)  # read once, for the parser and snippets
        if text is not None:
            self.sources[shown] = text
        if text is not None and not diagnostics:
            module, diagnostics = parse_text(text, shown)
        else:
            module = None
        self.diagnostics.extend(diagnostics)
        if module is None:
            return None
        self.files[shown] = module
        name = module.policy.name
        if name in self.modules and self.modules[name].path != shown:
            other = self.modules[name]
            self.diagnostics.append(diagnostic(
                code="POL104", fatal=True,
                message=f"policy `{name}` is declared twice",
                span=module.policy.span,
                related=[Related(message="first declared here", span=other.policy.span)],
                help="rename one of the policies; a policy name identifies one file"))
        else:
            self.modules[name] = module
        return module

    def find_parent(self, name: str, child: ast.Module) -> ast.Module | None:
        """The module declaring `name`, searched per the module docstring."""
        if name in self.modules:
            return self.modules[name]
        folders = [Path(child.path).parent, *self.search_path]
        if name.startswith("std."):
            folders.append(stdlib_dir())
        for folder in folders:
            candidate = self._index(folder).get(name)
            if candidate is not None:
                module = self.load(candidate)
                if module is not None and module.policy.name == name:
                    return module
        return None

    def names_near(self, child: ast.Module) -> set[str]:
        """Policy names declared in the child's folder and the search path (for hints)."""
        out: set[str] = set()
        for folder in [Path(child.path).parent, *self.search_path]:
            out.update(self._index(folder))
        return out

    def _index(self, folder: Path) -> dict[str, Path]:
        """Policy name → file for every `.pol` under a folder, read lazily by name first."""
        folder = folder.resolve() if folder.exists() else folder
        if folder in self._folder_index:
            return self._folder_index[folder]
        index: dict[str, Path] = {}
        if folder.is_dir():
            for f in sorted(folder.rglob("*.pol")):
                declared = declared_name(f)
                if declared and declared not in index:
                    index[declared] = f
        self._folder_index[folder] = index
        return index


def declared_name(path: Path) -> str | None:
    """The policy name a file declares, read from its header without a full parse."""
    try:
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                stripped = line.split("#", 1)[0].strip()
                if stripped.startswith("policy "):
                    parts = stripped.split()
                    return parts[1].rstrip("{") if len(parts) > 1 else None
    except (OSError, UnicodeDecodeError):
        return None
    return None


def _display(path: Path) -> str:
    """Paths relative to the working folder when inside it (stable in CI output)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
