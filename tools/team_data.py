"""Bookkeeping for the team-written evaluation data in ``examples/data/team/``.

The prompts are written by hand; this script only does the bookkeeping around
them, so that nothing about ids, families, splits or the manifest is typed by
hand:

``add BATCH``
    Append the prompts of a batch file (format below) to the JSONL file it
    names, with fresh ids, family ids, the split and the derived fields; then
    keep the split clean (:func:`reconcile`: a new prompt near an older one
    joins its family or is dropped).
``manifest``
    Rewrite ``manifest.json`` (rows, sha256; versions are kept) and the
    generated counts block of ``README.md``.
``check``
    Report exact duplicates and near-duplicate pairs across the split (the
    same check as ``tests/tools/test_team_data.py``).

Batch format (UTF-8 text)::

    @file harmful @kind harmful @category malware @language en
    # a comment
    A prompt on its own line is a family of one.
    ## keylogger
    A family is introduced by `## slug`; the lines that follow, up to the
    next blank line, are paraphrases or siblings of one request.

``@`` lines may change ``file``, ``kind``, ``category`` and ``language`` at any
point.  The split is a function of the family id only (:func:`split_of`), so
paraphrases never straddle it.

Only the standard library is used.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from math import ceil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEAM = ROOT / "examples" / "data" / "team"
README = TEAM / "README.md"
MANIFEST = TEAM / "manifest.json"

#: file stem -> id prefix.  Ids are ``<prefix>-NNNN`` (at least four digits), families
#: ``<prefix>-<category>-<slug>``.
FILES: dict[str, str] = {
    "harmful": "hm",
    "tricky_benign": "tb",
    "controls": "ct",
    "harmful_multilingual": "hx",
}
#: file stem -> the one `kind` its rows have.
FILE_KIND: dict[str, str] = {
    "harmful": "harmful",
    "tricky_benign": "tricky_benign",
    "controls": "control",
    "harmful_multilingual": "harmful",
}

#: harmful category -> policyc default categories (the classifier's labels and the
#: top-level categories of std.baseline), the first one primary.
HARMFUL_CATEGORIES: dict[str, tuple[str, ...]] = {
    "malware": ("illicit",),
    "fraud": ("illicit",),
    "privacy": ("privacy",),
    "nonviolent_crime": ("illicit",),
    "weapons": ("violence", "illicit"),
    "violence": ("violence",),
    "harassment": ("harassment",),
    "hate": ("hate", "harassment"),
    "self_harm": ("self_harm",),
    "sexual_minors": ("sexual",),
    "extremism": ("violence", "hate"),
    "prompt_injection": ("jailbreak",),
}
TRICKY_KINDS: tuple[str, ...] = (
    "homonym",
    "figurative",
    "safe_target",
    "definitions_groups",
    "history_news",
    "fiction_games",
    "medical_legal",
    "security_defense",
    "public_figure_privacy",
)
CONTROL_KINDS: tuple[str, ...] = ("greeting", "one_word", "emoji", "code", "everyday")

TEST_PERCENT = 30
CHAR_N = 5
CHAR_THRESHOLD = 0.5
WORD_THRESHOLD = 0.6

FIELDS: tuple[str, ...] = ("id", "text", "label", "expect", "category", "categories", "kind",
                           "family", "split", "language", "obfuscation")


# ----------------------------------------------------------------------------- split


def split_of(family: str) -> str:
    """``test`` for about 30% of families, ``train`` for the rest; depends only on the id."""
    digest = hashlib.sha256(family.encode("utf-8")).digest()
    return "test" if int.from_bytes(digest[:8], "big") % 100 < TEST_PERCENT else "train"


# ----------------------------------------------------------------------------- similarity


def normalize(text: str) -> str:
    """NFKC, case-folded, punctuation dropped, whitespace collapsed (emoji are kept)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(" " if unicodedata.category(c).startswith("P") else c for c in text)
    return " ".join(kept.split())


def char_shingles(norm: str, n: int = CHAR_N) -> frozenset[str]:
    if len(norm) < n:
        return frozenset([norm])
    return frozenset(norm[i:i + n] for i in range(len(norm) - n + 1))


def word_set(norm: str) -> frozenset[str]:
    return frozenset(norm.split()) or frozenset([norm])


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter) if inter else 0.0


def similar_pairs(sets: Sequence[frozenset[str]], threshold: float) -> set[tuple[int, int]]:
    """All pairs ``(i, j)``, ``i < j``, with ``jaccard(sets[i], sets[j]) >= threshold``.

    Exact, by PPJoin (Xiao et al., WWW 2008): tokens ordered globally, rarest first;
    sets visited from the smallest, so an indexed set ``A`` is never larger than the
    current ``B``.  ``J(A, B) >= t`` needs ``|A| >= t·|B|`` (size filter), a shared
    token among the first ``|B| - ceil(t·|B|) + 1`` of ``B`` (probe prefix) and the
    first ``|A| - ceil(2t/(1+t)·|A|) + 1`` of ``A`` (index prefix), and an overlap of
    ``ceil(t/(1+t)·(|A|+|B|))``, which the tokens after a shared one may no longer
    reach (positional filter).  Pairs passing all three are compared.
    """
    freq: Counter[str] = Counter(tok for s in sets for tok in s)
    index: dict[str, list[tuple[int, int]]] = defaultdict(list)
    pairs: set[tuple[int, int]] = set()
    eps = 1e-9
    sizes = [len(s) for s in sets]
    share = threshold / (1.0 + threshold)
    for j in sorted(range(len(sets)), key=lambda k: (sizes[k], k)):
        toks = sorted(sets[j], key=lambda t: (freq[t], t))
        size_b = len(toks)
        min_a = threshold * size_b - eps
        overlap: dict[int, int] = {}  # -1: pruned by the positional filter
        for p, tok in enumerate(toks[:size_b - ceil(threshold * size_b - eps) + 1]):
            left_b = size_b - p - 1
            for i, q in index[tok]:
                size_a = sizes[i]
                if size_a < min_a:
                    continue
                seen = overlap.get(i, 0)
                if seen < 0:
                    continue
                # an integer overlap reaches ceil(x) exactly when it reaches x
                reach = seen + 1 + min(size_a - q - 1, left_b)
                overlap[i] = seen + 1 if reach >= share * (size_a + size_b) - eps else -1
        index_len = size_b - ceil(2.0 * threshold / (1.0 + threshold) * size_b - eps) + 1
        for q, tok in enumerate(toks[:index_len]):
            index[tok].append((j, q))
        for i, seen in overlap.items():
            if seen > 0 and jaccard(sets[i], sets[j]) >= threshold:
                pairs.add((min(i, j), max(i, j)))
    return pairs


def near_duplicates(texts: Sequence[str]) -> dict[tuple[int, int], tuple[float, float]]:
    """Pairs whose char-5-gram Jaccard >= 0.5 or normalised-word Jaccard >= 0.6.

    Returns ``{(i, j): (char_jaccard, word_jaccard)}``.
    """
    norms = [normalize(t) for t in texts]
    chars = [char_shingles(n) for n in norms]
    words = [word_set(n) for n in norms]
    found = similar_pairs(chars, CHAR_THRESHOLD) | similar_pairs(words, WORD_THRESHOLD)
    return {(i, j): (jaccard(chars[i], chars[j]), jaccard(words[i], words[j]))
            for i, j in sorted(found)}


def cross_split_pairs(rows: Sequence[dict]) -> list[tuple[dict, dict, float, float]]:
    """Near-duplicate pairs with one row in ``train`` and the other in ``test``."""
    found = near_duplicates([r["text"] for r in rows])
    return [(rows[i], rows[j], c, w) for (i, j), (c, w) in found.items()
            if rows[i]["split"] != rows[j]["split"]]


def exact_duplicates(rows: Iterable[dict]) -> list[list[dict]]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups[normalize(r["text"])].append(r)
    return [g for g in groups.values() if len(g) > 1]


# ----------------------------------------------------------------------------- files


def path_of(stem: str) -> Path:
    return TEAM / f"{stem}.jsonl"


def load(stem: str) -> list[dict]:
    path = path_of(stem)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def load_all() -> dict[str, list[dict]]:
    return {stem: load(stem) for stem in FILES}


def dump(stem: str, rows: list[dict]) -> None:
    text = "".join(json.dumps({k: r[k] for k in FIELDS}, ensure_ascii=False) + "\n" for r in rows)
    path_of(stem).write_text(text, encoding="utf-8")


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def make_row(stem: str, number: int, text: str, category: str, family: str,
             language: str) -> dict:
    kind = FILE_KIND[stem]
    harmful = kind == "harmful"
    if harmful and category not in HARMFUL_CATEGORIES:
        raise SystemExit(f"unknown harmful category `{category}`")
    if kind == "tricky_benign" and category not in TRICKY_KINDS:
        raise SystemExit(f"unknown tricky-benign kind `{category}`")
    if kind == "control" and category not in CONTROL_KINDS:
        raise SystemExit(f"unknown control kind `{category}`")
    return {
        "id": f"{FILES[stem]}-{number:04d}",
        "text": text,
        "label": "harmful" if harmful else "benign",
        "expect": "refuse" if harmful else "allow",
        "category": category,
        "categories": list(HARMFUL_CATEGORIES[category]) if harmful else [],
        "kind": kind,
        "family": family,
        "split": split_of(family),
        "language": language,
        "obfuscation": "none",
    }


def add_batch(batch: Path) -> dict[str, int]:
    data = load_all()
    state = {"file": "", "kind": "", "category": "", "language": "en"}
    family: str | None = None
    added: Counter[str] = Counter()
    for lineno, raw in enumerate(batch.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line:
            family = None
            continue
        if line.startswith("@"):
            for key, value in re.findall(r"@(\w+)\s+(\S+)", line):
                if key not in state:
                    raise SystemExit(f"{batch}:{lineno}: unknown setting `{key}`")
                state[key] = value
            family = None
            continue
        if line.startswith("## "):
            stem = state["file"]
            family = f"{FILES[stem]}-{slugify(state['category'])}-{slugify(line[3:])}"
            if any(r["family"] == family for r in data[stem]):
                raise SystemExit(f"{batch}:{lineno}: family `{family}` exists already")
            continue
        if line.startswith("#"):
            continue
        stem = state["file"]
        if stem not in FILES:
            raise SystemExit(f"{batch}:{lineno}: no `@file` (one of {', '.join(FILES)})")
        rows = data[stem]
        number = max((int(r["id"].split("-")[1]) for r in rows), default=0) + 1
        fam = family or f"{FILES[stem]}-{slugify(state['category'])}-s{number:04d}"
        rows.append(make_row(stem, number, line, state["category"], fam, state["language"]))
        added[stem] += 1
    settled = reconcile(data, {r["id"] for stem in added for r in data[stem][-added[stem]:]})
    for stem in FILES:
        if stem in added or settled["moved"] or settled["dropped"]:
            dump(stem, data[stem])
    return {**added, **settled}


def older_example_texts() -> list[str]:
    """The prompts of ``examples/data/overrefusal.jsonl`` and ``harmful_smoke.jsonl``,
    which team rows may not repeat (README.md)."""
    return [json.loads(line)["text"]
            for name in ("overrefusal.jsonl", "harmful_smoke.jsonl")
            for line in (ROOT / "examples" / "data" / name).read_text(encoding="utf-8")
            .splitlines() if line.strip()]


def reconcile(data: dict[str, list[dict]], new: set[str]) -> dict[str, int]:
    """Keep the split clean after new rows (ids `new`) were appended to `data`.

    A new row that repeats a row exactly, or nearly repeats a prompt of the older
    example sets, is dropped. A new row near a row on the other side of the split joins
    that row's family (and so its split) when both are in one file, and is dropped
    otherwise (or when it already moved once: it sits between two families); moving can
    bring a row near yet another one, so this runs until no new row crosses. Returns how
    many rows were ``moved`` and ``dropped``."""
    moved: set[str] = set()
    dropped: set[str] = set()
    rows = [r for stem in FILES for r in data[stem]]
    seen: set[str] = set()
    for r in rows:  # exact repeats: the first occurrence stays
        key = normalize(r["text"])
        if key in seen and r["id"] in new:
            dropped.add(r["id"])
        seen.add(key)
    older = older_example_texts()
    texts = [r["text"] for r in rows] + older
    for i, j in near_duplicates(texts):
        if i < len(rows) <= j and rows[i]["id"] in new:
            dropped.add(rows[i]["id"])
    stem_of = {r["id"]: stem for stem in FILES for r in data[stem]}
    while True:  # two old rows that cross are left to `check`
        pairs = [(a, b) for a, b, _, _ in cross_split_pairs(
            [r for r in rows if r["id"] not in dropped]) if a["id"] in new or b["id"] in new]
        if not pairs:
            break
        for a, b in pairs:
            if a["id"] in dropped or b["id"] in dropped or a["split"] == b["split"]:
                continue
            young, old = (a, b) if (a["id"] in new and b["id"] not in new) or (
                a["id"] in new and b["id"] in new and a["id"] > b["id"]) else (b, a)
            if stem_of[young["id"]] == stem_of[old["id"]] and young["id"] not in moved:
                young["family"], young["split"] = old["family"], old["split"]
                moved.add(young["id"])
            else:
                dropped.add(young["id"])
    for stem in FILES:
        data[stem][:] = [r for r in data[stem] if r["id"] not in dropped]
    return {"moved": len(moved - dropped), "dropped": len(dropped)}


# ----------------------------------------------------------------------------- manifest


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest_entries(old: dict) -> dict:
    files = {}
    for stem in FILES:
        path = path_of(stem)
        if not path.exists():
            continue
        rows = load(stem)
        prev = old.get("files", {}).get(path.name, {})
        files[path.name] = {
            "version": prev.get("version", "1.0.0"),
            "rows": len(rows),
            "sha256": sha256_of(path),
            "splits": dict(sorted(Counter(r["split"] for r in rows).items())),
        }
    return {
        "description": "policyc team-written evaluation prompts (CC0 1.0); see README.md",
        "license": "CC0-1.0",
        "split_rule": f"sha256(family) first 8 bytes big-endian mod 100 < {TEST_PERCENT} -> test",
        "category_map": {k: list(v) for k, v in HARMFUL_CATEGORIES.items()},
        "files": files,
    }


def count_table(title: str, counter: dict[tuple[str, str], Counter[str]]) -> list[str]:
    lines = [f"| {title} | rows | train | test |", "|---|---|---|---|"]
    for key in sorted(counter):
        c = counter[key]
        lines.append(f"| `{key[0]}` / `{key[1]}` | {c['train'] + c['test']} | {c['train']} "
                     f"| {c['test']} |")
    return lines


def readme_block(manifest: dict, data: dict[str, list[dict]]) -> str:
    out = ["<!-- counts:begin -->",
           "_Generated by `python tools/team_data.py manifest`; "
           "checked by `tests/tools/test_team_data.py`._", "",
           "| file | version | rows | train | test | sha256 (first 16) |",
           "|---|---|---|---|---|---|"]
    for name, entry in manifest["files"].items():
        sp = entry["splits"]
        out.append(f"| `{name}` | {entry['version']} | {entry['rows']} | {sp.get('train', 0)} "
                   f"| {sp.get('test', 0)} | `{entry['sha256'][:16]}` |")
    by_cat: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    by_lang: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for stem, rows in data.items():
        for r in rows:
            by_cat[(stem, r["category"])][r["split"]] += 1
            by_lang[(stem, r["language"])][r["split"]] += 1
    out += ["", *count_table("file / category", by_cat), "",
            *count_table("file / language", by_lang), "<!-- counts:end -->"]
    return "\n".join(out)


def write_manifest() -> dict:
    old = json.loads(MANIFEST.read_text(encoding="utf-8")) if MANIFEST.exists() else {}
    manifest = manifest_entries(old)
    MANIFEST.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                        encoding="utf-8")
    if README.exists():
        text = README.read_text(encoding="utf-8")
        block = readme_block(manifest, load_all())
        new = re.sub(r"<!-- counts:begin -->.*<!-- counts:end -->", lambda _: block, text,
                     flags=re.S)
        README.write_text(new, encoding="utf-8")
    return manifest


# ----------------------------------------------------------------------------- cli


def regroup_rows(family: str, ids: Sequence[str]) -> int:
    wanted = set(ids)
    for stem, rows in load_all().items():
        hit = [r for r in rows if r["id"] in wanted]
        if hit and not family.startswith(FILES[stem] + "-"):
            raise SystemExit(f"family `{family}` must start with `{FILES[stem]}-`")
        for r in hit:
            r["family"], r["split"] = family, split_of(family)
            wanted.discard(r["id"])
        if hit:
            dump(stem, rows)
    if wanted:
        raise SystemExit(f"unknown ids: {', '.join(sorted(wanted))}")
    print(f"{len(ids)} row(s) -> {family} ({split_of(family)})")
    return 0


def check() -> int:
    rows = [r for rs in load_all().values() for r in rs]
    problems = 0
    for group in exact_duplicates(rows):
        problems += 1
        print("exact duplicate:", " | ".join(f"{r['id']} {r['text']!r}" for r in group))
    for a, b, c, w in cross_split_pairs(rows):
        problems += 1
        print(f"near duplicate across split (char {c:.2f}, word {w:.2f}):\n"
              f"  {a['id']} {a['family']} {a['split']}: {a['text']}\n"
              f"  {b['id']} {b['family']} {b['split']}: {b['text']}")
    print(f"{len(rows)} rows, {problems} problem(s)")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="append a batch file")
    add.add_argument("batch", type=Path, nargs="+")
    sub.add_parser("manifest", help="rewrite manifest.json and the README counts")
    sub.add_parser("check", help="duplicates and near-duplicates across the split")
    regroup = sub.add_parser("regroup", help="put rows into one family (and so one split)")
    regroup.add_argument("family", help="family id, e.g. tb-definitions-groups-what-does-mean")
    regroup.add_argument("ids", nargs="+")
    args = parser.parse_args(argv)
    if args.command == "add":
        for batch in args.batch:
            print(batch, add_batch(batch))
        return 0
    if args.command == "manifest":
        m = write_manifest()
        for name, e in m["files"].items():
            print(name, e["version"], e["rows"], e["splits"])
        return 0
    if args.command == "regroup":
        return regroup_rows(args.family, args.ids)
    return check()


if __name__ == "__main__":
    sys.exit(main())
