"""`policyc replay --engine ray`: the streaming engine on Ray Data (docs/scale.md).

Imported only with `--engine ray` (`pip install 'policyc[ray]'`). The input is read
with Ray Data (`read_parquet`; `read_text` for JSON Lines: each line is decoded by the
actor with the local engine's trust rules, so a line that is not valid JSON, or not an
event, is reported and skipped exactly as locally, never failing the job), then
`map_batches` runs `_Decide`, a callable class: each actor loads the bundles once from
their bytes (shipped through the object store with the task), ONNX sessions included,
and turns each batch into a few summary rows (counts per old -> new decision pair and
rule, the first flipped rows, the bad rows' messages). The driver merges those rows
into the same `ReplayCounts` the local engine gives.

Row numbers are not global under Ray Data (blocks are decided anywhere, in any order),
so flipped and bad rows are named by their `id` (`row` is null); counts are exact.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from policyc.runtime.actions import RESTRICTIVENESS
from policyc.runtime.jsonl import BadLine
from policyc.runtime.replay import Flip, ReplayCounts

_SUMMARY = ("kind", "old", "new", "rule", "count", "id", "message", "change")


class _Decide:
    """One actor: the bundles loaded once, then batch after batch."""

    def __init__(self, new: bytes, old: bytes | None, limit: int, jsonl: bool = False):
        from policyc.runtime.checker import Bundle
        from policyc.runtime.columns import ArrowEngine
        from policyc.runtime.stream import JsonlEngine

        engine = JsonlEngine if jsonl else ArrowEngine
        self.new = engine(Bundle.from_bytes(new, "new"))
        self.old = engine(Bundle.from_bytes(old, "old")) if old is not None else None
        self.limit = limit
        self.jsonl = jsonl

    def _decide(self, engine: Any, batch: Any) -> Any:
        if not self.jsonl:
            return engine.decide_batch(batch)
        from policyc.runtime.stream import Chunk

        lines = batch.column("text").to_pylist()
        return engine.decide_chunk_columns(Chunk(1, [ln.encode() for ln in lines], 0))

    def __call__(self, table: Any) -> Any:
        import pyarrow as pa

        rows: dict[str, list[Any]] = {k: [] for k in _SUMMARY}

        def add(**kw: Any) -> None:
            for k in _SUMMARY:
                rows[k].append(kw.get(k))

        if not self.jsonl:
            table = _flatten(table)
        has_ids = "id" in table.column_names
        for batch in table.to_batches():
            if batch.num_rows == 0:
                continue
            dn = self._decide(self.new, batch)
            do = self._decide(self.old, batch) if self.old is not None else None
            if self.jsonl:
                ids = dn.ids if dn.ids is not None else [None] * batch.num_rows
            else:
                ids = batch.column("id").to_pylist() if has_ids else [None] * batch.num_rows
            bad = set(dn.errors) | (set(do.errors) if do is not None else set())
            for k in sorted(bad):
                add(kind="error", id=_text(ids[k]),
                    message=dn.errors.get(k) or (do.errors.get(k) if do else ""))
            counts: dict[tuple[int, int], int] = {}
            first_flip: dict[tuple[int, int], list[int]] = {}
            for k in range(batch.num_rows):
                if k in bad:
                    continue
                key = (int(dn.index[k]), int(do.index[k]) if do is not None else -1)
                counts[key] = counts.get(key, 0) + 1
                flips = first_flip.setdefault(key, [])
                if len(flips) < self.limit:
                    flips.append(k)
            for (i, j), c in counts.items():
                fn = dn.frags[i]
                if do is None:
                    add(kind="pair", new=str(fn), count=c)
                    continue
                fo = do.frags[j]
                change = None
                if (fo.action, fo.argument) != (fn.action, fn.argument):
                    ro, rn = RESTRICTIVENESS[fo.action], RESTRICTIVENESS[fn.action]
                    change = "loosened" if rn < ro else "tightened" if rn > ro else "changed"
                    for k in first_flip[(i, j)]:
                        add(kind="flip", old=str(fo), new=str(fn), id=_text(ids[k]),
                            rule=fn.rule or fo.rule, change=change,
                            message=f"{fo.rule or ''}\t{fn.rule or ''}")
                add(kind="pair", old=str(fo), new=str(fn), count=c, change=change,
                    rule=(fn.rule or fo.rule or "(default)") if change else None)
        return pa.table({k: pa.array(v, type=pa.int64() if k == "count" else pa.string())
                         for k, v in rows.items()})


def _text(x: Any) -> str | None:
    import json

    return None if x is None else json.dumps(x, ensure_ascii=False)


def _flatten(table: Any) -> Any:
    """Struct columns (`context`, `scores` read from JSON) as `context.x`, `scores.y`."""
    import pyarrow as pa

    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    return table


def init_ray() -> Any:
    """Connect to the cluster in `RAY_ADDRESS` (as `ray job submit` sets it), or start a
    local one bound to loopback, with usage stats and the dashboard off."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    if not ray.is_initialized():
        if os.environ.get("RAY_ADDRESS"):
            ray.init(log_to_driver=False)
        else:
            ray.init(num_cpus=int(os.environ.get("POLICYC_RAY_CPUS", "2")),
                     include_dashboard=False, _node_ip_address="127.0.0.1",
                     log_to_driver=False)
    return ray


def replay_ray(path: Path | str, new: bytes, old: bytes | None,
               report: Callable[[BadLine], None], limit: int = 100,
               batch_size: int = 1 << 17) -> ReplayCounts:
    """`replay` on Ray Data: `path` is a local file or an object-store URI (s3://…)."""
    ray = init_ray()
    import logging

    logging.getLogger("ray.data").setLevel(logging.WARNING)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    p = str(path)
    jsonl = not (p.endswith((".parquet", ".pq")) or Path(p).is_dir())
    ds = ray.data.read_text(p, drop_empty_lines=False) if jsonl else ray.data.read_parquet(p)
    summary = ds.map_batches(_Decide, fn_constructor_args=(new, old, limit, jsonl),
                             batch_format="pyarrow", batch_size=batch_size,
                             concurrency=int(os.environ.get("POLICYC_RAY_ACTORS", "1")),
                             # an actor takes half a CPU: read tasks still find one (a pool
                             # holding every CPU would wait for reads that never start)
                             num_cpus=float(os.environ.get("POLICYC_RAY_ACTOR_CPUS", "0.5")))
    out = ReplayCounts()
    compared = old is not None
    flips: list[Flip] = []
    for r in summary.iter_rows():
        if r["kind"] == "error":
            out.rows += 1
            out.skipped += 1
            report(BadLine(0, f"id {r['id']}: {r['message']}" if r["id"] else r["message"]))
        elif r["kind"] == "pair":
            c = int(r["count"])
            out.rows += c
            out.decided += c
            out.actions[r["new"]] += c
            if compared:
                out.pairs[(r["old"], r["new"])] += c
                if r["change"]:
                    out.kinds[r["change"]] += c
                    out.rules[r["rule"]] += c
        elif r["kind"] == "flip" and len(flips) < limit:
            import json

            old_rule, new_rule = (r["message"] or "\t").split("\t")
            flips.append(Flip(0, json.loads(r["id"]) if r["id"] else None, r["old"], r["new"],
                              old_rule or None, new_rule or None, r["change"]))
    out.flips = flips
    return out


__all__ = ["init_ray", "replay_ray"]
