"""Load-time checks of a bundle's cross-references and tables: what its hash cannot prove.

The content hash proves that a bundle was not changed after it was sealed, not who
sealed it: anyone can edit a table or the manifest and recompute the hashes. The
runtime indexes lists and arrays with numbers it reads from the bundle, so each of
them is checked here, once, at load: a bundle that loads decides every event without
an exception (an index out of range, a missing decision, a table of the wrong shape
are refusals, never tracebacks). What cannot be checked here is meaning: a re-sealed
bundle can decide differently from its source, as a differently written policy can.

`check_manifest` runs on the manifest alone (plain Python over lists whose size the
manifest cap bounds), before the large members are read; `check_tables` runs on the
arrays with whole-array numpy reductions, never a per-cell loop.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from policyc.runtime.bundle import (
    BundleError,
    Manifest,
    TableSetSpec,
    TokenizerSpec,
    VariableSpec,
)
from policyc.runtime.classifier_options import OPTIONS, check_option
from policyc.runtime.events import piece_fn
from policyc.runtime.validators import VALIDATORS

__all__ = ["check_manifest", "check_tables"]


class _Bad(Exception):
    """One inconsistency; reported as a `BundleError` naming the bundle."""


def check_manifest(m: Manifest, source: str) -> None:
    """Every name, index and count in the manifest refers to something that exists."""
    try:
        _variables(m.variables)
        _rules(m)
        _tables_named(m)
        _bindings(m)
    except _Bad as err:
        raise BundleError(f"{source}: inconsistent bundle: {err} (tampered?)") from None


def check_tables(m: Manifest, arrays: Mapping[str, np.ndarray], source: str) -> None:
    """Every table has the dtype and shape the manifest implies, and values in range."""
    try:
        _entry_tables(m, arrays)
        for what, ts in (("main", m.main), ("floor", m.floors)):
            if ts is not None:
                _group_tables(what, ts, m.variables, arrays)
    except _Bad as err:
        raise BundleError(f"{source}: inconsistent bundle: {err} (tampered?)") from None


# ---- the manifest ---------------------------------------------------------------------------


def _increasing(xs: list[int] | list[float]) -> bool:
    return all(a < b for a, b in zip(xs, xs[1:], strict=False))


def _variables(variables: list[VariableSpec]) -> None:
    names: set[str] = set()
    for v in variables:
        where = f"variable `{v.name}`"
        if v.name in names:
            raise _Bad(f"{where} is declared twice")
        names.add(v.name)
        if v.kind in ("score", "number"):
            if v.values:
                raise _Bad(f"{where}: a {v.kind} has no values")
            if not _increasing(v.cuts):
                raise _Bad(f"{where}: its cuts are not strictly increasing")
            if v.n_pieces != 2 * len(v.cuts) + 1:
                raise _Bad(f"{where}: {len(v.cuts)} cuts make {2 * len(v.cuts) + 1} pieces, "
                           f"not {v.n_pieces}")
            if v.default is not None and (v.kind == "score" or type(v.default) is not float):
                raise _Bad(f"{where}: default {v.default!r} is not a {v.kind}")
        elif v.kind == "enum":
            values = v.values
            if v.cuts or not values or any(type(x) is not str for x in values) \
                    or len(set(values)) != len(values):
                raise _Bad(f"{where}: an enum has distinct names as values, and no cuts")
            if v.n_pieces != len(values):
                raise _Bad(f"{where}: {len(values)} values, not {v.n_pieces} pieces")
            if v.default is not None and (type(v.default) is not str or v.default not in values):
                raise _Bad(f"{where}: default {v.default!r} is not one of its values")
        else:  # bool
            if v.cuts or [type(x) for x in v.values] != [bool, bool] or v.values != [False, True] \
                    or v.n_pieces != 2:
                raise _Bad(f"{where}: a bool has the values [false, true] and 2 pieces")
            if v.default is not None and type(v.default) is not bool:
                raise _Bad(f"{where}: default {v.default!r} is not a bool")


def _permutation(xs: list[int], of: list[int] | range) -> bool:
    return len(xs) == len(of) and sorted(xs) == sorted(of)


def _rules(m: Manifest) -> None:
    n_rules = len(m.rules)
    scores = {v.name for v in m.variables if v.kind == "score"}
    ids: set[str] = set()
    for r in m.rules:
        if r.id in ids:
            raise _Bad(f"rule `{r.id}` is declared twice")
        ids.add(r.id)
        unknown = sorted(set(r.categories) - scores)
        if unknown:
            raise _Bad(f"rule `{r.id}` reads `{unknown[0]}`, which is not a category score")
    if not _permutation(m.rank, range(n_rules)):
        raise _Bad(f"`rank` is not an order of the {n_rules} rules")
    locked = [i for i, r in enumerate(m.rules) if r.locked]
    if not _permutation(m.floor_rank, locked):
        raise _Bad(f"`floor_rank` is not an order of the {len(locked)} locked rules")
    known = [(d.action, d.argument) for d in m.decisions]
    if len(set(known)) != len(known):
        raise _Bad("`decisions` lists a decision twice")
    needed = [(f"rule `{r.id}`", r.decision) for r in m.rules] + [("`on_error`", m.on_error)]
    if m.default is not None:
        needed.append(("`default`", m.default))
    for who, d in needed:
        if (d.action, d.argument) not in known:
            raise _Bad(f"the decision of {who} is missing from `decisions`")
    if m.strategy == "most-specific":
        if m.contains is None or m.main is not None or m.floors is not None:
            raise _Bad("a most-specific bundle has a containment table and no group tables")
        return
    if m.main is None or m.floors is None or m.contains is not None:
        raise _Bad(f"a {m.strategy} bundle has main and floor tables and no containment table")
    _table_set("main", m.main, n_rules, m.variables)
    _table_set("floor", m.floors, len(m.floor_rank), m.variables)


def _table_set(what: str, ts: TableSetSpec, sentinel: int, variables: list[VariableSpec]
               ) -> None:
    """Group and box specs: variables, shapes and ranks in range (the arrays come later)."""
    if ts.sentinel != sentinel:
        raise _Bad(f"the {what} tables' sentinel is {ts.sentinel}, not {sentinel}")
    if ts.always is not None and ts.always >= sentinel:
        raise _Bad(f"the {what} tables' `always` rank {ts.always} is out of range")
    n_vars = len(variables)
    for g in ts.groups:
        where = f"{what} group `{g.name}`"
        if not _increasing(g.vars) or any(v >= n_vars for v in g.vars):
            raise _Bad(f"{where}: its variables are not increasing indices below {n_vars}")
        if g.shape != [variables[v].n_pieces for v in g.vars]:
            raise _Bad(f"{where}: shape {g.shape} is not its variables' pieces")
        if g.score_vars != [v for v in g.vars if variables[v].kind == "score"]:
            raise _Bad(f"{where}: `score_vars` are not its score variables")
    for b in ts.boxes:
        if b.rank >= sentinel:
            raise _Bad(f"a {what} box has rank {b.rank}, out of range")
        seen: set[int] = set()
        for v, allowed in b.masks:
            if v >= n_vars or v in seen or any(p >= variables[v].n_pieces for p in allowed):
                raise _Bad(f"a {what} box (rank {b.rank}) names a variable or piece "
                           "out of range")
            seen.add(v)


def _tables_named(m: Manifest) -> None:
    """The tables the manifest names are distinct and are exactly its `tables/` members."""
    named = [m.entries, m.entry_rule] + ([m.contains] if m.contains else [])
    for ts in (m.main, m.floors):
        named += [g.table for g in ts.groups] if ts else []
    if len(set(named)) != len(named):
        raise _Bad("two tables share one member")
    members = {name for name in m.files if name.startswith("tables/")}
    if set(named) != members:
        odd = sorted(set(named) ^ members)
        raise _Bad(f"table member `{odd[0]}` is " +
                   ("named but not listed in `files`" if odd[0] in named else "never used"))


def _tokenizer(where: str, t: TokenizerSpec, files: dict[str, str]) -> None:
    """A tokenizer's and config's members are pinned like the model; its options are valid."""
    pinned = [("tokenizer", t.file, t.sha256)]
    if t.config_file is not None or t.config_sha256 is not None:
        pinned.append(("config", t.config_file or "", t.config_sha256 or ""))
    for what, name, sha in pinned:
        if name != f"models/{sha}.json" or files.get(name) != sha:
            raise _Bad(f"{where}: its {what} `{name}` is not the member of sha256 {sha}")
    for key, value in t.options.items():
        if key not in OPTIONS:
            raise _Bad(f"{where}: unknown option `{key}`")
        problem = check_option(key, value, "number" if isinstance(value, int) else
                               "string" if OPTIONS[key].kind == "string" else "name")
        if problem is not None:
            raise _Bad(f"{where}: {problem}")


def _bindings(m: Manifest) -> None:
    scores = {v.name for v in m.variables if v.kind == "score"}
    names: set[str] = set()
    for c in m.classifiers:
        where = f"classifier `{c.name}`"
        if c.name in names:
            raise _Bad(f"{where} is declared twice")
        names.add(c.name)
        if c.file != f"models/{c.sha256}.onnx" or m.files.get(c.file) != c.sha256:
            raise _Bad(f"{where}: its model `{c.file}` is not the member of sha256 {c.sha256}")
        if c.tokenizer is not None:
            _tokenizer(where, c.tokenizer, m.files)
            # the binding folds when `normalize on`, with this runtime's fold: a bundle
            # recording another form would be scored differently from how it was compiled
            from policyc.runtime.normalize import NORMALIZATION_VERSION  # (2.7 ms: here)

            want = (f"policyc-fold/{NORMALIZATION_VERSION}"
                    if c.tokenizer.options.get("normalize") == "on" else None)
            if c.normalize != want:
                raise _Bad(f"{where}: its text normalization is {c.normalize!r}, not "
                           f"{want!r} as its `normalize` option gives in this policyc")
        cats = [cat for cat, _ in c.labels]
        if len(set(cats)) != len(cats) or not set(cats) <= scores:
            raise _Bad(f"{where}: its labels map distinct category scores")
    models = {name for name in m.files if name.startswith("models/")}
    used = {c.file for c in m.classifiers} | {
        f for c in m.classifiers if c.tokenizer is not None
        for f in (c.tokenizer.file, c.tokenizer.config_file) if f is not None}
    unused = sorted(models - used)
    if unused:
        raise _Bad(f"model member `{unused[0]}` is bound by no classifier")
    for d in m.detectors:
        where = f"detector for `{d.category}`"
        if d.category not in scores:
            raise _Bad(f"{where}: `{d.category}` is not a category score")
        if d.kind == "regex":
            if not d.pattern or d.keywords or d.validator not in (None, *VALIDATORS):
                raise _Bad(f"{where}: a regex detector has a pattern, no keywords and a "
                           f"known validator ({', '.join(sorted(VALIDATORS))})")
        elif d.pattern is not None or d.validator is not None or not d.keywords:
            raise _Bad(f"{where}: a keywords detector has keywords, no pattern, no validator")


# ---- the arrays (numpy reductions, no per-cell loop) ------------------------------------------


def _entry_tables(m: Manifest, arrays: Mapping[str, np.ndarray]) -> None:
    n_rules, n = len(m.rules), m.n_entries
    rows = sum(v.n_pieces for v in m.variables)
    entries = arrays[m.entries]
    if entries.dtype != np.bool_ or entries.shape != (rows, n):
        raise _Bad(f"`{m.entries}` is {entries.dtype}{list(entries.shape)}, not "
                   f"bool[{rows}, {n}] (pieces, entries)")
    rule = arrays[m.entry_rule]
    if rule.dtype.kind not in "iu" or rule.shape != (n,):
        raise _Bad(f"`{m.entry_rule}` is {rule.dtype}{list(rule.shape)}, not int[{n}]")
    if n and (rule.min() < 0 or rule.max() >= n_rules):
        raise _Bad(f"`{m.entry_rule}` names a rule outside 0..{n_rules - 1}")
    if m.strategy != "most-specific" and n > 1:
        # the checker takes the lowest matching entry as the winner
        position = np.empty(n_rules, dtype=np.int64)
        position[np.asarray(m.rank, dtype=np.int64)] = np.arange(n_rules)
        if (np.diff(position[rule]) < 0).any():
            raise _Bad(f"`{m.entry_rule}`: the entries are not numbered best rank first")
    if m.contains is not None:
        contains = arrays[m.contains]
        if contains.dtype != np.bool_ or contains.shape != (n_rules, n_rules):
            raise _Bad(f"`{m.contains}` is {contains.dtype}{list(contains.shape)}, not "
                       f"bool[{n_rules}, {n_rules}]")
        if not contains.diagonal().all():
            raise _Bad(f"`{m.contains}`: a rule does not contain itself")


def _group_tables(what: str, ts: TableSetSpec, variables: list[VariableSpec],
                  arrays: Mapping[str, np.ndarray]) -> None:
    zero = {v: piece_fn(variables[v])(0.0)
            for v in {v for g in ts.groups if g.skip_zero for v in g.score_vars}}
    for g in ts.groups:
        table = arrays[g.table]
        cells = math.prod(g.shape)
        if table.dtype not in (np.int16, np.int32) or table.shape != (cells,):
            raise _Bad(f"`{g.table}` is {table.dtype}{list(table.shape)}, not int16 or "
                       f"int32[{cells}] ({what} group `{g.name}`)")
        if ts.sentinel > np.iinfo(table.dtype).max:
            raise _Bad(f"`{g.table}`: {table.dtype} cannot hold the sentinel {ts.sentinel}")
        if table.min() < 0 or table.max() > ts.sentinel:
            raise _Bad(f"`{g.table}` holds a rank outside 0..{ts.sentinel}")
        if g.skip_zero:  # skipped where its scores are all 0: it must match nothing there
            at_zero = tuple(zero.get(v, slice(None)) for v in g.vars)
            if (table.reshape(g.shape)[at_zero] != ts.sentinel).any():
                raise _Bad(f"`{g.table}` matches where its scores are all 0, but "
                           f"{what} group `{g.name}` is skipped there")
