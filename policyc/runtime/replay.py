"""`policyc replay`: decide logged events under a policy and count what changes against
an older one (docs/cli.md, *replay*).

Both policies decide every chunk with the streaming engine (`stream.py`); rows compare
by their decisions (action and argument). A row is *loosened* when the new action is
less restrictive than the old, *tightened* when more; a changed argument with the same
action is *changed*. The rule responsible is the new decision's rule (the old one's when
the new decision is the default's). A row either policy cannot decide is reported once
(under the new policy's message, else the old's) and counted in `skipped`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from policyc.runtime.actions import RESTRICTIVENESS
from policyc.runtime.checker import Checker
from policyc.runtime.jsonl import BadLine
from policyc.runtime.stream import Decided, JsonlEngine, read_chunks

REPLAY_SCHEMA = "policyc/replay/v1"


@dataclass
class Flip:
    row: int
    id: Any
    old: str
    new: str
    old_rule: str | None
    new_rule: str | None
    kind: str  # loosened | tightened | changed


@dataclass
class ReplayCounts:
    rows: int = 0
    decided: int = 0
    skipped: int = 0
    actions: Counter[str] = field(default_factory=Counter)  # new decisions
    pairs: Counter[tuple[str, str]] = field(default_factory=Counter)  # old -> new
    kinds: Counter[str] = field(default_factory=Counter)  # loosened / tightened / changed
    rules: Counter[str] = field(default_factory=Counter)  # rule responsible for a flip
    flips: list[Flip] = field(default_factory=list)  # the first `limit`

    def to_dict(self, compared: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"schema": REPLAY_SCHEMA, "rows": self.rows,
                               "decided": self.decided, "skipped": self.skipped,
                               "actions": dict(sorted(self.actions.items()))}
        if compared:
            out["pairs"] = [{"old": o, "new": n, "count": c}
                            for (o, n), c in sorted(self.pairs.items())]
            out["changed"] = {k: self.kinds.get(k, 0) for k in ("loosened", "tightened",
                                                                  "changed")}
            out["rules"] = dict(self.rules.most_common())
            out["flips"] = [vars(f) for f in self.flips]
        return out


def _chunks(path: Path, new: Checker, old: Checker | None
            ) -> Iterator[tuple[int, int, Any, Decided, Decided | None]]:
    """(first row, rows, ids, new decisions, old decisions) per chunk."""
    from policyc.runtime.columns import ArrowEngine, batches, is_parquet

    if is_parquet(path):
        an, ao = ArrowEngine(new), ArrowEngine(old) if old is not None else None
        first = 1
        for b in batches(path):
            ids = b.column("id").to_pylist() if "id" in b.schema.names else [None] * b.num_rows
            yield first, b.num_rows, ids, an.decide_batch(b), \
                ao.decide_batch(b) if ao is not None else None
            first += b.num_rows
        return
    jn, jo = JsonlEngine(new), JsonlEngine(old) if old is not None else None
    with path.open("rb") as fh:
        for chunk in read_chunks(fh):
            dn = jn.decide_chunk_columns(chunk)
            ids = _LazyIds(chunk.raws)  # read for the flipped rows only
            yield chunk.first, len(chunk.raws), ids, dn, \
                jo.decide_chunk_columns(chunk) if jo is not None else None


class _LazyIds:
    """The `id` of a JSON line, parsed when asked for (None when the line has none)."""

    def __init__(self, raws: list[bytes | None]):
        self.raws = raws

    def __getitem__(self, k: int) -> Any:
        import json

        try:
            obj = json.loads(self.raws[k] or b"")
        except ValueError:
            return None
        return obj.get("id") if isinstance(obj, dict) else None


def replay(path: Path, new: Checker, old: Checker | None, report: Callable[[BadLine], None],
           limit: int = 100, per_kind: bool = False,
           on_flip: Callable[[Flip], None] | None = None) -> ReplayCounts:
    """`per_kind`: keep the first `limit` flips of each kind (loosened, tightened,
    changed) rather than the first `limit` flips. `on_flip` sees every flip, in input
    order, kept or not (a report grouping all of them without holding them)."""
    out = ReplayCounts()
    kept: Counter[str] = Counter()
    for first, n, ids, dn, do in _chunks(path, new, old):
        out.rows += n
        bad = set(dn.errors) | (set(do.errors) if do is not None else set())
        for k in sorted(bad):
            msg = dn.errors.get(k) or (do.errors.get(k) if do is not None else "")
            report(BadLine(first + k, msg or ""))
        out.skipped += len(bad)
        ok = dn.index >= 0
        if do is not None:
            ok &= do.index >= 0
        out.decided += int(ok.sum())
        names_n = [str(f) for f in dn.frags]
        rows = np.flatnonzero(ok)
        counts = Counter(zip(dn.index[rows].tolist(),
                             (do.index[rows] if do is not None else rows * 0).tolist(),
                             strict=True))
        for (i, j), c in counts.items():
            out.actions[names_n[i]] += c
            if do is None:
                continue
            fo, fn = do.frags[j], dn.frags[i]
            out.pairs[(str(fo), names_n[i])] += c
            if (fo.action, fo.argument) == (fn.action, fn.argument):
                continue
            ro, rn = RESTRICTIVENESS[fo.action], RESTRICTIVENESS[fn.action]
            kind = "loosened" if rn < ro else "tightened" if rn > ro else "changed"
            out.kinds[kind] += c
            out.rules[fn.rule or fo.rule or "(default)"] += c
        if do is not None and (per_kind or on_flip is not None or len(out.flips) < limit):
            same = np.array([(do.frags[j].action, do.frags[j].argument)
                             == (dn.frags[i].action, dn.frags[i].argument)
                             for i, j in zip(dn.index[rows].tolist(), do.index[rows].tolist(),
                                             strict=True)], dtype=np.bool_)
            for k in rows[~same].tolist():
                fo, fn = do.frags[do.index[k]], dn.frags[dn.index[k]]
                ro, rn = RESTRICTIVENESS[fo.action], RESTRICTIVENESS[fn.action]
                kind = "loosened" if rn < ro else "tightened" if rn > ro else "changed"
                flip = Flip(first + k, ids[k], str(fo), str(fn), fo.rule, fn.rule, kind)
                if on_flip is not None:
                    on_flip(flip)
                if kept[kind if per_kind else ""] >= limit:
                    if per_kind or on_flip is not None:
                        continue
                    break
                kept[kind if per_kind else ""] += 1
                out.flips.append(flip)
    return out


__all__ = ["REPLAY_SCHEMA", "Flip", "ReplayCounts", "replay"]
