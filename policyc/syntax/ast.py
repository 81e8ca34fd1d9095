"""Typed, immutable AST of a `.pol` file.

Every node carries a `span`, built by one helper in `transform.py`; spans are
excluded from equality and hashing, so moving or reformatting text never changes
what a policy means (`parse(fmt(x)) == parse(x)`).
"""

from __future__ import annotations

from typing import Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from policyc.diagnostics import Span
from policyc.runtime.actions import ActionKind

Strategy = Literal[
    "most-restrictive", "least-restrictive", "first-match", "priority", "most-specific", "unique"
]
CmpOp = Literal["==", "!=", "<", "<=", ">", ">="]
Value = Union[str, float, bool]

STRATEGIES: tuple[Strategy, ...] = (
    "most-restrictive", "least-restrictive", "first-match", "priority", "most-specific", "unique"
)


def _typed(value: object) -> object:
    """Equality key that keeps `true` apart from `1` (Python has True == 1.0)."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, tuple):
        return tuple(_typed(v) for v in value)
    return value


class Node(BaseModel):
    """Base node: frozen, span-insensitive equality and hash."""

    # validators are built on first validation: the parser builds nodes unvalidated
    # (`transform._new`), so a run need not pay for schemas at import (~60 ms)
    model_config = ConfigDict(frozen=True, defer_build=True)

    span: Span | None = Field(default=None, exclude=True, repr=False)

    def _key(self) -> tuple[object, ...]:
        return tuple(_typed(getattr(self, f)) for f in type(self).model_fields if f != "span")

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self._key() == other._key()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._key()))


# ---- actions ---------------------------------------------------------------------------


class Action(Node):
    kind: ActionKind
    argument: str | None = None

    def __str__(self) -> str:
        if self.argument is None:
            return self.kind
        escaped = self.argument.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.kind}("{escaped}")'


# ---- set expressions ---------------------------------------------------------------------


class SetLiteral(Node):
    items: tuple[str, ...]


class SetRef(Node):
    """A bare name in a set position: a declared set, else a category."""

    name: str


class SetOp(Node):
    op: Literal["|", "&", "-"]
    left: SetExpr
    right: SetExpr


SetExpr = Union[SetLiteral, SetRef, SetOp]


# ---- guards ------------------------------------------------------------------------------


class Or(Node):
    items: tuple[Guard, ...]


class And(Node):
    items: tuple[Guard, ...]


class Not(Node):
    item: Guard


class NameRef(Node):
    """A bare name in a guard: a category (score above threshold) or a bool attribute."""

    name: str


class Quantified(Node):
    quantifier: Literal["any", "all", "none"]
    set: SetExpr


class ScoreCmp(Node):
    category: str
    op: CmpOp
    value: float


class Compare(Node):
    attribute: str
    op: CmpOp
    value: Value


class In(Node):
    attribute: str
    values: tuple[Value, ...]
    negated: bool = False


Guard = Union[Or, And, Not, NameRef, Quantified, ScoreCmp, Compare, In]


# ---- declarations --------------------------------------------------------------------------


class ParentRef(Node):
    name: str
    narrowing: bool = False


class Extends(Node):
    parents: tuple[ParentRef, ...]


class Owner(Node):
    value: str


class Meta(Node):
    key: str
    value: str


class EnumType(Node):
    values: tuple[str, ...]


class BoolType(Node):
    pass


class NumberType(Node):
    pass


ContextType = Union[EnumType, BoolType, NumberType]


class Context(Node):
    name: str
    type: ContextType
    default: Value | None = None


class Category(Node):
    name: str
    doc: str | None = None
    children: tuple[Category, ...] = ()


class Categories(Node):
    roots: tuple[Category, ...]


class Derive(Node):
    """`derive C = max(A, B)`: C's score is the max of its own and its sources'."""

    category: str
    sources: tuple[str, ...]


class Label(Node):
    category: str
    label: str


class ClassifierOption(Node):
    """`name value` in a classifier body (`activation sigmoid`, `max_length 256`); the
    names and values are checked by the semantics (`semantics/bindings.py`)."""

    name: str
    value: str | float
    kind: Literal["name", "number", "string"]


class Classifier(Node):
    name: str
    path: str
    labels: tuple[Label, ...] = ()
    on_error: Action | None = None
    #: `tokenizer "..."`: a tokenizer-input model (input_ids, attention_mask)
    tokenizer: str | None = None
    options: tuple[ClassifierOption, ...] = ()


class Detector(Node):
    category: str
    kind: Literal["regex", "keywords"]
    pattern: str | None = None
    validator: str | None = None
    keywords: tuple[str, ...] = ()


class Threshold(Node):
    category: str | None  # None: `threshold default`
    value: float


class SetDecl(Node):
    name: str
    expr: SetExpr


class Resolve(Node):
    strategy: Strategy


class Default(Node):
    action: Action


class OnError(Node):
    action: Action


class Rule(Node):
    name: str
    action: Action
    guard: Guard | None = None
    priority: int | None = None
    locked: bool = False
    override: bool = False


class Sugar(Node):
    """`allow S` / `disallow S`: an anonymous rule on `any S`."""

    kind: Literal["allow", "disallow"]
    set: SetExpr


class Drop(Node):
    name: str


class Assign(Node):
    name: str
    value: Value


class Test(Node):
    name: str
    given: tuple[Assign, ...] = ()
    text: str | None = None
    expect: Action | None = None
    expect_rule: str | None = None


class Gate(Node):
    metric: str
    op: CmpOp
    value: float


Item = Union[
    Extends, Owner, Meta, Context, Categories, Derive, Classifier, Detector, Threshold,
    SetDecl, Resolve, Default, OnError, Rule, Sugar, Drop, Test, Gate,
]


class Policy(Node):
    name: str
    version: str
    items: tuple[Item, ...]


class Comment(Node):
    text: str


class Module(Node):
    """One parsed file: its policy and the comments the grammar set aside."""

    path: str
    policy: Policy
    comments: tuple[Comment, ...] = Field(default=(), exclude=True)

    def _key(self) -> tuple[object, ...]:
        return (self.policy,)
