"""The published contracts: one pydantic model per machine output of policyc.

Every `--format json` object (and the audit record, the decision line, the bundle
manifest) carries `"schema": "policyc/<kind>/v1"`. This module describes each of them as
a pydantic model; `tools/gen_schemas.py` turns the models into the JSON Schemas
(draft 2020-12) committed under `docs/schemas/`, and `tests/test_schemas.py` checks that
the committed files are what the models give, and that they accept the real outputs of
the commands and the JSON examples of the documentation.

The models describe documents; they are not what the renderers build (those write
plain dicts, in the documented key order). Two kinds of optional key are told apart:

- a key that is always written but may be `null` is typed `X | None` with no default
  (required, nullable);
- a key that is only written in some cases (`errors` of a decision, `accepted` of a
  diff change) has the default `ABSENT` (`None`): it is optional in the schema but never
  `null` when present. Defaults are not part of the published schemas.

A `v1` format only grows by optional keys (additive changes): a consumer must accept
the keys the schema lists as optional even when it has never seen them.

This module imports only pydantic and the bundle's manifest model (the bundle schema
is the runtime's own model, so it cannot drift from what loading accepts).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from policyc.runtime.bundle import Manifest

__all__ = ["CONTRACTS", "SCHEMA_BASE_URL", "Contract", "json_schema", "schema_text"]

#: Where the committed schemas are published: `$id` is this URL and the file name.
SCHEMA_BASE_URL = "https://github.com/policyc/policyc/raw/main/docs/schemas/"
DRAFT = "https://json-schema.org/draft/2020-12/schema"

# ---- shared types ------------------------------------------------------------------------------

Action = Literal["allow", "warn", "redact", "redirect", "refuse", "escalate"]
Severity = Literal["error", "warning", "info"]
Strategy = Literal["most-restrictive", "least-restrictive", "first-match", "priority",
                   "most-specific", "unique"]
ChangeKind = Literal["loosened", "tightened", "changed"]
Code = Annotated[str, StringConstraints(pattern=r"^POL[0-9]{3}$")]
Hash = Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")]
Uuid = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$")]
Time = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")]
Score = Annotated[float, Field(ge=0, le=1)]
Ratio = Annotated[float, Field(ge=0, le=1)]
Count = Annotated[int, Field(ge=0)]
#: 1-based line or column; 0 when the diagnostic has no location
Position = Annotated[int, Field(ge=0)]
Millis = Annotated[float, Field(ge=0)]
#: a value of a context attribute or a score: enum value, bool, number
Scalar = bool | float | str
#: an event's `id` as given in the input
EventId = str | float
#: variable -> value: one concrete event
Witness = dict[str, Scalar]
#: leaf category -> score
Scores = dict[str, Score]
#: the default of a key that is written only in some cases (see the module docstring)
ABSENT: Any = None


class _Closed(BaseModel):
    """An object with exactly the listed keys."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _schema_field(kind: str) -> Any:
    return Field(alias="schema", description=f"always `policyc/{kind}/v1`")


# ---- lint/v1 -----------------------------------------------------------------------------------


class LintRelated(_Closed):
    """A related span of a diagnostic (`file` is "" and positions 0 without a location)."""

    file: str
    line: Position
    column: Position
    message: str


class LintDiagnostic(_Closed):
    """One diagnostic: every key always present; `help` and `witness` null when absent;
    positions 1-based, `end_column` exclusive, all 0 (and `file` "") without a location."""

    code: Code
    severity: Severity
    message: str
    file: str
    line: Position
    column: Position
    end_line: Position
    end_column: Position
    related: list[LintRelated]
    help: str | None
    witness: Witness | None


class SeverityCounts(_Closed):
    """Diagnostics by severity."""

    error: Count
    warning: Count
    info: Count


class LintV1(_Closed):
    """`policyc lint --format json`."""

    schema_: Literal["policyc/lint/v1"] = _schema_field("lint")
    diagnostics: list[LintDiagnostic]
    summary: SeverityCounts


# ---- decision/v1, explain/v1, audit/v1 ---------------------------------------------------------


class _DecisionFields(_Closed):
    action: Action
    argument: str | None
    rule: str | None = Field(description="the rule that decided; null when `default` or "
                                          "`on_error` decided")
    policy: str
    version: str
    hash: Hash
    matched: list[str] = Field(description="every rule whose guard holds, in flattened order")
    scores: Scores = Field(description="the nonzero scores used, by leaf category")
    errors: list[str] = Field(ABSENT, description="only when a binding failed")
    redacted: str = Field(ABSENT, description="only for a redact decision with text")
    spans: list[tuple[Count, Count]] = Field(
        ABSENT, description="with `redacted`: the redacted [start, end) character spans")


class DecisionV1(_DecisionFields):
    """`policyc check --format json`, and each line of `check --input` (with `id`)."""

    schema_: Literal["policyc/decision/v1"] = _schema_field("decision")
    id: EventId | None = Field(ABSENT, description="batch output (`check --input`): the "
                                                   "event's `id`, null when it has none")
    decision_id: Uuid = Field(ABSENT, description="additive: a service's decision id (as in "
                                                  "the audit record)")
    latency_ms: Millis = Field(ABSENT, description="additive: a service's time to decide")


class ContextValue(_Closed):
    """An attribute's value as the policy saw it, and whether the event gave it."""

    value: Scalar
    source: Literal["given", "default"]


class Condition(_Closed):
    """One variable's constraint of the guard region the event fell in."""

    variable: str
    text: str = Field(description="e.g. `self_harm.intent >= 0.5`")


class ExplainedRule(_Closed):
    """A matched rule, its decision and the conditions that made it match."""

    rule: str
    action: Action
    argument: str | None
    locked: bool
    priority: int
    conditions: list[Condition]


class ExplainV1(_DecisionFields):
    """`policyc explain --format json`: the decision keys plus why."""

    schema_: Literal["policyc/explain/v1"] = _schema_field("explain")
    strategy: Strategy
    winner: str | None = Field(description="the rule the strategy picked, before floors")
    floor: str | None = Field(description="the locked rule whose floor raised the decision")
    context: dict[str, ContextValue]
    rules: list[ExplainedRule]


class AuditV1(_Closed):
    """`policyc check --audit-log`: one record a decision; every key always present."""

    schema_: Literal["policyc/audit/v1"] = _schema_field("audit")
    decision_id: Uuid
    time: Time
    id: EventId | None
    policy: str
    version: str
    hash: Hash
    action: Action
    argument: str | None
    rule: str | None
    winner: str | None
    floor: str | None
    matched: list[str]
    errors: list[str]
    scores: Scores


# ---- diff/v1 -----------------------------------------------------------------------------------


class DiffSide(_Closed):
    """One of the two policies compared."""

    policy: str
    version: str
    hash: Hash


class DiffDecision(_Closed):
    """A side's decision in a region (`action` null where that version decides nothing)."""

    action: Action | None
    argument: str | None
    rule: str | None


class EnumSet(_Closed):
    """The values an enum or bool variable takes in a region."""

    in_: list[bool | str] = Field(alias="in", min_length=1)


class Interval(_Closed):
    """A numeric range: a lower bound (`ge` or `gt`) and/or an upper one (`le` or `lt`),
    or one point (`eq`); bounds at 0 and 1 of a score are left out."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "not": {"anyOf": [{"required": ["ge", "gt"]}, {"required": ["le", "lt"]}]},
        "dependentSchemas": {"eq": {"maxProperties": 1}}})

    ge: float = ABSENT
    gt: float = ABSENT
    le: float = ABSENT
    lt: float = ABSENT
    eq: float = ABSENT


class IntervalUnion(_Closed):
    """Several disjoint numeric ranges."""

    any_of: list[Interval] = Field(min_length=2)


class Scope(_Closed):
    """A scoped row: the events of `region` where `rule` is the strategy's pick in `version`."""

    rule: str
    version: Literal["old", "new"]


class Accepted(_Closed):
    """A loosening accepted by a `# policyc: accept-loosening[target] reason` annotation."""

    by: str
    reason: str


class DiffChange(_Closed):
    """A region of the event space whose decision differs, with a witness event."""

    kind: ChangeKind
    region: dict[str, EnumSet | Interval | IntervalUnion]
    except_: list[dict[str, EnumSet | Interval | IntervalUnion]] = Field(
        ABSENT, alias="except", min_length=1,
        description="additive: regions whose events are not in the row (the row is "
                    "`region` minus their union)")
    old: DiffDecision
    new: DiffDecision
    witness: Witness
    scope: Scope = ABSENT
    accepted: Accepted = ABSENT
    causes: list[DiffCause] = Field(ABSENT, description="additive: what made the "
                                                        "decision change")


class ChangeCounts(_Closed):
    """Changes by kind."""

    loosened: Count
    tightened: Count
    changed: Count


class DiffCause(_Closed):
    """An edit between the two programs that makes rows differ."""

    kind: Literal["rule", "threshold", "set", "strategy", "default", "parent"]
    target: str | None = Field(description="rule id, category (null: `threshold default`), "
                                            "set or parent name")
    change: str = Field(description="`added`, `removed`, `changed`, or the field of a rule "
                                    "edit: `guard`, `action`, `priority`, `locked`")
    old: str | None
    new: str | None
    text: str


class DiffCauseEffect(DiffCause):
    """A cause with the rows it explains, by kind."""

    rows: ChangeCounts


class DiffSummary(ChangeCounts):
    """Rows by kind (they partition the changed events) and distinct decision pairs."""

    pairs: Count = Field(ABSENT, description="additive: distinct (old decision → new "
                                             "decision) pairs among the rows")


class BindingChange(_Closed):
    """A changed model, pattern or keyword list (not analyzable) and the rules reading it."""

    category: str
    binding: str
    change: str
    rules: list[str]


class ReplayFlip(_Closed):
    """An event of `--replay` whose decision flips."""

    id: EventId
    old: str
    new: str


class ReplayExamples(_Closed):
    """Up to 5 flipped events of each kind."""

    loosened: list[ReplayFlip]
    tightened: list[ReplayFlip]
    changed: list[ReplayFlip]


class ReplayCauseGroup(_Closed):
    """Flipped events with the same causes: how many (by kind) and the first `--limit` ids."""

    causes: list[str] = Field(min_length=1, description="cause texts (`no edit found` alone "
                                                         "when none explains the flip)")
    count: Count
    kinds: ChangeCounts
    ids: list[EventId]


class Replay(_Closed):
    """`diff --replay`: decision flips on real events."""

    events: Count
    skipped: Count
    flips: ChangeCounts
    examples: ReplayExamples
    by_cause: list[ReplayCauseGroup] = Field(ABSENT, description="additive: the flips "
                                                                  "grouped by cause, largest "
                                                                  "group first")


class DiffV1(_Closed):
    """`policyc diff --format json`."""

    schema_: Literal["policyc/diff/v1"] = _schema_field("diff")
    old: DiffSide
    new: DiffSide
    changes: list[DiffChange]
    summary: DiffSummary
    bindings: list[BindingChange] = Field(ABSENT, description="when a binding changed")
    causes: list[DiffCauseEffect] = Field(ABSENT, description="additive: every edit between "
                                                              "the versions, rows it explains")
    replay: Replay = Field(ABSENT, description="with `--replay`")


# ---- test/v1 -----------------------------------------------------------------------------------


class ExpectedDecision(_Closed):
    """A test's `expect` (`rule` null without `by`)."""

    action: Action
    argument: str | None
    rule: str | None


class ActualDecision(_Closed):
    """What the policy decided for a test."""

    action: Action
    argument: str | None
    rule: str | None
    matched: list[str]
    scores: Scores
    errors: list[str] = Field(ABSENT, description="only when a binding failed")


class TestResult(_Closed):
    """One `test` block (`actual` null for an error)."""

    policy: str
    file: str
    line: Count | None
    name: str
    status: Literal["passed", "failed", "error"]
    expected: ExpectedDecision | None
    actual: ActualDecision | None
    message: str


class PolicyTests(_Closed):
    """The tests of one policy."""

    policy: str
    file: str
    tests: Count
    passed: Count
    failed: Count
    errors: Count


class RuleCoverage(_Closed):
    """One rule's coverage: deciding regions, those a test reached, tests it decided."""

    rule: str
    policy: str
    file: str
    line: Count | None
    regions: Count
    reached: Count
    dead: bool
    decided_in: list[str]
    stdlib: bool


class CoverageCounts(_Closed):
    """Coverage figures of rules inherited from the standard library."""

    rules: Count
    exercised: Count
    regions: Count
    reached: Count


class Coverage(_Closed):
    """Coverage of the user's rules (`stdlib`: the standard library's, counted apart)."""

    rules: Count
    exercised: Count
    regions: Count
    reached: Count
    unexercised: list[RuleCoverage]
    per_rule: list[RuleCoverage]
    dead: list[str]
    live_rules: Count
    stdlib: CoverageCounts


class TestSummary(_Closed):
    """Test results by status."""

    passed: Count
    failed: Count
    errors: Count
    total: Count


class TestV1(_Closed):
    """`policyc test --format json`."""

    schema_: Literal["policyc/test/v1"] = _schema_field("test")
    results: list[TestResult]
    policies: list[PolicyTests]
    coverage: Coverage
    diagnostics: list[LintDiagnostic]
    summary: TestSummary


# ---- eval/v1 -----------------------------------------------------------------------------------


#: A 95 % Wilson score interval [lo, hi] (null when the rate is undefined: n = 0).
WilsonCI = Annotated[list[Ratio], Field(min_length=2, max_length=2)]


class Rate(_Closed):
    """A rate with its evidence: `count` of `n` events and the 95 % Wilson interval."""

    value: Ratio | None
    count: Count
    n: Count
    ci: WilsonCI | None


class SliceRates(_Closed):
    """The key rates of the events with one value of a `--slice-by` field."""

    events: Count
    benign: Count
    harmful: Count
    benign_refusal_rate: Rate
    harmful_pass_rate: Rate
    accuracy: Rate


class EvalPolicy(_Closed):
    """The policy evaluated."""

    name: str
    version: str
    hash: Hash


class EvalData(_Closed):
    """The data set: events decided and skipped, by label."""

    file: str
    events: Count
    skipped: Count
    benign: Count
    harmful: Count
    with_expect: Count
    where: dict[str, str] = Field(
        default=ABSENT, description="the row selection (`--where`, `--split`); only when given")
    excluded: Count = Field(default=ABSENT,
                            description="rows left out by `where`; only with `where`")


class EvalCounts(_Closed):
    """The counts the rates are computed from."""

    benign: Count
    harmful: Count
    with_expect: Count
    benign_refused: Count
    benign_redirected: Count
    harmful_passed: Count
    harmful_blocked: Count
    matched_expect: Count


class CategoryMetrics(_Closed):
    """One-vs-rest metrics of a category (`threshold` null when its leaves differ; a
    ratio with a zero denominator is null)."""

    threshold: float | None
    leaves: dict[str, float]
    positives: Count
    negatives: Count
    tp: Count
    fp: Count
    fn: Count
    tn: Count
    precision: Ratio | None
    recall: Ratio | None
    f1: Ratio | None
    fpr: Ratio | None
    fnr: Ratio | None
    ci: dict[Literal["precision", "recall", "fpr", "fnr"], WilsonCI | None] = Field(
        default=ABSENT, description="95 % Wilson interval of each rate")


class Confusion(_Closed):
    """Expected (rows) against decided (columns) actions."""

    expected: list[Action]
    actual: list[Action]
    matrix: list[list[Count]]


class LabelActions(_Closed):
    """Decided actions by label (a label without events is left out)."""

    benign: dict[Action, Count] = ABSENT
    harmful: dict[Action, Count] = ABSENT


class EvalGroup(_Closed):
    """Refusal rate of a benign group, pass rate of a harmful one."""

    label: Literal["benign", "harmful"] | None
    group: str
    events: Count
    refused: Count = ABSENT
    refusal_rate: Ratio | None = ABSENT
    passed: Count = ABSENT
    pass_rate: Ratio | None = ABSENT
    ci: WilsonCI | None = Field(default=ABSENT,
                                description="95 % Wilson interval of the group's rate")


class Latency(_Closed):
    """Time of one check, in ms (null without events)."""

    p50: Millis | None
    p95: Millis | None
    p99: Millis | None
    mean: Millis | None
    max: Millis | None


class GateResult(_Closed):
    """A `gate` and its verdict (`actual` null when the metric is undefined on the data)."""

    metric: str
    op: Literal["<=", "<", ">=", ">", "==", "!="]
    value: float
    actual: float | None
    passed: bool
    message: str


class CurrentThreshold(_Closed):
    """The category's present threshold and its error rates."""

    threshold: float | None
    fpr: Ratio | None
    fnr: Ratio | None


class SweepResult(_Closed):
    """The lowest threshold within `target_fpr`, with the evidence (`threshold` null and
    a `reason` when there is none)."""

    target_fpr: float
    positives: Count
    negatives: Count
    threshold: Ratio | None
    reason: str = ABSENT
    fp: Count = ABSENT
    tp: Count = ABSENT
    fpr: Ratio | None = ABSENT
    fnr: Ratio | None = ABSENT
    recall: Ratio | None = ABSENT
    precision: Ratio | None = ABSENT
    current: CurrentThreshold


class SkippedLine(_Closed):
    """A data line that could not be decided."""

    line: Count
    message: str


class EvalV1(_Closed):
    """`policyc eval --format json` / `--output FILE` (docs/eval.md)."""

    schema_: Literal["policyc/eval/v1"] = _schema_field("eval")
    policy: EvalPolicy
    data: EvalData
    metrics: dict[str, float | None] = Field(
        description="every metric a gate may name (null when undefined on the data)")
    rates: dict[str, Rate] = Field(
        default=ABSENT, description="every rate of `metrics` with its count, n and 95 % "
                                    "Wilson interval (`recall.violence` style per category)")
    counts: EvalCounts
    categories: dict[str, CategoryMetrics]
    unknown_categories: list[str]
    confusion: Confusion
    label_actions: LabelActions
    groups: list[EvalGroup]
    latency_ms: Latency
    gates: list[GateResult]
    passed: bool
    sweep: dict[str, SweepResult] | None = Field(description="null without `--sweep`")
    skipped: list[SkippedLine]
    notes: list[str]
    slices: dict[str, dict[str, SliceRates]] = Field(
        default=ABSENT, description="per `--slice-by` field, per value (`(missing)` for rows "
                                    "without the field): the key rates")


# ---- rules/v1, compile/v1 ----------------------------------------------------------------------


class RuleInfo(_Closed):
    """A diagnostic code."""

    code: Code
    name: str
    severity: Severity
    summary: str
    lint_rule: bool = Field(description="false for front-end codes (syntax, names, types)")
    doc: str


class RulesV1(_Closed):
    """`policyc rules --format json`."""

    schema_: Literal["policyc/rules/v1"] = _schema_field("rules")
    rules: list[RuleInfo]


class CompileStats(_Closed):
    """Table statistics of the bundle."""

    groups: Count
    boxes: Count
    variables: Count
    rules: Count
    entries: Count
    cells: Count
    bytes: Count


class CompileLint(_Closed):
    """Lint errors that did not block the bundle."""

    errors: Count
    codes: list[Code]


class CompileV1(_Closed):
    """`policyc compile --format json`."""

    schema_: Literal["policyc/compile/v1"] = _schema_field("compile")
    policy: str
    version: str
    hash: Hash
    output: str | None = Field(description="null for `-o -`")
    strategy: Strategy
    stats: CompileStats
    lint: CompileLint


# ---- the registry ------------------------------------------------------------------------------


class Contract:
    """A published schema: its kind (`lint`), the model and what produces it."""

    __slots__ = ("kind", "model", "title", "produced_by")

    def __init__(self, kind: str, model: type[BaseModel], title: str, produced_by: str):
        self.kind, self.model, self.title, self.produced_by = kind, model, title, produced_by

    @property
    def schema_name(self) -> str:
        return f"policyc/{self.kind}/v1"

    @property
    def file_name(self) -> str:
        return f"{self.kind}-v1.schema.json"

    @property
    def id(self) -> str:
        return SCHEMA_BASE_URL + self.file_name


CONTRACTS: dict[str, Contract] = {c.kind: c for c in (
    Contract("lint", LintV1, "policyc lint report", "policyc lint --format json"),
    Contract("decision", DecisionV1, "policyc decision",
             "policyc check --format json; each line of policyc check --input"),
    Contract("explain", ExplainV1, "policyc explanation", "policyc explain --format json"),
    Contract("audit", AuditV1, "policyc audit record", "policyc check --audit-log (one a line)"),
    Contract("diff", DiffV1, "policyc semantic diff", "policyc diff --format json"),
    Contract("test", TestV1, "policyc test report", "policyc test --format json"),
    Contract("eval", EvalV1, "policyc evaluation", "policyc eval --format json"),
    Contract("rules", RulesV1, "policyc diagnostic codes", "policyc rules --format json"),
    Contract("compile", CompileV1, "policyc compile report", "policyc compile --format json"),
    Contract("bundle", Manifest, "policyc bundle manifest",
             "manifest.json inside a bundle written by policyc compile"),
)}


class _Generator(GenerateJsonSchema):
    """Pydantic's generator without defaults (a document has no defaults: a key is there
    or not) and without a title on every property (the property name says it)."""

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def dict_schema(self, schema: core_schema.DictSchema) -> JsonSchemaValue:
        # pydantic writes a dict with pattern-constrained keys as `patternProperties`,
        # which lets any other key through: the keys must match, so nothing else may
        out = super().dict_schema(schema)
        if "patternProperties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out


def json_schema(kind: str) -> dict[str, Any]:
    """The published JSON Schema (draft 2020-12) of `policyc/<kind>/v1`."""
    c = CONTRACTS[kind]
    body = c.model.model_json_schema(by_alias=True, mode="validation",
                                     schema_generator=_Generator)
    body.pop("title", None)
    body.pop("description", None)
    return {"$schema": DRAFT, "$id": c.id, "title": f"{c.title} ({c.schema_name})",
            "description": f"Written by `{c.produced_by}`; see docs/cli.md, Machine formats.",
            **body}


def schema_text(kind: str) -> str:
    """The committed file's text: stable JSON, indent 2, final newline."""
    return json.dumps(json_schema(kind), indent=2, ensure_ascii=False) + "\n"
