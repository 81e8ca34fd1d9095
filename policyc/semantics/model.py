"""The flattened policy: what lint, compile and diff consume (no syntax left)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from policyc.diagnostics import Span
from policyc.runtime.actions import RESTRICTIVENESS
from policyc.semantics.formula import Const, Formula
from policyc.syntax import ast


@dataclass(frozen=True, slots=True)
class Decision:
    """An action with its optional argument; two decisions differ if either differs."""

    action: str
    argument: str | None = None

    @property
    def restrictiveness(self) -> int:
        return RESTRICTIVENESS[self.action]

    def __str__(self) -> str:
        return self.action if self.argument is None else f'{self.action}("{self.argument}")'

    def to_dict(self) -> dict[str, str | None]:
        return {"action": self.action, "argument": self.argument}

    @staticmethod
    def of(action: ast.Action) -> Decision:
        return Decision(action.kind, action.argument)


@dataclass(frozen=True, slots=True)
class ContextVar:
    name: str
    kind: Literal["enum", "bool", "number"]
    values: tuple[str, ...] = ()
    default: Const | None = None
    origin: str = ""
    span: Span | None = None


@dataclass(frozen=True, slots=True)
class CategoryInfo:
    name: str
    parent: str | None
    children: tuple[str, ...]
    doc: str | None = None
    origin: str = ""
    span: Span | None = None

    @property
    def is_leaf(self) -> bool:
        return not self.children


@dataclass(frozen=True, slots=True)
class FlatRule:
    id: str
    decision: Decision
    formula: Formula
    priority: int
    locked: bool
    order: int  # position in the flattened order (first-match)
    origin: str  # the policy that declared it
    span: Span | None = None
    override: bool = False
    guard: ast.Guard | None = None  # as written, for messages
    sugar: Literal["allow", "disallow"] | None = None
    category_sets: tuple[frozenset[str], ...] = ()  # sets named by `allow S`/`disallow S`
    #: an inherited locked rule whose floor keeps a parent's region (LANGUAGE.md §5): the
    #: guard under this policy's thresholds alone; `formula` is its union with the parents'
    in_force: Formula | None = None


@dataclass(frozen=True, slots=True)
class ClassifierBinding:
    name: str
    path: str  # as written, relative to the declaring file's folder
    base_dir: str
    labels: tuple[tuple[str, str], ...]  # (category leaf, model label)
    on_error: Decision | None
    origin: str
    span: Span | None = None
    #: `tokenizer "..."` as written (a tokenizer-input model), else None
    tokenizer: str | None = None
    #: the body's options, checked (`semantics/bindings.py`): name -> str or int
    options: tuple[tuple[str, str | int], ...] = ()
    #: the adjacent `config.json` as a path like `path` (None: there is none)
    config: str | None = None


@dataclass(frozen=True, slots=True)
class DetectorBinding:
    category: str
    kind: Literal["regex", "keywords"]
    pattern: str | None
    validator: str | None
    keywords: tuple[str, ...]
    origin: str
    span: Span | None = None


@dataclass(frozen=True, slots=True)
class ThresholdDecl:
    key: str | None  # category, or None for `threshold default`
    value: float
    origin: str
    span: Span | None = None


@dataclass
class RuleSource:
    """A rule as declared, kept so a child can re-resolve it with its own thresholds."""

    id: str
    decision: Decision
    guard: ast.Guard | None
    sugar_set: ast.SetExpr | None
    sugar: str | None
    priority: int
    locked: bool
    override: bool
    origin: str
    span: ast.Span | None


@dataclass(frozen=True)
class Declared:
    """Where a policy-wide setting was written: in the policy itself, or (`inherited`) in
    the ancestor it came from."""

    span: Span | None
    inherited: bool = False


@dataclass
class FlatPolicy:
    """One policy after name resolution and inheritance (LANGUAGE.md §5)."""

    name: str
    version: str
    path: str
    span: Span | None
    owner: str | None
    meta: dict[str, str]
    parents: tuple[ast.ParentRef, ...]
    lineage: tuple[str, ...]  # the flattened order of policies: self first
    contexts: dict[str, ContextVar]
    categories: dict[str, CategoryInfo]
    derived: dict[str, tuple[str, ...]]
    thresholds: dict[str | None, ThresholdDecl]
    sets: dict[str, frozenset[str]]
    rules: tuple[FlatRule, ...]
    strategy: str
    default: Decision | None
    on_error: Decision
    classifiers: tuple[ClassifierBinding, ...]
    detectors: tuple[DetectorBinding, ...]
    tests: tuple[ast.Test, ...]
    gates: tuple[ast.Gate, ...]
    #: every policy in the lineage, flattened on its own (for hierarchy lint and diff)
    ancestors: dict[str, FlatPolicy] = field(default_factory=dict)
    #: where `resolve`, `default`, `on_error` and `owner` were written (None: not set;
    #: `default` and `owner` count only when declared here), for lint and messages
    resolve_decl: Declared | None = None
    default_decl: Declared | None = None
    on_error_decl: Declared | None = None
    owner_decl: Declared | None = None
    #: rules removed by `override`/`drop` in this policy: (target id, kind, span, target origin)
    replaced: tuple[tuple[str, str, Span | None, str], ...] = ()
    #: thresholds declared by this policy that replaced a parent's (key, old, new, span)
    threshold_changes: tuple[tuple[str | None, float, float, Span | None], ...] = ()

    @property
    def leaves(self) -> tuple[str, ...]:
        return tuple(c for c, info in self.categories.items() if info.is_leaf)

    def threshold(self, category: str) -> float:
        return nearest_threshold(self.categories, self.thresholds, category)

    def leaves_under(self, category: str) -> tuple[str, ...]:
        return leaves_under(self.categories, category)

    def rule(self, rule_id: str) -> FlatRule | None:
        return next((r for r in self.rules if r.id == rule_id), None)


def nearest_threshold(categories: dict[str, CategoryInfo],
                      thresholds: dict[str | None, ThresholdDecl], category: str) -> float:
    """Nearest `threshold` on the category or an ancestor, else `default`, else 0.5."""
    node: str | None = category
    while node is not None:
        decl = thresholds.get(node)
        if decl is not None:
            return decl.value
        info = categories.get(node)
        node = info.parent if info else None
    default = thresholds.get(None)
    return default.value if default is not None else 0.5


def leaves_under(categories: dict[str, CategoryInfo], category: str) -> tuple[str, ...]:
    info = categories[category]
    if info.is_leaf:
        return (category,)
    return tuple(leaf for child in info.children for leaf in leaves_under(categories, child))
