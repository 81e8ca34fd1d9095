import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policyc.runtime.detectors import (
    AsciiScreen,
    Claimed,
    DetectorError,
    KeywordDetector,
    RegexDetector,
    redact,
)

ROOT = Path(__file__).resolve().parents[2]
EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
CARD = r"\b\d(?:[ -]?\d){12,18}\b"
WEAPONS = KeywordDetector(["pipe bomb", "ghost gun"])


@pytest.mark.parametrize(
    "text",
    [
        "how to make a pipe bomb",
        "HOW TO MAKE A PIPE BOMB?",
        "pi\u200dpe bomb",  # zero-width joiner
        "pi\u00adpe bo\u00admb",  # soft hyphens
        "ｐｉｐｅ ｂｏｍｂ",  # fullwidth
        "pipе bomb",  # Cyrillic е
        "ріре bоmb",  # Cyrillic і, р, е, о
        "ᴘɪᴘᴇ ʙᴏᴍʙ",  # small capitals
        "𝐩𝐢𝐩𝐞 𝐛𝐨𝐦𝐛",  # mathematical bold
        "p̷i̷p̷e̷ bomb",  # stacked combining marks
        "pipe\u00a0bomb",  # no-break space
        "pipe \n\t bomb",  # any whitespace run
        "\u202epipe bomb\u202c",  # bidi override
        "(pipe bomb)",
        "a ghost gun.",
    ],
)
def test_keyword_variants_are_caught(text: str) -> None:
    assert WEAPONS.score(text) == 1.0
    assert WEAPONS.spans(text)


@pytest.mark.parametrize(
    "text",
    [
        "pipeline bombastic",
        "the pipes bombed",
        "a pipe and a bomb calorimeter",
        "p1pe b0mb",  # leetspeak is not folded
        "pipebomb",
        "ghostgun",
        "how do I bake a chocolate cake?",
        "",
    ],
)
def test_benign_text_is_not_matched(text: str) -> None:
    assert WEAPONS.score(text) == 0.0
    assert WEAPONS.spans(text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Build a ｐｉｐｅ ｂｏｍｂ now", "Build a [REDACTED] now"),
        ("x pi\u200dpe bomb y", "x [REDACTED] y"),
        ("Да, ріре bоmb!", "Да, [REDACTED]!"),
        ("pipe bomb pipe bomb", "[REDACTED] [REDACTED]"),
        ("ghost gun,pipe bomb", "[REDACTED],[REDACTED]"),
    ],
)
def test_keyword_redaction_maps_to_original(text: str, expected: str) -> None:
    assert redact(text, WEAPONS.spans(text)) == expected


def test_keyword_boundaries_are_unicode_aware() -> None:
    bomb = KeywordDetector(["bomb"])
    assert bomb.spans("ébomb") == []  # é is a letter: no word boundary
    assert bomb.spans("-bomb-") == [(1, 5)]
    assert bomb.spans("bomb_") == []
    # scripts without spaces need no boundary
    assert KeywordDetector(["炸弹"]).spans("如何制作炸弹") == [(4, 6)]


def test_keyword_longest_and_adjacent_matches() -> None:
    detector = KeywordDetector(["bomb", "pipe bomb", "c++", "java", "$"])
    assert detector.spans("a pipe bomb") == [(2, 11)]
    # keywords ending/starting in punctuation: the next keyword may touch them
    assert detector.spans("c++java $$") == [(0, 3), (3, 7), (8, 9), (9, 10)]


def test_keyword_ligature_span_covers_whole_char() -> None:
    fire = KeywordDetector(["open fire"])
    assert redact("they open ﬁre now", fire.spans("they open ﬁre now")) == "they [REDACTED] now"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mail john.doe@example.com, or jane@example.org.", "Mail [X], or [X]."),
        ("Mail ｊｏｈｎ＠ｅｘａｍｐｌｅ．ｃｏｍ today", "Mail [X] today"),  # fullwidth
        ("Почта: jo\u200bhn@example.com!", "Почта: [X]!"),  # zero width inside
        ("日本語 a@b.co 日本語", "日本語 [X] 日本語"),
    ],
)
def test_regex_redaction_removes_exactly_the_pii(text: str, expected: str) -> None:
    email = RegexDetector(EMAIL)
    assert redact(text, email.spans(text), "[X]") == expected
    assert email.score(text) == 1.0


def test_regex_is_case_sensitive_on_light_text() -> None:
    aws = RegexDetector(r"AKIA[0-9A-Z]{16}")
    assert aws.score("key AKIAIOSFODNN7EXAMPLE") == 1.0
    assert aws.score("key ＡＫＩＡＩＯＳＦＯＤＮＮ７ＥＸＡＭＰＬＥ") == 1.0
    assert aws.score("key akiaiosfodnn7example") == 0.0


def test_regex_validator_filters_matches() -> None:
    card = RegexDetector(CARD, validator="luhn")
    text = "Привет, 4111 1111 1111 1112 и 4111 1111 1111 1111!"
    assert card.spans(text) == [(text.index("4111 1111 1111 1111"), len(text) - 1)]
    assert card.score(text) == 1.0
    assert card.score("order 4111 1111 1111 1112") == 0.0
    assert RegexDetector(CARD).score("order 4111 1111 1111 1112") == 1.0


@pytest.mark.parametrize(
    ("pattern", "validator", "message"),
    [
        (r"(?=a)b", None, "not supported by RE2"),
        (r"(a)\1", None, "not supported by RE2"),
        (r"a\Z", None, "invalid escape sequence"),
        (r"a*", None, "empty string"),
        (r"\b", None, "empty string"),
        (r"\d+", "bogus", "unknown validator 'bogus'; known: iban, ipv4"),
    ],
)
def test_regex_errors(pattern: str, validator: str | None, message: str) -> None:
    with pytest.raises(DetectorError) as info:
        RegexDetector(pattern, validator)
    assert message in str(info.value)


@pytest.mark.parametrize("keywords", [[], [""], ["\u200b"], "pipe bomb"])
def test_keyword_errors(keywords: list[str]) -> None:
    with pytest.raises(DetectorError):
        KeywordDetector(keywords)


def test_lone_surrogates_do_not_crash() -> None:
    # str from JSON may hold lone surrogates ("\ud800"); a guardrail must not raise
    text = "\ud800 pipe bomb \udfff a@b.co"
    assert redact(text, WEAPONS.spans(text)) == "\ud800 [REDACTED] \udfff a@b.co"
    assert RegexDetector(EMAIL).spans(text) == [(len(text) - 6, len(text))]


def test_kind_and_fingerprint() -> None:
    regex, keywords = RegexDetector(EMAIL), KeywordDetector(["Pipe Bomb", "ghost gun"])
    assert (regex.kind, keywords.kind) == ("regex", "keywords")
    fingerprints = {
        regex.fingerprint(),
        RegexDetector(EMAIL, "luhn").fingerprint(),
        RegexDetector(EMAIL + "x").fingerprint(),
        keywords.fingerprint(),
        KeywordDetector(["pipe bomb"]).fingerprint(),
    }
    assert len(fingerprints) == 5
    assert all(len(f) == 64 for f in fingerprints)
    assert regex.fingerprint() == RegexDetector(EMAIL).fingerprint()
    # same keyword set after folding: same behaviour, same fingerprint
    assert keywords.fingerprint() == KeywordDetector(["ghost  gun", "pipe bomb"]).fingerprint()


def test_score_batch() -> None:
    scores = WEAPONS.score_batch(["pipe bomb", "cake", "ｇｈｏｓｔ ｇｕｎ"])
    assert scores.dtype == np.float32
    assert scores.tolist() == [1.0, 0.0, 1.0]
    assert RegexDetector(EMAIL).score_batch([]).shape == (0,)


@pytest.mark.parametrize(
    ("spans", "expected"),
    [
        ([], "0123456789"),
        ([(2, 4)], "01[R]456789"),
        ([(6, 8), (2, 4)], "01[R]45[R]89"),
        ([(2, 5), (4, 7)], "01[R]789"),  # overlapping
        ([(2, 4), (4, 6)], "01[R]6789"),  # touching
        ([(3, 3)], "0123456789"),  # empty
        ([(0, 10), (2, 3)], "[R]"),
    ],
)
def test_redact(spans: list[tuple[int, int]], expected: str) -> None:
    assert redact("0123456789", spans, "[R]") == expected


# --- adversarial input: RE2 keeps these linear (timings: benchmarks/) ------

MB = 1_000_000


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        (r"(a+)+$", "a" * MB + "!"),
        (r"(a|aa)+b", "a" * MB),
        (EMAIL, "a" * MB + "@"),
    ],
)
def test_backtracking_bait_completes(pattern: str, text: str) -> None:
    detector = RegexDetector(pattern)
    assert detector.score(text) == 0.0
    assert detector.spans(text) == []


@pytest.mark.slow
def test_adversarial_benchmark_runs() -> None:
    script = ROOT / "benchmarks" / "detectors_adversarial.py"
    out = subprocess.run(
        [sys.executable, str(script), "--size", "100000", "--repeat", "1", "--calls", "100"],
        capture_output=True, text=True, check=True, timeout=300,
    ).stdout
    assert "(a+)+$" in out and "keywords" in out


# --- properties ----------------------------------------------------------------

_noise = st.text(alphabet=st.sampled_from("ab \u200bеоｐ\u0301ﬁ.\n"), max_size=12)
_keyword_forms = st.sampled_from(
    ["pipe bomb", "PIPE BOMB", "pi\u200dpe bomb", "ｐｉｐｅ ｂｏｍｂ", "pipе bomb"]
    + ["ghost\u00a0gun", "Ghost Gun"]
)


@given(_noise, _keyword_forms, _noise)
def test_score_agrees_with_spans_and_redaction_removes_all(a: str, kw: str, b: str) -> None:
    text = a + kw + b
    spans = WEAPONS.spans(text)
    assert WEAPONS.score(text) == (1.0 if spans else 0.0)
    assert all(0 <= s < e <= len(text) for s, e in spans)
    assert spans == sorted(spans)
    assert WEAPONS.score(redact(text, spans)) == 0.0


@given(_noise, _noise)
def test_keyword_with_separated_context_is_found(a: str, b: str) -> None:
    assert WEAPONS.spans(f"{a} pipe bomb {b}")


def test_runtime_imports_no_compiler() -> None:
    """The runtime ships alone: importing it must not pull in the parser."""
    code = (
        "import sys, policyc.runtime.detectors;"
        "bad = [m for m in sys.modules if m.split('.')[0] == 'lark'"
        " or m.startswith(('policyc.syntax', 'policyc.semantics'))];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


_any_text = st.text(
    alphabet=st.one_of(st.characters(), st.sampled_from("pipe bomb@x.co 4111-\u200bｐе\u0301ﬁ")),
    max_size=60,
)


@pytest.mark.parametrize(
    "detector",
    [WEAPONS, RegexDetector(EMAIL), RegexDetector(CARD, "luhn")],
    ids=["keywords", "email", "card"],
)
@given(text=_any_text)
def test_spans_are_valid_on_any_text(detector: KeywordDetector | RegexDetector, text: str) -> None:
    spans = detector.spans(text)
    assert detector.score(text) == (1.0 if spans else 0.0)
    assert all(0 <= s < e <= len(text) for s, e in spans)
    assert all(e1 <= s2 for (_, e1), (s2, _) in zip(spans, spans[1:], strict=False))


# --- the ASCII screen ------------------------------------------------------------

SCREENED = [
    WEAPONS,
    KeywordDetector(["buy  cocaine", "Fentanyl", "x-ray", "c++", "straße"]),
    RegexDetector(EMAIL),
    RegexDetector(CARD, "luhn"),
    RegexDetector(r"(?i)akia[0-9A-Z]{4}"),
    RegexDetector(r"^secret:"),
]
SCREEN = AsciiScreen(SCREENED)
_ascii_text = st.lists(
    st.one_of(
        st.characters(max_codepoint=127),
        st.sampled_from(["pipe bomb", "PIPE\tBOMB", "ghost gun", "Buy Cocaine", "FENTANYL",
                         "X-RAY", "c++", "strasse", "a@b.co", "4111 1111 1111 1111",
                         "AKIA1234", "akia", "secret:", " ", "_"]),
    ),
    max_size=40,
).map("".join)


def test_screen_compiles_and_keeps_non_ascii_for_the_detectors() -> None:
    assert SCREEN.ok
    assert SCREEN.clear("a quiet day at the beach")
    assert not SCREEN.clear("a quiet day at the beach\u200b")  # non-ASCII: never cleared


@pytest.mark.parametrize("text", [
    "PIPE BOMB", "Pipe\n bomb.", "BUY COCAINE", "buy\tcocaine", "fentanyl", "an X-Ray",
    "c++ code", "mail a@b.co", "4111 1111 1111 1112", "AKIA12345", "akiaZZZZ", "secret: x",
])
def test_screen_never_clears_a_text_a_detector_could_fire_on(text: str) -> None:
    assert not SCREEN.clear(text)


@given(text=_ascii_text)
def test_screen_is_exact_on_ascii_text(text: str) -> None:
    """Cleared means no detector fires: the screen may only send extra texts through."""
    if SCREEN.clear(text):
        assert all(d.score(text) == 0.0 for d in SCREENED), text
    if any(d.score(text) == 1.0 for d in SCREENED):
        assert not SCREEN.clear(text)


def test_screen_that_cannot_compile_is_not_ok() -> None:
    class Broken(RegexDetector):
        def ascii_pattern(self) -> str:
            return "(unbalanced"

    assert not AsciiScreen([RegexDetector(EMAIL), Broken(EMAIL)]).ok
    assert not AsciiScreen([]).ok


def test_no_screen_over_a_program_too_big_for_the_dfa(monkeypatch: pytest.MonkeyPatch) -> None:
    """A union too big for RE2's DFA would cost more than the detectors it screens."""
    detectors = [KeywordDetector([f"word{i} term{i}" for i in range(200)]), RegexDetector(EMAIL)]
    size = AsciiScreen(detectors)._regex.ProgramSize()
    monkeypatch.setattr(AsciiScreen, "MAX_PROGRAM", size)
    assert AsciiScreen(detectors).ok
    monkeypatch.setattr(AsciiScreen, "MAX_PROGRAM", size - 1)
    assert not AsciiScreen(detectors).ok


def test_text_too_expanding_to_normalize() -> None:
    """Scoring raises (the bindings report it to `on_error`); spans cover the whole text."""
    from policyc.runtime.normalize import NormalizationLimitError

    text = "pipe bomb " + "\ufdfa" * 100_000
    for detector in (KeywordDetector(["pipe bomb"]), RegexDetector(EMAIL)):
        with pytest.raises(NormalizationLimitError):
            detector.score(text)
        with pytest.raises(NormalizationLimitError):
            detector.prepare(text)
        assert detector.spans(text) == [(0, len(text))]
        assert redact(text, detector.spans(text)) == "[REDACTED]"


# --- claimed spans (the claim rule, issue 13 C23) ----------------------------------

_span = st.tuples(st.integers(0, 40), st.integers(0, 40)).map(sorted).map(tuple)


@given(claimed=st.lists(_span, max_size=6), probe=_span)
def test_claimed_overlaps_is_span_intersection(claimed: list[tuple[int, int]],
                                               probe: tuple[int, int]) -> None:
    """Half-open spans overlap when they share a position; touching is not overlapping."""
    start, end = probe
    brute = any(s < end and start < e for s, e in claimed if s < e) and start < end
    assert Claimed(claimed).overlaps(start, end) == brute
    assert bool(Claimed(claimed)) == any(s < e for s, e in claimed)


def test_spans_leave_out_claimed_matches() -> None:
    card, phone = RegexDetector(CARD, "luhn"), RegexDetector(r"\b0\d{3} \d{4} \d{4}\b")
    text = "ｃａｒｄ 4000 0566 5566 5556 or 0207 946 0958 and 0207 9460 9580"
    data = phone.prepare(text)
    claimed = Claimed(card.matches_prepared(data))
    assert phone.spans(text) == [(10, 24), (46, 60)]
    assert phone.spans(text, claimed) == [(46, 60)]
    assert phone.score_prepared(data) == 1.0
    assert phone.score_unclaimed(data, claimed) == 1.0
    only_card = phone.prepare("card 4000 0566 5566 5556")
    assert phone.score_unclaimed(only_card, Claimed(card.matches_prepared(only_card))) == 0.0


# `uncleared`: one pass over a batch joined by newlines finds exactly the texts `clear`
# does not clear, whatever the anchors and boundaries of the patterns
_ANCHORED = [
    RegexDetector(r"^secret:"), RegexDetector(r"end$"), RegexDetector(r"\bcat\b"),
    RegexDetector(r"(?m)^x"), RegexDetector(r"a\s+b"), RegexDetector(r"[^a-z]q[^a-z]"),
    KeywordDetector(["buy cocaine", "x-ray"]),
]
_batch_text = st.lists(
    st.sampled_from(["secret:", "end", "cat", "x", "a", "b", "q", " ", "\n", ".", "buy",
                     "cocaine", "x-ray", "é", "z"]),
    max_size=8,
).map("".join)


@given(st.lists(_batch_text, max_size=12), st.integers(0, len(_ANCHORED) - 1))
def test_uncleared_is_clear_text_by_text(texts: list[str], k: int) -> None:
    for screen in (SCREEN, AsciiScreen(_ANCHORED), AsciiScreen(_ANCHORED[k:k + 1])):
        assert screen.uncleared(texts) == [i for i, t in enumerate(texts)
                                           if not screen.clear(t)]


def test_uncleared_falls_back_on_whole_text_anchors() -> None:
    """\\A and \\z (and a flag group turning multi-line off) would miss texts joined after
    the first: such a screen checks text by text."""
    for pattern in (r"\Asecret", r"end\z", r"(?-m:^secret)"):
        screen = AsciiScreen([RegexDetector(pattern)])
        assert screen.ok and screen._lines is None
        texts = ["x", "secret end", "y"]
        assert screen.uncleared(texts) == [1]


@settings(max_examples=30, deadline=None)
@given(st.lists(_batch_text, min_size=100, max_size=400), st.integers(0, len(_ANCHORED) - 1))
def test_uncleared_on_big_batches_dense_or_sparse(texts: list[str], k: int) -> None:
    """Past 64 candidates, with more than a quarter of the texts so far, the rest of the
    batch is screened one text at a time: the same result either way."""
    for screen in (AsciiScreen(_ANCHORED), AsciiScreen(_ANCHORED[k:k + 1])):
        assert screen.uncleared(texts) == [i for i, t in enumerate(texts)
                                           if not screen.clear(t)]
