"""One analysed document: the front end and the semantic lint over an editor buffer.

Parents (`std.*` and the user's own) are parsed once and kept while their file is
unchanged on disk (by modification time and size); a parent open in the editor is
read from its buffer instead, so editing a parent re-checks its children against
what is on screen. Paths are absolute: a span's file is the file's path.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

from policyc.diagnostics import Diagnostic
from policyc.lint.config import ConfigError, LintConfig, find_config
from policyc.lint.memo import SearchMemo
from policyc.lint.runner import run_rules
from policyc.lsp.index import Index, module_occurrences
from policyc.lsp.positions import LineIndex
from policyc.semantics.loader import Workspace
from policyc.semantics.model import FlatPolicy
from policyc.semantics.program import Program, text_program
from policyc.syntax import ast
from policyc.syntax.parse import parse_text, read_source

_Parsed = tuple[str | None, ast.Module | None, list[Diagnostic]]


class SourceCache:
    """Parsed files shared by every analysis: open buffers first, then the disk."""

    def __init__(self) -> None:
        self.open_docs: dict[str, str] = {}  # absolute path -> buffer text
        self._parsed: dict[str, tuple[object, _Parsed]] = {}
        self.folder_index: dict[Path, dict[str, Path]] = {}

    def parse(self, path: Path, shown: str) -> _Parsed:
        text = self.open_docs.get(shown)
        if text is not None:
            key: object = ("buffer", text)
        else:
            try:
                st = os.stat(path)
                key = ("disk", st.st_mtime_ns, st.st_size)
            except OSError:
                key = None
        hit = self._parsed.get(shown)
        if key is not None and hit is not None and hit[0] == key:
            return hit[1]
        if text is None:
            text, diagnostics = read_source(path, shown)
            if text is None or diagnostics:
                return None, None, diagnostics
        module, diagnostics = parse_text(text, shown)
        parsed: _Parsed = (text, module, diagnostics)
        if key is not None:
            self._parsed[shown] = (key, parsed)
        return parsed

    def files_changed(self) -> None:
        """A file was created, deleted or saved: policy names may live elsewhere now."""
        self.folder_index.clear()


@dataclass
class CachedWorkspace(Workspace):
    """A `Workspace` whose files come from a `SourceCache` (parsed once, buffers first)."""

    cache: SourceCache = field(default_factory=SourceCache)

    def load(self, path: Path, display: str | None = None) -> ast.Module | None:
        shown = display or str(Path(path).resolve())
        if shown in self.files:
            return self.files[shown]
        text, module, diagnostics = self.cache.parse(Path(path), shown)
        if text is not None:
            self.sources[shown] = text
        self.diagnostics.extend(diagnostics)
        if module is None:
            return None
        self.files[shown] = module
        self.modules.setdefault(module.policy.name, module)
        return module


def lint_config(path: str) -> LintConfig:
    """The `[tool.policyc]` / `policyc.toml` in force for a file (defaults when broken:
    the editor shows the file's findings; `policyc lint` reports the configuration)."""
    try:
        return find_config(Path(path))
    except (ConfigError, OSError):
        return LintConfig()


@dataclass
class Analysis:
    path: str
    text: str
    version: int
    program: Program
    diagnostics: list[Diagnostic]
    module: ast.Module | None
    flat: FlatPolicy | None
    config: LintConfig = field(default_factory=LintConfig)
    search_path: tuple[Path, ...] = ()

    @cached_property
    def lines(self) -> LineIndex:
        return LineIndex(self.text)

    def lines_of(self, file: str) -> LineIndex | None:
        if file == self.path:
            return self.lines
        known = self._other_lines.get(file)
        if known is None:
            text = self.program.sources.get(file)
            if text is None:
                return None
            known = self._other_lines[file] = LineIndex(text)
        return known

    @cached_property
    def _other_lines(self) -> dict[str, LineIndex]:
        """Line indexes of the parents' files, built once (findings point there often)."""
        return {}

    @cached_property
    def index(self) -> Index:
        """Names in the document and in every file of its lineage."""
        occurrences = []
        flat = self.flat
        for file, module in self.program.workspace.files.items():
            text = self.program.sources.get(file)
            if text is None:
                continue
            own = flat if module is self.module else (
                flat.ancestors.get(module.policy.name) if flat is not None else None)
            occurrences.extend(module_occurrences(module, text, own))
        return Index(occurrences)


def analyse(path: str, text: str, version: int, cache: SourceCache,
            search_path: list[Path] | None = None, earlier: list[Analysis] | None = None,
            memo: SearchMemo | None = None) -> Analysis:
    """Parse, flatten and lint one buffer (`path` absolute), parents from the cache.

    `earlier`: analyses of this document's previous versions; one of the same text whose
    inputs are all unchanged is reused (an undo, or the buffer typed back as it was).
    `memo`: the document's region searches from earlier versions (`lint/memo.py`)."""
    config = lint_config(path)
    for known in earlier or ():
        if known.text == text and reusable(known, cache, config, search_path):
            return replace(known, version=version)
    collecting = gc.isenabled()
    gc.disable()  # large acyclic trees: cyclic collection is pure cost (program.py)
    try:
        ws = CachedWorkspace(search_path=[*(search_path or []), *map(Path, config.path)],
                             cache=cache, _folder_index=cache.folder_index)
        program = text_program(ws, text, path)
        module = program.roots[0] if program.roots else None
        policies = program.policies
        found = run_rules(program, config, memo=memo)
    finally:
        if collecting:
            gc.enable()
    flat = next(iter(policies.values()), None)
    return Analysis(path, text, version, program, found, module, flat, config,
                    tuple(search_path or ()))


def reusable(known: Analysis, cache: SourceCache, config: LintConfig,
             search_path: list[Path] | None) -> bool:
    """Whether an analysis of the same text still holds: same configuration and search
    path, and every other file it read (parents, open or on disk) has the same text.
    Names that resolve elsewhere after files are created or saved are the server's to
    forget (it drops earlier analyses then)."""
    if known.config != config or known.search_path != tuple(search_path or ()):
        return False
    for file, text in known.program.sources.items():
        if file != known.path and cache.parse(Path(file), file)[0] != text:
            return False
    return True
