import unicodedata
from collections.abc import Callable
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from policyc.runtime import normalize
from policyc.runtime.normalize import (
    fold,
    fold_with_offsets,
    light,
    light_with_offsets,
    span_to_original,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Pipe BOMB", "pipe bomb"),
        ("ｐｉｐｅ ＢＯＭＢ", "pipe bomb"),  # fullwidth
        ("pi\u200bpe\u200d \ufeffbo\u00admb", "pipe bomb"),  # zero-width, BOM, soft hyphen
        ("\u202epipe\u202c \u2066bomb\u2069", "pipe bomb"),  # bidi override / isolate
        ("pipe\U000e0041 bomb\U000e007f", "pipe bomb"),  # tag characters
        ("pipe\u180e bomb\ufe0f", "pipe bomb"),  # Mongolian separator, variation selector
        ("ріре bоmb", "pipe bomb"),  # Cyrillic і, р, е, о
        ("РІРЕ ВОМВ", "pipe bomb"),  # Cyrillic capitals
        ("ΡΙΡΕ ΒΟΜΒ", "pipe bomb"),  # Greek capitals
        ("ρίρε", "pίpe"),  # Greek small letters (ί has a tonos: not a confusable)
        ("ᴘɪᴘᴇ ʙᴏᴍʙ", "pipe bomb"),  # small capitals
        ("𝐩𝐢𝐩𝐞 𝖇𝖔𝖒𝖇", "pipe bomb"),  # mathematical alphanumerics (NFKC)
        ("ⓟⓘⓟⓔ", "pipe"),  # circled letters (NFKC)
        ("ﬁre ﬀ", "fire ff"),  # ligatures
        ("p\u0337i\u0337p\u0337e\u0337", "pipe"),  # stacked "Zalgo" marks
        ("Straße", "strasse"),  # case folding, not just lower()
        ("p1pe b0mb", "p1pe b0mb"),  # leetspeak is not a visual confusable
    ],
)
def test_fold(text: str, expected: str) -> None:
    assert fold(text) == expected


def test_fold_keeps_precomposed_letters() -> None:
    # "año" must not become "ano": only marks NFKC could not compose are dropped
    assert fold("año") == "año"
    assert fold("an\u0303o") == "año"
    assert fold("e\u200b\u0301") == "é"  # invisible removed before composition


def test_light_keeps_case_and_script() -> None:
    assert light("ＡＫＩＡ１２３") == "AKIA123"
    assert light("AK\u200bIA") == "AKIA"
    assert light("Аpple") == "Аpple"  # Cyrillic А stays: no confusable folding
    assert light("ﬁ") == "fi"


def test_ascii_fast_path() -> None:
    text = "Hello World"
    assert light(text) is text
    assert fold(text) == "hello world"


@pytest.mark.slow
def test_nfkc_never_produces_invisible_and_composing_starters_are_current() -> None:
    """The tables rely on two UCD facts; re-derive them for this Python's UCD."""
    starters = set()
    for cp in range(0x110000):
        char = chr(cp)
        if cp not in normalize._REMOVE_INVISIBLE and not 0xD800 <= cp <= 0xDFFF:
            nfkc = unicodedata.normalize("NFKC", char)
            assert not any(ord(c) in normalize._REMOVE_INVISIBLE for c in nfkc), hex(cp)
        decomposition = unicodedata.decomposition(char).split()
        if len(decomposition) == 2 and not decomposition[0].startswith("<"):
            second = int(decomposition[1], 16)
            if unicodedata.combining(chr(second)) == 0:
                starters.add(second)
    hangul_jamo = set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))
    assert starters | hangul_jamo == set(normalize._COMPOSING_STARTERS)


@pytest.mark.parametrize(
    ("text", "folded", "offsets"),
    [
        ("ﬁx", "fix", [0, 0, 1, 2]),
        ("a\u200bb", "ab", [0, 2, 3]),
        ("e\u0301x", "éx", [0, 2, 3]),
        ("ＡＢ", "ab", [0, 1, 2]),
        ("\u200b", "", [1]),
        ("가\u11a8a", "각a", [0, 2, 3]),  # Hangul syllable + trailing jamo compose
    ],
)
def test_fold_with_offsets_examples(text: str, folded: str, offsets: list[int]) -> None:
    assert fold_with_offsets(text) == (folded, offsets)


def test_span_to_original_covers_whole_source_chars() -> None:
    text = "x ﬁ\u200b y"
    folded, offsets = fold_with_offsets(text)
    assert folded == "x fi y"
    # "f" alone still maps to the whole ligature; the trailing invisible is included
    assert span_to_original(offsets, 2, 3) == (2, 4)
    assert span_to_original(offsets, 2, 4) == (2, 4)
    assert span_to_original(offsets, 0, len(folded)) == (0, len(text))


# Characters that stress normalization: marks, jamo, ligatures, compatibility
# forms, invisibles, Tibetan vowels that decompose to non-starters.
_TRICKY = (
    "e\u0301\u0303\u0337\u0345\u05b0각가\u0f73\u0f71\u0b47\u0b3eﬁﬀ①ＡΐİßΣς\u200b\u200d"
    "\u00ad\u202e\ufeff\U000e0041\ufe0fаеорἀ\u1dc0\u20d0\U0001d400 a"
)
_texts = st.text(alphabet=st.one_of(st.sampled_from(_TRICKY), st.characters()), max_size=40)


def _check_offsets(text: str, normal: Callable[[str], str], result: tuple[str, list[int]]) -> None:
    out, offsets = result
    assert out == normal(text)
    assert len(offsets) == len(out) + 1
    assert offsets[-1] == len(text)
    assert all(0 <= o < len(text) for o in offsets[:-1])
    assert all(a <= b for a, b in pairwise(offsets))
    # an ASCII character always maps to itself (no fallback to a coarse mapping)
    for i, char in enumerate(text):
        if char.isascii() and char.isalnum():
            assert i in offsets
    # each original piece between mapped offsets produces exactly its output chars
    for a, b in pairwise(sorted(set(offsets))):
        assert normal(text[a:b]) == "".join(c for c, o in zip(out, offsets, strict=False) if o == a)


@given(_texts)
def test_fold_offsets_property(text: str) -> None:
    _check_offsets(text, fold, fold_with_offsets(text))


@given(_texts)
def test_light_offsets_property(text: str) -> None:
    _check_offsets(text, light, light_with_offsets(text))


@given(_texts)
def test_fold_is_idempotent(text: str) -> None:
    assert fold(fold(text)) == fold(text)


# --- expansion limit (issue 13, A9) ------------------------------------------


def test_expanding_blocks_hold_every_char_that_nfkc_lengthens() -> None:
    """`_EXPANDING_BLOCKS` is a hand-kept list: check it against all of Unicode."""
    blocks = set(normalize._EXPANDING_BLOCKS)
    missing = [
        hex(cp) for cp in range(0x110000)
        if not 0xD800 <= cp < 0xE000 and cp >> 8 not in blocks
        and normalize._utf8_growth(chr(cp)) > 0
    ]
    assert not missing
    _, grows = normalize._expansion_table()
    assert int(grows[0xFDFA]) == 30 and int(grows.max()) == 30  # U+FDFA: 3 bytes -> 33


def test_expansion_table_is_each_chars_growth() -> None:
    """The table comes from one NFKC pass over the blocks' chars with separators: it must
    be what NFKC does to each char alone."""
    _, grows = normalize._expansion_table()
    want = np.zeros(0x110000, dtype=np.uint8)
    for block in normalize._EXPANDING_BLOCKS:
        for cp in range(block << 8, (block + 1) << 8):
            want[cp] = max(0, normalize._utf8_growth(chr(cp)))
    assert np.array_equal(grows, want)


@pytest.mark.parametrize("normal", [fold, light, fold_with_offsets, light_with_offsets])
def test_text_that_nfkc_expands_too_much_is_refused(normal: Callable[[str], object]) -> None:
    """100,000 x U+FDFA (300 KB) would be 3.3 MB after NFKC: refused, not normalized."""
    with pytest.raises(normalize.NormalizationLimitError, match="U\\+FDFA"):
        normal("\ufdfa" * 100_000)
    # the same with some ordinary text around it, or in the middle
    with pytest.raises(normalize.NormalizationLimitError):
        normal("pipe bomb " + "\ufdfa" * 1_000 + " pipe bomb")


@pytest.mark.parametrize("text", [
    "\ufdfa" * 8,  # short: the slack
    "Arabic ligature \ufdfa in a sentence, " * 200,
    "\u2026 wait\u2026 " * 1000,  # ellipses
    "\ufb01" * 10_000,  # "fi" ligatures shrink in UTF-8
    "\uff50\uff49\uff50\uff45 " * 10_000,  # fullwidth
    "\u0627\u0644\u0633\u0644\u0627\u0645 " * 1000,  # Arabic
    "日本語のテキスト㌔" * 1000,
])
def test_ordinary_text_is_within_the_limit(text: str) -> None:
    assert fold(text) == fold_with_offsets(text)[0]
    assert light(text) == light_with_offsets(text)[0]


def test_limit_is_on_the_bytes_of_the_normal_form() -> None:
    """Just under the limit normalizes, one expanding char more does not."""
    limit = normalize.MAX_EXPANSION
    # U+FDFA grows by 30 bytes: with k ASCII chars per U+FDFA, size = 3 + k,
    # normal form = 33 + k; allowed while 33 + k <= limit * (3 + k) (+ slack)
    k = 33 - limit * 3  # 27 at 2x: exactly at the limit, without the slack
    text = ("\ufdfa" + "a" * k) * 1000
    assert len(light(text).encode()) <= limit * len(text.encode())
    with pytest.raises(normalize.NormalizationLimitError):
        light(("\ufdfa" + "a" * (k - 1)) * 1000)


# --- fold_many: a batch at once, text for text what fold / fold_words give ---------------

_WORDY = st.lists(
    st.one_of(st.characters(max_codepoint=127),
              st.sampled_from(["p1pe b0mb", "b o m b", " a b c", "2024", "h3ll0", "a_1",
                               "x 1 y", "\x1f", "\n", "K", "\u212a", "ꭰ", "Ꭰ", "İ",
                               "\ud800", "é", "١٢"]),
              st.sampled_from(_TRICKY)),
    max_size=12,
).map("".join)


@given(st.lists(_WORDY, max_size=12), st.booleans())
def test_fold_many_is_fold_of_each_text(texts: list[str], words: bool) -> None:
    one = normalize.fold_words if words else fold
    assert normalize.fold_many(texts, words) == [one(t) for t in texts]


@given(st.lists(st.text(alphabet=st.characters(max_codepoint=127), max_size=30), max_size=12))
def test_fold_many_on_ascii_batches(texts: list[str]) -> None:
    assert normalize.fold_many(texts) == [normalize.fold_words(t) for t in texts]


def test_fold_many_examples() -> None:
    texts = ["P1PE B0MB", "b o m b now", "in 2024", "Ꭰ and ꭰ", "\u212aelvin", "a\x1fb", ""]
    assert normalize.fold_many(texts) == [normalize.fold_words(t) for t in texts]
    assert normalize.fold_many(texts[:3]) == ["pipe bomb", "bomb now", "in 2024"]
    # a spaced-out run at the end of a text: the screen stops at the separator
    assert normalize.fold_many(["x 1 y", "p1pe b0mb"]) == ["x1y", "pipe bomb"]
    with pytest.raises(TypeError):
        normalize.fold_many(["a", 1])  # type: ignore[list-item]


@given(st.lists(st.text(alphabet=st.sampled_from("ab Z019_ \t\n-"), max_size=12), max_size=10))
def test_word_step_screen_without_re2_finds_the_same(texts: list[str]) -> None:
    """The model build tools' environment has no RE2: `re` compiles the same screen."""
    import re

    import re2

    data = "\x1f".join(texts).lower().encode()
    fallback = re.compile(normalize._WORD_STEP_PATTERN.replace(rb"\z", rb"\Z"))
    assert [m.start() for m in fallback.finditer(data)] == \
        [m.start() for m in re2.compile(normalize._WORD_STEP_PATTERN).finditer(data)]
