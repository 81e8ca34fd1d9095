"""Obfuscated variants of team prompts, for `policyc eval` (deterministic, stdlib only).

    python tools/obfuscate.py [--split test] [--out examples/data/team_obfuscated_test.jsonl]

Each English row of ``examples/data/team`` (harmful, tricky benign, controls) of the
chosen split is written once per method below, with ``id`` suffixed by the method,
``obfuscation`` set to it and everything else (label, expect, categories, family)
kept, so `policyc eval` reads the file as it reads the team files:

``zero_width``  a U+200B ZERO WIDTH SPACE after every second character of each word
``fullwidth``   every ASCII letter and digit as its fullwidth form (U+FF01..)
``homoglyph``   Latin a c e o p x y (and capitals) as their Cyrillic look-alikes
``leet``        in words of four or more letters: a→4 e→3 i→1 o→0 s→5 t→7
``spaced``      the two longest words (five letters or more) spelled with spaces
                between the letters ("b o m b s")

The first three are undone by the runtime's ``fold`` (NFKC, invisible characters,
confusables); ``leet`` and ``spaced`` are not (``normalize.py`` says why), so they
measure what a lexical model loses to them.  Nothing is random: the output depends on
the input rows only.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEAM = ROOT / "examples" / "data" / "team"
ENGLISH_FILES = ("harmful", "tricky_benign", "controls")

_WORD = re.compile(r"[A-Za-z]+")
_LEET = str.maketrans("aeiostAEIOST", "431057431057")
_HOMOGLYPH = str.maketrans("aceopxyACEOPXY", "асеорхуАСЕОРХУ")
_FULLWIDTH = {c: chr(c - 0x21 + 0xFF01) for c in range(0x21, 0x7F)
              if chr(c).isalnum()}


def zero_width(text: str) -> str:
    return _WORD.sub(lambda m: "".join(
        ch + ("\u200b" if i % 2 == 1 and i < len(m.group()) - 1 else "")
        for i, ch in enumerate(m.group())), text)


def fullwidth(text: str) -> str:
    return text.translate(_FULLWIDTH)


def homoglyph(text: str) -> str:
    return text.translate(_HOMOGLYPH)


def leet(text: str) -> str:
    return _WORD.sub(lambda m: m.group().translate(_LEET) if len(m.group()) >= 4
                     else m.group(), text)


def spaced(text: str) -> str:
    words = sorted({w for w in _WORD.findall(text) if len(w) >= 5},
                   key=lambda w: (-len(w), w))[:2]
    for w in words:
        text = re.sub(rf"\b{w}\b", " ".join(w), text)
    return text


METHODS: dict[str, Callable[[str], str]] = {
    "zero_width": zero_width,
    "fullwidth": fullwidth,
    "homoglyph": homoglyph,
    "leet": leet,
    "spaced": spaced,
}


def rows(split: str | None, team: Path = TEAM) -> Iterable[dict]:
    for stem in ENGLISH_FILES:
        with open(team / f"{stem}.jsonl", encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                if (split is None or row["split"] == split) and row["language"] == "en":
                    yield row


def variants(source: Iterable[dict], methods: Iterable[str] = METHODS) -> list[dict]:
    """Every row once per method whose output differs from the row's text."""
    out = []
    for row in source:
        for name in methods:
            text = METHODS[name](row["text"])
            if text != row["text"]:
                out.append(dict(row, id=f"{row['id']}-{name}", text=text, obfuscation=name))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--split", default="test", choices=["train", "test", "all"])
    ap.add_argument("--out", type=Path, default=None, help="output JSONL (default: stdout)")
    ap.add_argument("--method", action="append", choices=sorted(METHODS),
                    help="only these methods (repeatable; default: all)")
    args = ap.parse_args(argv)
    got = variants(rows(None if args.split == "all" else args.split), args.method or METHODS)
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in got)
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {len(got)} rows to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
