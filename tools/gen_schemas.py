"""Write the published JSON Schemas of policyc's machine outputs into ``docs/schemas/``.

The schemas are generated from the pydantic models of ``policyc/render/contracts.py``;
never edit the files by hand::

    python tools/gen_schemas.py          # (re)write docs/schemas/*.schema.json
    python tools/gen_schemas.py --check  # exit 1 if a committed file is stale or missing

``tests/render/test_schemas.py`` runs the check, so a change to a model that is not
regenerated fails the tests.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "schemas"


def expected_files() -> dict[str, str]:
    """File name -> the text the models give, for every published schema."""
    from policyc.render.contracts import CONTRACTS, schema_text

    return {c.file_name: schema_text(kind) for kind, c in CONTRACTS.items()}


def stale(out: Path = OUT) -> list[str]:
    """The schema files under `out` that differ from the models (or are missing, or are
    left over from a schema the models no longer publish)."""
    want = expected_files()
    bad = [name for name, text in want.items()
           if not (out / name).is_file() or (out / name).read_text(encoding="utf-8") != text]
    bad += sorted(p.name for p in out.glob("*.schema.json") if p.name not in want)
    return bad


def write(out: Path = OUT) -> list[str]:
    """Rewrite every schema file; the names of those that changed."""
    out.mkdir(parents=True, exist_ok=True)
    changed = stale(out)
    want = expected_files()
    for p in out.glob("*.schema.json"):
        if p.name not in want:
            p.unlink()
    for name, text in want.items():
        (out / name).write_text(text, encoding="utf-8", newline="\n")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="report stale schema files and exit 1 instead of writing")
    args = parser.parse_args(argv)
    if args.check:
        bad = stale()
        for name in bad:
            print(f"docs/schemas/{name} is stale: run `python tools/gen_schemas.py`",
                  file=sys.stderr)
        return 1 if bad else 0
    changed = write()
    print(f"{len(changed)} schema file(s) changed" + (f": {', '.join(changed)}" if changed else ""))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
