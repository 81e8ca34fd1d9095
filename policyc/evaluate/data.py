"""Labelled events for `policyc eval`: JSON Lines, one event a line.

```json
{"id": "e1", "text": "…", "context": {"audience": "teen"}, "scores": {"self_harm.intent": 0.6},
 "label": "harmful", "categories": ["self_harm"], "expect": "redirect(crisis_resources)"}
```

- one of `text`, `scores`, `context` is needed (as for `policyc check --input`);
- `label`: `harmful` or `benign` (optional); `categories`: the policy categories
  the event belongs to (optional; leaf or inner names);
- `expect`: an action, optionally with its argument, as `refuse`,
  `redirect(crisis_resources)` or `redirect("crisis_resources")` (optional);
- `group` (else `category`, a sub-group such as `homonym`) groups events in the
  per-group table; any other key (`trigger`, `source`, …) is kept out of the way;
- every string-valued key but `text` (`kind`, `language`, `obfuscation`, `split`,
  `category` …) is kept in `Event.fields`, for `--slice-by FIELD` and `--where FIELD=VALUE`.

A malformed line is reported with its line number and skipped.

A Parquet file (by suffix or magic bytes) is read with the column mapping of
`policyc check --input` (docs/scale.md): `id`, `text`, `context.<attribute>`,
`scores.<category>`, and the labels and fields above as columns of their own; a null
cell is an absent key; rows are numbered from 1 like lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policyc.runtime.actions import ACTIONS
from policyc.runtime.events import check_id
from policyc.runtime.jsonl import BadLine, parse_line, read_lines

_EXPECT = re.compile(r'^\s*([a-z_]+)\s*(?:\(\s*(?:"([^"]*)"|([^()"]*?))\s*\))?\s*$')


class DataError(Exception):
    """The data file as a whole cannot be read."""


@dataclass
class Event:
    line: int
    id: Any
    text: str | None
    context: dict[str, Any]
    scores: dict[str, Any]
    label: str | None
    categories: tuple[str, ...]
    expect: tuple[str, str | None] | None
    group: str | None
    fields: dict[str, str] = field(default_factory=dict)


@dataclass
class Dataset:
    path: str
    events: list[Event] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (line, message)


def parse_expect(raw: Any) -> tuple[str, str | None]:
    """`refuse`, `redirect(x)`, `redirect("x")`, or {"action": …, "argument": …}."""
    if isinstance(raw, dict):
        action, argument = raw.get("action"), raw.get("argument")
        if not isinstance(action, str) or not (argument is None or isinstance(argument, str)):
            raise ValueError("`expect` object needs a string `action` and optional `argument`")
    elif isinstance(raw, str):
        m = _EXPECT.match(raw)
        if m is None:
            raise ValueError(f"`expect` {raw!r} is not an action such as `refuse` or "
                             f"`redirect(crisis_resources)`")
        action = m.group(1)
        argument = m.group(2) if m.group(2) is not None else (m.group(3) or None)
    else:
        raise ValueError("`expect` must be a string such as \"refuse\"")
    if action not in ACTIONS:
        raise ValueError(f"`expect` names unknown action `{action}` "
                         f"(actions: {', '.join(ACTIONS)})")
    return action, argument


def parse_event(obj: Any, line: int) -> Event:
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    if not ({"text", "context", "scores"} & set(obj)):
        raise ValueError("an event needs one of `text`, `context`, `scores`")
    if "id" in obj:  # as `check --input`: an id the report can echo
        check_id(obj["id"])
    text, context, scores = obj.get("text"), obj.get("context", {}), obj.get("scores", {})
    if text is not None and not isinstance(text, str):
        raise ValueError("`text` must be a string")
    if not isinstance(context, dict) or not isinstance(scores, dict):
        raise ValueError("`context` and `scores` must be objects")
    label = obj.get("label")
    if label is not None and label not in ("harmful", "benign"):
        raise ValueError(f"`label` must be \"harmful\" or \"benign\", not {label!r}")
    cats = obj.get("categories", [])
    if isinstance(cats, str):
        cats = [cats]
    if not isinstance(cats, list) or not all(isinstance(c, str) for c in cats):
        raise ValueError("`categories` must be a list of category names")
    expect = parse_expect(obj["expect"]) if obj.get("expect") is not None else None
    group = obj.get("group", obj.get("category"))
    return Event(line, obj.get("id"), text, dict(context), dict(scores), label,
                 tuple(dict.fromkeys(cats)), expect, group if isinstance(group, str) else None,
                 {k: v for k, v in obj.items() if isinstance(v, str) and k != "text"})


def parse_where(specs: list[str]) -> dict[str, str]:
    """`--where FIELD=VALUE` (repeatable, or comma-separated) as {field: value}."""
    out: dict[str, str] = {}
    for spec in specs:
        for part in spec.split(","):
            name, sep, value = part.partition("=")
            if not sep or not name.strip():
                raise DataError(f"`--where {part}` is not FIELD=VALUE (e.g. `--where split=test`)")
            out[name.strip()] = value.strip()
    return out


def select(data: Dataset, where: dict[str, str]) -> int:
    """Keep only the events whose fields match every `where` pair; returns how many left."""
    if not where:
        return 0
    kept = [ev for ev in data.events
            if all(ev.fields.get(k) == v for k, v in where.items())]
    dropped = len(data.events) - len(kept)
    data.events = kept
    return dropped


def load_dataset(path: Path) -> Dataset:
    from policyc.runtime.columns import is_parquet

    if path.is_file() and is_parquet(path):
        return _load_parquet(path)
    data = Dataset(str(path))
    try:
        with path.open("rb") as fh:
            # the lines `check --input` reads: split on b"\n" only, each decoded on its
            # own, strict JSON (no NaN, huge integer, duplicate key or deep nesting)
            for line in read_lines(fh):
                if not line.too_long and not line.raw.strip(b" \t\r"):
                    continue  # a blank line is no event (eval has always passed over it)
                try:
                    obj = parse_line(line)
                except BadLine as exc:
                    data.skipped.append((line.number, exc.message))
                    continue
                try:
                    data.events.append(parse_event(obj, line.number))
                except ValueError as exc:
                    data.skipped.append((line.number, str(exc)))
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    return data


def _load_parquet(path: Path) -> Dataset:
    """Rows of a Parquet file as the JSON objects they map to (see the module doc)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = Dataset(str(path))
    try:
        f = pq.ParquetFile(path)
        names = f.schema_arrow.names
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:  # `to_pylist` would keep one of the cells, silently
            raise DataError(f"cannot read {path}: column `{twice[0]}` appears more than once")
        batches = f.iter_batches(batch_size=1 << 16)
        number = 0
        for batch in batches:
            for row in batch.to_pylist():
                number += 1
                obj: dict[str, Any] = {}
                for name, value in row.items():
                    if value is None:
                        continue
                    head, dot, rest = name.partition(".")
                    if dot and rest and head in ("context", "scores"):
                        obj.setdefault(head, {})[rest] = value
                    else:
                        obj[name] = value
                try:
                    data.events.append(parse_event(obj, number))
                except ValueError as exc:
                    data.skipped.append((number, str(exc)))
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"cannot read {path} as Parquet: {exc}") from None
    return data
