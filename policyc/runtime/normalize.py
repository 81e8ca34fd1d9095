"""Text normalization in front of detectors.

Attackers dodge keyword lists with invisible characters, fullwidth forms,
ligatures, Cyrillic/Greek look-alikes and stacked combining marks. Two
normal forms undo that:

- ``fold`` (keywords): NFKC, case folding, invisible characters removed,
  visual confusables mapped to Latin, stray combining diacritics removed;
- ``light`` (regex): NFKC and invisible characters removed only, so that
  case-sensitive patterns (``AKIA[0-9A-Z]{16}``) keep working.

Both are C-level string operations with an ASCII fast path. Mapping back to
the original text (needed only to redact spans) is done separately, by the
slower ``*_with_offsets`` functions, which produce the same strings.

Leetspeak (``p1pe b0mb``) is deliberately not folded: digits are not visual
confusables and folding them would hurt precision.

``fold_words`` is for models, not detectors: ``fold``, then digits read as letters
inside words that mix both (``b0mb`` -> ``bomb``, ``2024`` stays) and letters spelled
out with spaces joined (``b o m b`` -> ``bomb``). A lexical model loses such words
entirely; a keyword list would gain false matches from them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

__all__ = [
    "EXPANSION_SLACK",
    "MAX_EXPANSION",
    "NORMALIZATION_VERSION",
    "NormalizationLimitError",
    "WORDS_VERSION",
    "check_expansion",
    "fold",
    "fold_with_offsets",
    "fold_words",
    "fold_many",
    "light",
    "light_with_offsets",
    "span_to_original",
]

#: Bump when the tables below change: detector fingerprints include it, so a
#: bundle compiled with other tables is seen as changed.
NORMALIZATION_VERSION = 1
#: Bump when `fold_words`' own steps change (models record it, see `onnx_binding`).
WORDS_VERSION = 1


def _ranges(*items: int | tuple[int, int]) -> list[int]:
    out: list[int] = []
    for item in items:
        if isinstance(item, tuple):
            out.extend(range(item[0], item[1] + 1))
        else:
            out.append(item)
    return out


# Characters that render as nothing (or only steer rendering) and can be
# slipped inside a word: format controls, bidi controls, fillers, variation
# selectors and Unicode tag characters ("ASCII smuggling"). NFKC never
# produces one of these from another character (checked by the tests), so
# removing them before NFKC is enough.
_INVISIBLE = _ranges(
    0x00AD,  # soft hyphen
    0x034F,  # combining grapheme joiner
    0x061C,  # Arabic letter mark
    (0x115F, 0x1160),  # Hangul fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian variation selectors, vowel separator
    (0x200B, 0x200F),  # zero-width space/joiners, LRM, RLM
    (0x202A, 0x202E),  # bidi embeddings and overrides
    (0x2060, 0x2064),  # word joiner, invisible operators
    (0x2066, 0x206F),  # bidi isolates, deprecated format characters
    0x3164,  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    0xFEFF,  # zero-width no-break space / BOM
    0xFFA0,  # halfwidth Hangul filler
    (0x1D173, 0x1D17A),  # musical formatting
    (0xE0000, 0xE007F),  # tag characters
    (0xE0100, 0xE01EF),  # variation selectors supplement
)
_REMOVE_INVISIBLE: dict[int, None] = dict.fromkeys(_INVISIBLE)

# Combining diacritics left over after NFKC (NFKC composes every mark that
# has a precomposed form, so "é" or "ñ" survive): stacked "Zalgo" marks.
# Marks that are letters' vowel signs in other scripts are not in these
# blocks and are kept.
_COMBINING_DIACRITICS = _ranges(
    (0x0300, 0x036F), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F)
)

# Visual confusables -> Latin, applied after case folding (so capitals are
# covered by their small letters).
_CONFUSABLES = {
    # Cyrillic (the capitals look like Latin capitals, the small letters like
    # Latin small letters or small capitals)
    "а": "a", "в": "b", "с": "c", "ԁ": "d", "е": "e", "һн": "h", "і": "i", "ӏ": "l",
    "ј": "j", "к": "k", "м": "m", "о": "o", "р": "p", "ԛ": "q", "ѕ": "s", "т": "t",
    "уү": "y", "ԝѡ": "w", "х": "x", "ѵ": "v",
    # Greek
    "α": "a", "βϐ": "b", "ϲ": "c", "εϵ": "e", "ι": "i", "ϳ": "j", "κϰ": "k",
    "η": "n", "ο": "o", "ρϱ": "p", "τ": "t", "μυ": "u", "ν": "v", "ω": "w",
    "χ": "x", "γ": "y", "ζ": "z",
    # Armenian
    "օ": "o", "ս": "u", "ո": "n", "հ": "h",
    # Latin letters and small capitals that read as plain Latin letters
    "ɑᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ɡɢ": "g", "ʜ": "h",
    "ıɩɪ": "i", "ᴊ": "j", "ᴋ": "k", "ʟ": "l", "ᴍ": "m", "ɴ": "n", "ᴏ": "o",
    "ᴘ": "p", "ʀ": "r", "ꜱ": "s", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w",
    "ʏ": "y", "ᴢ": "z",
}
# Greek capitals that look unlike their small letter (Η is H, η reads as n):
# mapped before case folding.
_CAPITALS: dict[int, str | None] = {ord(c): latin for c, latin in zip("ΗΜΝΥ", "hmny", strict=True)}

_FOLD_TABLE: dict[int, str | None] = {
    ord(char): latin for chars, latin in _CONFUSABLES.items() for char in chars
}
_FOLD_TABLE.update(dict.fromkeys(_COMBINING_DIACRITICS))


def _char_class(code_points: Iterable[int]) -> re.Pattern[str]:
    """A regex for "any of these chars", written as ranges."""
    points = sorted(set(code_points))
    ranges: list[str] = []
    first = prev = points[0]
    for cp in [*points[1:], -1]:
        if cp != prev + 1:
            last = "-" + re.escape(chr(prev)) if prev > first else ""
            ranges.append(re.escape(chr(first)) + last)
            first = cp
        prev = cp
    return re.compile("[" + "".join(ranges) + "]")


# str.translate costs ~60 ns per non-ASCII char even when nothing maps, and a
# regex scan for a char class is ~10x cheaper: scan first, translate if needed.
_HAS_INVISIBLE = _char_class(_REMOVE_INVISIBLE)
_HAS_CAPITAL = _char_class(_CAPITALS)
_HAS_FOLDABLE = _char_class(_FOLD_TABLE)


def _remove_invisible(text: str) -> str:
    return _HAS_INVISIBLE.sub("", text)  # 3x faster than str.translate here


# --- expansion limit -------------------------------------------------------
#
# NFKC turns one char into up to 18 (U+FDFA, 3 UTF-8 bytes, becomes 33), and
# both NFKC and everything after it (the detectors' regexes, the offset map)
# cost time per byte of the *normal form*: 300 KB of U+FDFA took 10x longer
# than 1 MB of other text. So a text whose normal form would take more than
# MAX_EXPANSION x its UTF-8 bytes + EXPANSION_SLACK is not normalized at all:
# the normal forms raise NormalizationLimitError, which detectors report as a
# binding failure (the policy's `on_error` decides) and redaction answers by
# covering the whole text. Ordinary text, any language, does not grow in
# bytes; only text made mostly of symbols like "…" or "⑽" or of Arabic
# ligatures reaches 2x.

#: How many times more UTF-8 bytes than the text its normal form may take.
MAX_EXPANSION = 2
#: ... plus this many bytes, so that a short text may be all ligatures.
EXPANSION_SLACK = 256

# Blocks (code point >> 8) that hold every char whose NFKC form takes more
# UTF-8 bytes than the char (the tests check this against all of Unicode).
_EXPANDING_BLOCKS = (
    0x00, 0x01, 0x02, 0x03, 0x05, 0x06, 0x09, 0x0A, 0x0B, 0x0E, 0x0F, 0x1F, 0x20, 0x21,
    0x22, 0x24, 0x2A, 0x30, 0x32, 0x33, 0xFA, 0xFB, 0xFC, 0xFD, 0xFE, 0x1D1, 0x1F1, 0x1F2,
)


class NormalizationLimitError(ValueError):
    """The text's normal form would be too long to compute at a bounded cost per byte."""


def _utf8_growth(char: str) -> int:
    return len(unicodedata.normalize("NFKC", char).encode()) - len(char.encode())


def _utf8_sizes(cps: np.ndarray) -> np.ndarray:
    """UTF-8 bytes of each code point."""
    return 1 + (cps >= 0x80).astype(np.int64) + (cps >= 0x800) + (cps >= 0x10000)


#: Between the chars of `_expansion_table`'s one NFKC pass: a starter that NFKC keeps and
#: that composes with nothing (private use), outside `_EXPANDING_BLOCKS`.
_TABLE_SEP = "\ue000"


@lru_cache(maxsize=1)
def _expansion_table() -> tuple[re.Pattern[str], np.ndarray]:
    """A regex for the chars NFKC lengthens (in UTF-8), and by how many bytes per code point.

    Built on first use (~1 ms; the table takes 1.1 MB): one NFKC pass over every char of
    the blocks, each followed by `_TABLE_SEP`, so that each char's normal form is what
    lies before its separator (a test checks it against `_utf8_growth` char by char; the
    loop over 7,168 chars took 8 ms, paid by the first non-ASCII text of a process).
    """
    cps = np.concatenate([np.arange(b << 8, (b + 1) << 8) for b in _EXPANDING_BLOCKS])
    joined = _TABLE_SEP.join(map(chr, cps.tolist())) + _TABLE_SEP
    out = np.frombuffer(unicodedata.normalize("NFKC", joined).encode("utf-32-le"),
                        dtype=np.uint32)
    ends = np.flatnonzero(out == ord(_TABLE_SEP))
    if len(ends) != len(cps):  # pragma: no cover - a separator NFKC changed
        raise AssertionError("NFKC changed the expansion table's separator")
    total = np.cumsum(_utf8_sizes(out))
    sizes = total[ends] - np.concatenate(([0], total[ends[:-1]])) - 3  # less the separator
    grows = np.zeros(0x110000, dtype=np.uint8)
    grows[cps] = np.maximum(0, sizes - _utf8_sizes(cps))
    return _char_class(np.flatnonzero(grows).tolist()), grows


def check_expansion(text: str) -> None:
    """Raise `NormalizationLimitError` if ``text``'s NFKC form could exceed the limit.

    The estimate adds what NFKC adds char by char (composing across chars only
    shortens it; chars that shrink are not subtracted). Most texts hold no
    expanding char: one regex scan says so; the others are counted with numpy
    (a few ms per MB).
    """
    if len(text) <= EXPANSION_SLACK // 30:  # even all U+FDFA fits
        return
    pattern, grows = _expansion_table()
    if pattern.search(text) is None:
        return
    cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    size = len(text) + int(np.count_nonzero(cps >= 0x80) + np.count_nonzero(cps >= 0x800)
                           + np.count_nonzero(cps >= 0x10000))  # UTF-8 bytes
    grown = size + int(grows[cps].sum(dtype=np.int64))
    if grown > MAX_EXPANSION * size + EXPANSION_SLACK:
        raise NormalizationLimitError(
            f"text not normalized: its NFKC form would take about {grown:,} bytes, more than "
            f"{MAX_EXPANSION} times its {size:,} bytes (+{EXPANSION_SLACK}); such text (e.g. "
            "runs of U+FDFA) costs too much to match"
        )


def fold(text: str) -> str:
    """Normal form for keyword matching (see module docstring).

    Raises `NormalizationLimitError` if the normal form would be too long.
    """
    if text.isascii():
        return text.lower()
    check_expansion(text)
    text = unicodedata.normalize("NFKC", _remove_invisible(text))
    if _HAS_CAPITAL.search(text):
        text = text.translate(_CAPITALS)
    text = text.casefold()
    return text.translate(_FOLD_TABLE) if _HAS_FOLDABLE.search(text) else text


# fold_words: a word with a look-alike digit and a letter has those digits read as
# letters; three or more single letters or digits separated by single spaces are joined.
# Each step is guarded by a cheap necessary condition (a C-level set test, a regex with
# a literal prefix): the general regexes cost 1-4 us per short prompt on their own.
_LEET_CHARS = frozenset("013457")
# a whole run of word chars holding a look-alike digit: it starts at a run's first char
# and is greedy, so each match is a `\w+` run, and runs without such a digit never reach
# the Python callback
_LEET_WORD = re.compile(r"\b\w*[013457]\w*")
_HAS_LETTER = re.compile(r"[^\W\d_]")
_LEET_DIGITS = str.maketrans("013457", "oieast")
_SPACED_OUT = re.compile(r"(?<!\S)(?:[^\W_] ){2,}[^\W_](?!\S)")
# every match of _SPACED_OUT ends with " Y Z" (its last two letters, the second one not
# followed by a non-space)
_MAYBE_SPACED_OUT = re.compile(r" [^\W_] [^\W_](?!\S)")


def _unleet(match: re.Match[str]) -> str:
    word = match.group()
    if _HAS_LETTER.search(word) is None:
        return word
    return word.translate(_LEET_DIGITS)


def _unspace(match: re.Match[str]) -> str:
    return match.group().replace(" ", "")


def fold_words(text: str) -> str:
    """``fold``, then leetspeak and spaced-out letters undone.

    For models (see the module docstring). Raises `NormalizationLimitError` as
    ``fold`` does.
    """
    return _word_steps(fold(text))


def _word_steps(text: str) -> str:
    """What ``fold_words`` adds to ``fold``: look-alike digits in words, spaced letters."""
    if not _LEET_CHARS.isdisjoint(text):
        text = _LEET_WORD.sub(_unleet, text)
    if _MAYBE_SPACED_OUT.search(text) is not None:
        text = _SPACED_OUT.sub(_unspace, text)
    return text


# `fold_many` joins ASCII texts with this char: lower-casing leaves it, and the screen
# below never matches across it.
_UNIT = "\x1f"

# What a word step may change in ASCII text, as RE2 (linear, and it releases the GIL) can
# find it in a whole batch: a word holding both a look-alike digit and a letter, or what
# every spaced-out run ends with (`_MAYBE_SPACED_OUT`, ASCII whitespace spelled out). It
# runs on to the end of its text (or takes the separator after it, never more), so each
# text is found at most once and no match reaches into the next. A superset: the steps
# themselves decide.
_WORD_STEP_PATTERN = (
    rb"(?:[013457]\w*[A-Za-z]|[A-Za-z]\w*[013457]| [A-Za-z0-9] [A-Za-z0-9][\t-\r \x1c-\x1e])"
    rb"[^\x1f]*| [A-Za-z0-9] [A-Za-z0-9](?:\x1f|\z)")


@lru_cache(maxsize=1)
def _word_step_screen() -> Any:
    """`_WORD_STEP_PATTERN` compiled by RE2, or by `re` where RE2 is not installed (the
    model build tools' locked environment): the same matches, found more slowly."""
    try:
        import re2
    except ImportError:
        return re.compile(_WORD_STEP_PATTERN.replace(rb"\z", rb"\Z"))
    return re2.compile(_WORD_STEP_PATTERN)


def fold_many(texts: Sequence[str], words: bool = True) -> list[str]:
    """``[fold_words(t) for t in texts]`` (``fold`` without `words`), several times faster
    on a batch: the ASCII texts are joined by a separator that no step changes or looks
    across, lower-cased at once, and only those `_word_step_screen` finds take the word
    steps one by one; a text that is not ASCII is folded alone (and left out of the join:
    one such char would widen the whole joined string). Raises TypeError for a text that
    is not a str and `NormalizationLimitError` as ``fold`` does.
    """
    one = fold_words if words else fold
    joined = _UNIT.join(texts)  # TypeError for a non-str
    others: list[int] = []
    if not joined.isascii():
        others = [i for i, a in enumerate(map(str.isascii, texts)) if not a]
        plain = list(texts)
        for i in others:
            plain[i] = ""
        joined = _UNIT.join(plain)
    if len(texts) - len(others) < 2 or joined.count(_UNIT) != len(texts) - 1:
        return [one(t) for t in texts]  # few ASCII texts, or one holds the separator
    joined = joined.lower()
    out = joined.split(_UNIT)
    if words:
        data = joined.encode("ascii")
        found = [m.start() for m in _word_step_screen().finditer(data)]
        if found:
            ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 0x1F)  # but the last
            for i in set(np.searchsorted(ends, found).tolist()).difference(others):
                out[i] = _word_steps(out[i])
    for i in others:
        out[i] = one(texts[i])
    return out


def light(text: str) -> str:
    """Normal form for regex matching: returns ``text`` itself when ASCII.

    Raises `NormalizationLimitError` if the normal form would be too long.
    """
    if text.isascii():
        return text
    check_expansion(text)
    return unicodedata.normalize("NFKC", _remove_invisible(text))


# --- offsets ---------------------------------------------------------------

# Starters (combining class 0) that NFC can compose with a preceding
# character: Hangul vowel/trailing jamo and a few Indic/Brahmic vowel signs.
# Generated from the UCD (the tests regenerate and compare it).
_COMPOSING_STARTERS = frozenset(
    _ranges(
        (0x1161, 0x1175), (0x11A8, 0x11C2),
        0x09BE, 0x09D7, 0x0B3E, 0x0B56, 0x0B57, 0x0BBE, 0x0BD7, 0x0CC2, 0x0CD5,
        0x0CD6, 0x0D3E, 0x0D57, 0x0DCF, 0x0DDF, 0x0FB5, 0x0FB7, 0x102E, 0x1B35,
        0x11127, 0x1133E, 0x11357, 0x114B0, 0x114BA, 0x114BD, 0x115AF, 0x11930,
    )
)


@lru_cache(maxsize=1 << 14)  # bounded: attacker text may hold many distinct chars
def _starts_segment(char: str) -> bool:
    """True if normalization cannot combine ``char`` with what precedes it.

    Then the text can be cut before ``char`` and each piece normalized on
    its own, which is what makes a per-piece offset mapping exact.
    """
    if char < "\u0300":
        return True
    if ord(char) in _REMOVE_INVISIBLE:
        return False  # removed before NFKC, so it must not separate a mark from its base
    first = unicodedata.normalize("NFKD", char)[0]
    return (
        unicodedata.combining(char) == 0
        and unicodedata.combining(first) == 0
        and ord(char) not in _COMPOSING_STARTERS
        and ord(first) not in _COMPOSING_STARTERS
    )


def _with_offsets(
    text: str, normal: Callable[[str], str], normal_char: Callable[[str], str]
) -> tuple[str, list[int]]:
    """Normalize piece by piece (pieces cannot interact), recording where each came from.

    Loops run in C (``map``, numpy) except over pieces longer than one char,
    which are rare (combining sequences, invisible characters).
    """
    n = len(text)
    if text.isascii():
        return normal(text), list(range(n + 1))
    check_expansion(text)
    pieces = list(map(normal_char, text))
    starts = np.fromiter(map(_starts_segment, text), dtype=bool, count=n)
    starts[0] = True
    bounds = np.append(np.flatnonzero(starts), n)
    for j in np.flatnonzero(np.diff(bounds) > 1).tolist():
        a, b = int(bounds[j]), int(bounds[j + 1])
        pieces[a:b] = [normal(text[a:b])] + [""] * (b - a - 1)
    out, expected = "".join(pieces), normal(text)
    if out != expected:
        # Should not happen (property-tested); stay safe: everything maps to
        # the whole text, so a redaction over-covers rather than leaks.
        return expected, [0] * len(expected) + [n]
    lengths = np.fromiter(map(len, pieces), dtype=np.int64, count=n)
    return out, np.repeat(np.arange(n), lengths).tolist() + [n]


_fold_char = lru_cache(maxsize=1 << 14)(fold)
_light_char = lru_cache(maxsize=1 << 14)(light)


def fold_with_offsets(text: str) -> tuple[str, list[int]]:
    """``fold(text)`` plus, per folded char, its start index in ``text``.

    ``offsets[len(folded)] == len(text)``; offsets never decrease.
    """
    return _with_offsets(text, fold, _fold_char)


def light_with_offsets(text: str) -> tuple[str, list[int]]:
    """``light(text)`` plus offsets, as in ``fold_with_offsets``."""
    return _with_offsets(text, light, _light_char)


def span_to_original(offsets: list[int], start: int, end: int) -> tuple[int, int]:
    """Map a span of a normalized text back to the original text.

    The end is widened to the end of the original character that produced
    the span's last char, so a span never cuts a ligature or a combining
    sequence in half.
    """
    if start >= end:
        return offsets[start], offsets[start]
    last = offsets[end - 1]
    k = end
    while offsets[k] <= last:
        k += 1
    return offsets[start], offsets[k]
