"""`policyc compile` as named passes over one state, run in a literal order.

Each pass reads what earlier passes put on the `CompileState` and either adds to it
or records diagnostics; a pass that finds a fatal problem stops the pipeline (the
bundle is never half-written).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from policyc import __version__
from policyc.compile.models import BoundModel, bind_model
from policyc.compile.tables import build_tables
from policyc.diagnostics import Diagnostic, diagnostic
from policyc.runtime.actions import ACTIONS
from policyc.runtime.bundle import (
    ClassifierSpec,
    DecisionSpec,
    DetectorSpec,
    GateSpec,
    Manifest,
    RuleSpec,
    TableSetSpec,
    TestSpec,
    VariableSpec,
    npy_bytes,
    write_container,
)
from policyc.runtime.detector_specs import build_detector
from policyc.semantics.formula import variables as formula_variables
from policyc.semantics.model import Decision, FlatPolicy
from policyc.semantics.program import Program, load_program
from policyc.semantics.regions.decision_map import DecisionMap, floor_key


class LintGate(Protocol):
    """The lint questions compile asks, handed in by its caller (`lint.gate.COMPILE_GATE`):
    compile does not import lint. Without a gate, compile asks nothing of lint (no
    hierarchy refusal, no lint count, no `--strict`)."""

    def check(self, program: Program, policy: FlatPolicy, codes: Sequence[str]
              ) -> list[Diagnostic]: ...

    def errors(self, program: Program, policy: FlatPolicy, exclude: Sequence[str]
               ) -> list[Diagnostic]: ...


@dataclass
class CompileState:
    program: Program | None
    policy: FlatPolicy | None = None
    strict: bool = False
    gate: LintGate | None = None
    #: count the lint errors that do not block the bundle (the summary line of `compile`)
    lint: bool = False
    lint_errors: list[Diagnostic] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    stop: bool = False
    #: name -> the classifier's files and text normalization
    models: dict[str, BoundModel] = field(default_factory=dict)
    detectors: list[DetectorSpec] = field(default_factory=list)
    dm: DecisionMap | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    manifest: Manifest | None = None
    main_tables: TableSetSpec | None = None
    floor_tables: TableSetSpec | None = None
    bundle: bytes | None = None
    stats: dict[str, int] = field(default_factory=dict)


def _diag(code: str, message: str, span: object, help: str | None = None) -> Diagnostic:
    return diagnostic(code=code, message=message, span=span,  # type: ignore[arg-type]
                      help=help, fatal=True)


# ---- passes -------------------------------------------------------------------------------------


def check_front_end(state: CompileState) -> None:
    """Syntax, names, types, cycles: what has no defined meaning stops here (exit 2)."""
    assert state.program is not None
    fatal = [d for d in state.program.diagnostics if d.fatal]
    if fatal:
        state.diagnostics.extend(fatal)
        state.stop = True
        return
    if state.policy is None:
        if len(state.program.policies) != 1:
            state.diagnostics.append(_diag("POL101", "expected exactly one policy to compile, "
                                           f"found {len(state.program.policies)}", None))
            state.stop = True
            return
        state.policy = next(iter(state.program.policies.values()))


#: Error-level hierarchy findings compile refuses without `--strict` (CLI.md): the child
#: contradicts a parent's locked floor (POL301, POL304) or a declared `narrowing` (POL302).
#: They are refused like input without a defined meaning (exit 2), never suppressed.
HIERARCHY_ERRORS = ("POL301", "POL302", "POL304")


def check_hierarchy(state: CompileState) -> None:
    """A child that loosens a floor or breaks `narrowing` gets no bundle (exit 2)."""
    policy = state.policy
    if state.program is None or policy is None or not policy.parents or state.gate is None:
        return
    found = [d.model_copy(update={"fatal": True})
             for d in state.gate.check(state.program, policy, HIERARCHY_ERRORS)]
    if found:
        state.diagnostics.extend(found)
        state.stop = True


def lint_errors(state: CompileState) -> None:
    """The other lint errors (overlap, ambiguity, gaps: each has a defined runtime meaning)
    are counted for the summary line; `--strict` refuses them (exit 1)."""
    if not (state.strict or state.lint) or state.program is None or state.policy is None:
        return
    if state.gate is None:
        raise ValueError("`strict` and `lint` need a lint gate (`lint.gate.COMPILE_GATE`)")
    state.lint_errors = state.gate.errors(state.program, state.policy, HIERARCHY_ERRORS)
    if state.strict and state.lint_errors:
        state.diagnostics.extend(state.lint_errors)
        state.stop = True


def resolve_models(state: CompileState) -> None:
    """Copy each classifier's files into the bundle, pinned by sha256 (`compile/models.py`)."""
    policy = state.policy
    assert policy is not None
    for c in policy.classifiers:
        bound = bind_model(c)
        if isinstance(bound, Diagnostic):
            state.diagnostics.append(bound)
            continue
        state.models[c.name] = bound
    if any(d.fatal for d in state.diagnostics):
        state.stop = True


def build_detectors(state: CompileState) -> None:
    """Build every detector once at compile time: its fingerprint pins what it matches."""
    from policyc.runtime.detectors import DetectorError

    assert state.policy is not None
    for d in state.policy.detectors:
        try:
            det = build_detector(d.kind, d.pattern, d.validator, d.keywords)
        except DetectorError as err:
            state.diagnostics.append(_diag("POL112", f"detector for `{d.category}`: {err}",
                                           d.span))
            continue
        state.detectors.append(DetectorSpec(category=d.category, kind=d.kind, pattern=d.pattern,
                                            validator=d.validator, keywords=list(d.keywords),
                                            fingerprint=det.fingerprint()))
    if any(d.fatal for d in state.diagnostics):
        state.stop = True


def decision_map(state: CompileState) -> None:
    """The exact region algebra of `semantics/`: the one source of truth for the tables."""
    assert state.policy is not None
    state.dm = DecisionMap(state.policy)


def tables(state: CompileState) -> None:
    """Dense group tables (key-ordered strategies) and entry bitsets (all strategies)."""
    dm = state.dm
    assert dm is not None
    space = dm.space
    n_rules = len(dm.rules)
    # entries: one bool row per (variable, piece); entry e allows piece p of v
    rows = []
    for v, var in enumerate(space.vars):
        rows.append(np.stack([_bits_row(dm.bits[v][p], dm.n_entries)
                              for p in range(var.n_pieces)]))
    entries = np.concatenate(rows, axis=0) if rows else np.zeros((0, dm.n_entries), np.bool_)
    state.files["tables/entries.npy"] = npy_bytes(entries)
    state.files["tables/entry_rule.npy"] = npy_bytes(np.array(dm.entry_rule, dtype=np.int32))
    cells = 0
    if dm.key_ordered:
        position = {ri: k for k, ri in enumerate(dm.rank)}
        main = [(dm.entry_box[e], position[dm.entry_rule[e]]) for e in range(dm.n_entries)]
        main_spec, main_arrays = build_tables(main, space, n_rules, "main")
        locked = sorted((i for i, r in enumerate(dm.rules) if r.locked),
                        key=lambda i: floor_key(dm.rules[i]), reverse=True)
        fpos = {ri: k for k, ri in enumerate(locked)}
        floors = [(dm.entry_box[e], fpos[dm.entry_rule[e]]) for e in range(dm.n_entries)
                  if dm.entry_rule[e] in fpos]
        floor_spec, floor_arrays = build_tables(floors, space, len(locked), "floor")
        for name, arr in {**main_arrays, **floor_arrays}.items():
            state.files[name] = npy_bytes(arr)
            cells += int(arr.size)
        state.stats["groups"] = len(main_spec.groups) + len(floor_spec.groups)
        state.stats["boxes"] = len(main_spec.boxes) + len(floor_spec.boxes)
        state.main_tables, state.floor_tables = main_spec, floor_spec
    else:
        contains = np.zeros((n_rules, n_rules), dtype=np.bool_)
        for i in range(n_rules):
            for j in range(n_rules):
                contains[i, j] = dm.contains(i, j)
        state.files["tables/contains.npy"] = npy_bytes(contains)
        cells = int(contains.size)
        state.stats["groups"] = 0
        state.stats["boxes"] = 0
    state.stats["variables"] = len(space.vars)
    state.stats["rules"] = n_rules
    state.stats["entries"] = dm.n_entries
    state.stats["cells"] = cells


def _bits_row(bits: int, n: int) -> np.ndarray:
    """An int bitset as a bool vector of length n (bit e -> element e)."""
    raw = np.frombuffer(bits.to_bytes((n + 7) // 8 or 1, "little"), dtype=np.uint8)
    return np.unpackbits(raw, bitorder="little")[:n].astype(np.bool_)


def _dec(d: Decision | None) -> DecisionSpec | None:
    return None if d is None else DecisionSpec(action=d.action, argument=d.argument)  # type: ignore[arg-type]


def manifest(state: CompileState) -> None:
    """Everything the runtime needs, as data (no code, no pickles)."""
    policy, dm = state.policy, state.dm
    assert policy is not None and dm is not None
    variables = [VariableSpec(name=v.name, kind=v.kind, cuts=list(v.cuts),
                              values=list(v.values), default=v.default,  # type: ignore[arg-type]
                              n_pieces=v.n_pieces) for v in dm.space.vars]
    leaves = set(policy.leaves)
    rules = [RuleSpec(id=r.id, decision=_dec(r.decision), priority=r.priority,  # type: ignore[arg-type]
                      locked=r.locked, origin=r.origin, order=r.order,
                      categories=sorted(formula_variables(r.formula) & leaves))
             for r in dm.rules]
    decisions: list[DecisionSpec] = []
    for d in [*(r.decision for r in dm.rules), policy.default, policy.on_error]:
        spec = _dec(d)
        if spec is not None and spec not in decisions:
            decisions.append(spec)
    classifiers = []
    for c in policy.classifiers:
        bound = state.models[c.name]
        name = f"models/{bound.sha256}.onnx"
        state.files[name] = bound.data
        state.files.update(bound.extra or {})
        classifiers.append(ClassifierSpec(name=c.name, file=name, sha256=bound.sha256,
                                          source=c.path, labels=list(c.labels),
                                          on_error=_dec(c.on_error), normalize=bound.normalize,
                                          tokenizer=bound.tokenizer))
    tests = [TestSpec(name=t.name, given=[(a.name, a.value) for a in t.given], text=t.text,
                      expect=_dec(Decision.of(t.expect)) if t.expect else None,
                      expect_rule=t.expect_rule) for t in policy.tests]
    locked = sorted((i for i, r in enumerate(dm.rules) if r.locked),
                    key=lambda i: floor_key(dm.rules[i]), reverse=True)
    state.manifest = Manifest(
        schema="policyc/bundle/v1", policy=policy.name, version=policy.version, hash="",
        compiler=f"policyc {__version__}", strategy=policy.strategy,  # type: ignore[arg-type]
        default=_dec(policy.default), on_error=_dec(policy.on_error),  # type: ignore[arg-type]
        variables=variables, actions=list(ACTIONS), rules=rules, rank=list(dm.rank),
        floor_rank=locked, decisions=decisions,
        main=state.main_tables, floors=state.floor_tables,
        n_entries=dm.n_entries, entries="tables/entries.npy",
        entry_rule="tables/entry_rule.npy",
        contains=None if dm.key_ordered else "tables/contains.npy",
        classifiers=classifiers, detectors=state.detectors, tests=tests,
        thresholds={leaf: policy.threshold(leaf) for leaf in sorted(policy.leaves)},
        gates=[GateSpec(metric=g.metric, op=g.op, value=g.value) for g in policy.gates],
        owner=policy.owner, meta=dict(sorted(policy.meta.items())), lineage=list(policy.lineage),
    )


def seal(state: CompileState) -> None:
    """Deterministic container bytes and the content hash over everything else."""
    assert state.manifest is not None
    state.bundle, state.manifest = write_container(state.manifest, state.files)
    state.stats["bytes"] = len(state.bundle)


#: The passes, in order. Order matters where noted.
PASSES: tuple[Callable[[CompileState], None], ...] = (
    check_front_end,   # first: nothing below runs on input without a defined meaning
    check_hierarchy,   # a loosened floor or a broken `narrowing` has no bundle either
    lint_errors,       # before any work: --strict refuses lint errors
    resolve_models,    # bindings before tables: a bad model path is a compile error
    build_detectors,
    decision_map,      # the region algebra every table below is read from
    tables,            # needs decision_map
    manifest,          # needs tables (group specs) and the resolved models/detectors
    seal,              # last: the hash covers the manifest and every table and model
)


def run_passes(state: CompileState) -> CompileState:
    for step in PASSES:
        step(state)
        if state.stop:
            break
    return state


def compile_program(program: Program, strict: bool = False,
                    policy: FlatPolicy | None = None, lint: bool = False,
                    gate: LintGate | None = None) -> CompileState:
    """Compile the (single) root policy of a loaded program into bundle bytes; `lint`:
    also count the lint errors that do not block it (`state.lint_errors`); `gate`: what
    lint checks for compile (`lint.gate.COMPILE_GATE`; needed by `strict` and `lint`)."""
    return run_passes(CompileState(program=program, policy=policy, strict=strict, lint=lint,
                                   gate=gate))


def compile_file(file: str | Path, search_path: list[str | Path] | None = None,
                 strict: bool = False, lint: bool = False,
                 gate: LintGate | None = None) -> CompileState:
    return compile_program(load_program([file], search_path), strict, lint=lint, gate=gate)


def bundle_hash(program: Program, policy: FlatPolicy, gate: LintGate | None = None
                ) -> str | None:
    """The hash of the bundle `policy` compiles to (None: it does not compile), so a diff
    of sources names the same hash that decisions made by their bundles carry."""
    state = compile_program(program, policy=policy, gate=gate)
    if state.manifest is not None and not state.stop:
        return state.manifest.hash
    return None
