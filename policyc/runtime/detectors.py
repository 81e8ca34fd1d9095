"""Regex and keyword detectors: the cheap classifier bindings.

Detectors run on attacker-controlled text, so matching uses RE2 (linear
time, no catastrophic backtracking). Matching is done on the UTF-8 bytes of
the normalized text through RE2's low-level ``Match``: the ``re2`` module's
``re``-compatible layer costs about twice as much per call, and ``score`` is
on the per-text latency budget. Spans are mapped back to the original text
only when asked for (redaction).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import accumulate
from typing import Any, ClassVar

import numpy as np
import re2

from policyc.runtime.normalize import (
    NORMALIZATION_VERSION,
    NormalizationLimitError,
    fold,
    fold_with_offsets,
    light,
    light_with_offsets,
    span_to_original,
)
from policyc.runtime.validators import VALIDATORS

__all__ = [
    "AsciiScreen", "Claimed", "Detector", "DetectorError", "KeywordDetector", "RegexDetector",
    "redact",
]

Span = tuple[int, int]

_RE2: Any = re2._re2.RE2  # the low-level object; untyped (no stubs)
_UNANCHORED = _RE2.Anchor.UNANCHORED
_NO_MATCH = (-1, -1)
# What keeps a pattern from being matched over texts joined by newlines (`AsciiScreen`):
# RE2's whole-text anchors, or a flag group that turns a flag off (multi-line among them)
_WHOLE_TEXT_ASSERTION = re.compile(r"\\[Az]|\(\?[A-Za-z]*-")


def _utf8(text: str) -> bytes:
    # Lone surrogates (e.g. from JSON "\ud800") must not crash a guardrail.
    return text.encode("utf-8", "surrogatepass")


class DetectorError(ValueError):
    """A detector definition that cannot be compiled; the message is user-facing."""


def _compile(pattern: str, *, keywords: bool = False) -> Any:
    regex = _re2_object(pattern, keywords=keywords)
    if not regex.ok():
        error = regex.error()
        error = error.decode(errors="replace") if isinstance(error, bytes) else error
        raise DetectorError(
            f"regex {pattern!r} is not supported by RE2: {error}. Detectors use RE2 so that "
            "matching stays linear-time on untrusted text: no look-around, no backreferences, "
            "and write \\z instead of \\Z"
        )
    return regex


def _re2_object(pattern: str, *, keywords: bool = False, big: bool = False) -> Any:
    """The RE2 object, compiled or not (see ``ok()``).

    ``keywords``: leftmost-longest with captures, so the DFA finds the whole match
    and the capture groups are resolved on the match alone. Otherwise captures are
    off (only the whole match is used). ``keywords`` or ``big``: big alternations
    need a bigger DFA cache; past it RE2 falls back to its (still linear, slower)
    NFA rather than use more memory.
    """
    options = re2.Options()
    options.log_errors = False
    if keywords:
        options.longest_match = True
    else:
        options.never_capture = True
    if keywords or big:
        options.max_mem = 64 << 20
    return _RE2(_utf8(pattern), options)


def _char_start(data: bytes, i: int) -> int:
    """Start of the UTF-8 character containing byte ``i``."""
    while i > 0 and data[i] & 0xC0 == 0x80:
        i -= 1
    return i


def _char_end(data: bytes, i: int) -> int:
    """End of the UTF-8 character starting at byte ``i``."""
    i += 1
    while i < len(data) and data[i] & 0xC0 == 0x80:
        i += 1
    return i


class Detector:
    """Shared pipeline: normalize, match bytes, map spans back."""

    kind: ClassVar[str]
    _validator: Callable[[str], bool] | None = None

    def __init__(
        self,
        regex: Any,
        normalize: Callable[[str], str],
        with_offsets: Callable[[str], tuple[str, list[int]]],
    ) -> None:
        self._regex = regex
        self._normalize = normalize
        self._with_offsets = with_offsets

    def _byte_spans(self, data: bytes) -> Iterator[Span]:
        raise NotImplementedError

    def _identity(self) -> list[object]:
        raise NotImplementedError

    def ascii_pattern(self) -> str:
        """A pattern that matches any ASCII text this detector fires on (see `AsciiScreen`)."""
        raise NotImplementedError

    @property
    def normal_form(self) -> Callable[[str], str]:
        """The normalization this detector matches on (detectors sharing one share its bytes)."""
        return self._normalize

    def prepare(self, text: str) -> bytes:
        """The bytes ``score_prepared`` matches: the normalized text, UTF-8.

        Raises `NormalizationLimitError` (so does ``score``) for a text whose normal
        form would be too long (see `policyc.runtime.normalize.MAX_EXPANSION`).
        """
        return _utf8(self._normalize(text))

    def score(self, text: str) -> float:
        """1.0 if the detector fires on ``text``, else 0.0."""
        return self.score_prepared(_utf8(self._normalize(text)))

    def score_prepared(self, data: bytes) -> float:
        """``score`` on ``prepare(text)``: several detectors normalize a text only once."""
        start, end = self._regex.Match(_UNANCHORED, data, 0, len(data))[0]
        if start < 0:
            return 0.0
        if end > start and self._validator is None:
            return 1.0
        return 1.0 if next(self._byte_spans(data), None) is not None else 0.0

    def matches_prepared(self, data: bytes) -> list[Span]:
        """The byte spans of ``prepare(text)`` the detector reports (validated ones only)."""
        return list(self._byte_spans(data))

    def score_unclaimed(self, data: bytes, claimed: Claimed) -> float:
        """``score_prepared`` counting only the matches that overlap no `claimed` span."""
        overlaps = claimed.overlaps
        return 1.0 if any(not overlaps(s, e) for s, e in self._byte_spans(data)) else 0.0

    def score_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Scores as a float32 vector, the layout the decision table consumes."""
        return np.fromiter(map(self.score, texts), dtype=np.float32, count=len(texts))

    def spans(self, text: str, claimed: Claimed | None = None) -> list[Span]:
        """Matches as ``(start, end)`` spans of the original ``text``.

        ``claimed``: byte spans of ``prepare(text)``; a match overlapping one is left
        out (see `Claimed`). A text too expanding to normalize
        (`NormalizationLimitError`) is one span, the whole text: a redaction then
        over-covers rather than leaks.
        """
        try:
            normal = self._normalize(text)
        except NormalizationLimitError:
            return [(0, len(text))] if text else []
        data = _utf8(normal)
        found = list(self._byte_spans(data))
        if claimed:
            found = [(s, e) for s, e in found if not claimed.overlaps(s, e)]
        if not found:
            return []
        if len(data) != len(normal):
            starts = np.frombuffer(data, dtype=np.uint8) & 0xC0 != 0x80
            index = np.concatenate(([0], np.cumsum(starts)))
            # a pattern may match inside an invalid (surrogate) sequence: widen to whole chars
            found = [(int(index[s + 1]) - 1, int(index[e])) for s, e in found]
        if text.isascii() or normal == text:
            return found
        _, offsets = self._with_offsets(text)
        # two normalized chars from one source char ("ﬁ") can yield overlapping spans
        return _merge([span_to_original(offsets, s, e) for s, e in found], touching=False)

    def fingerprint(self) -> str:
        """sha256 of what decides the detector's output, to spot binding changes."""
        payload = json.dumps([self.kind, NORMALIZATION_VERSION, *self._identity()])
        return hashlib.sha256(payload.encode()).hexdigest()


class RegexDetector(Detector):
    """An RE2 pattern on ``light(text)``, optionally checked by a validator."""

    kind = "regex"

    def __init__(self, pattern: str, validator: str | None = None) -> None:
        super().__init__(_compile(pattern), light, light_with_offsets)
        if validator is not None and validator not in VALIDATORS:
            raise DetectorError(
                f"unknown validator {validator!r}; known: {', '.join(sorted(VALIDATORS))}"
            )
        for probe in (b"", b"a", b"0", b" "):
            start, end = self._regex.Match(_UNANCHORED, probe, 0, len(probe))[0]
            if start >= 0 and start == end:
                raise DetectorError(
                    f"regex {pattern!r} can match the empty string, so it would fire on "
                    "every text"
                )
        self.pattern = pattern
        self.validator = validator
        self._validator = VALIDATORS[validator] if validator else None

    def _byte_spans(self, data: bytes) -> Iterator[Span]:
        pos, end_of_data = 0, len(data)
        while pos <= end_of_data:
            start, end = self._regex.Match(_UNANCHORED, data, pos, end_of_data)[0]
            if start < 0:
                return
            if start == end:  # empty match: step one character to make progress
                pos = _char_end(data, start)
                continue
            if self._validator is None or self._validator(data[start:end].decode(errors="replace")):
                yield start, end
            pos = end

    def _identity(self) -> list[object]:
        return [self.pattern, self.validator]

    def ascii_pattern(self) -> str:
        # light() leaves ASCII text as it is: the pattern itself (the validator only
        # ever rejects matches)
        return f"(?:{self.pattern})"

    def __repr__(self) -> str:
        return f"RegexDetector({self.pattern!r}, validator={self.validator!r})"


# Word characters for keyword boundaries: letters, digits, marks, underscore.
_NON_WORD = r"[^\pL\pN\pM_]"
# Scripts written without spaces between words: no boundary is required there.
_UNSPACED_SCRIPTS = (
    "CJK", "IDEOGRAPHIC", "HIRAGANA", "KATAKANA", "THAI", "LAO", "KHMER", "MYANMAR"
)


def _needs_boundary(char: str) -> bool:
    if char != "_" and unicodedata.category(char)[0] not in "LNM":
        return False
    return not unicodedata.name(char, "").startswith(_UNSPACED_SCRIPTS)


class KeywordDetector(Detector):
    """A keyword list on ``fold(text)``, compiled into one RE2 automaton.

    Keywords match whole words (where they start/end with a word character)
    and any run of whitespace matches a space inside a keyword.
    """

    kind = "keywords"

    def __init__(self, keywords: Sequence[str]) -> None:
        if isinstance(keywords, str):
            raise DetectorError("keywords must be a list of strings, not one string")
        folded = sorted({" ".join(fold(k).split()) for k in keywords})
        if not folded or "" in folded:
            raise DetectorError("a keywords detector needs non-empty keywords")
        self.keywords = tuple(keywords)
        self._folded = folded
        # One alternation per boundary kind, each in its own capture group,
        # so the keyword's own span is known without the boundary chars.
        groups: dict[tuple[bool, bool], list[str]] = {}
        for keyword in sorted(folded, key=lambda k: (-len(k), k)):
            key = (_needs_boundary(keyword[0]), _needs_boundary(keyword[-1]))
            groups.setdefault(key, []).append(r"\s+".join(map(re.escape, keyword.split())))
        pattern = "|".join(
            ("(?:^|" + _NON_WORD + ")" if left else "")
            + "(" + "|".join(alternatives) + ")"
            + ("(?:" + _NON_WORD + "|$)" if right else "")
            for (left, right), alternatives in groups.items()
        )
        super().__init__(_compile(pattern, keywords=True), fold, fold_with_offsets)
        self._pattern = pattern

    def ascii_pattern(self) -> str:
        # fold() lower-cases ASCII text and does nothing else to it, and every char
        # of an ASCII text is in the case orbit of its lower-case form
        return f"(?i:{self._pattern})"

    def _byte_spans(self, data: bytes) -> Iterator[Span]:
        pos, last_end, end_of_data = 0, 0, len(data)
        while True:
            spans = self._regex.Match(_UNANCHORED, data, pos, end_of_data)
            if spans[0] == _NO_MATCH:
                return
            start, end = next(span for span in spans[1:] if span != _NO_MATCH)
            if start < last_end:  # overlaps the previous keyword: only after backing up
                pos = last_end
                continue
            yield start, end
            # Resume on the keyword's last char: a boundary is consumed as a
            # char, and a keyword ending in punctuation is the next one's boundary.
            last_end, pos = end, _char_start(data, end - 1)

    def _identity(self) -> list[object]:
        return list(self._folded)

    def __repr__(self) -> str:
        return f"KeywordDetector({list(self.keywords)!r})"


class AsciiScreen:
    """One RE2 pass that proves that no detector fires on an ASCII text.

    Most texts are ASCII and fire no detector. Each detector costs a normalization
    and an RE2 call (~1 us, mostly the call); this screen matches the union of
    their `ascii_pattern`s on the raw bytes once, and only a text it does not
    clear goes through the detectors one by one. It is exact, not a heuristic:
    each `ascii_pattern` matches at least every ASCII text its detector fires on.
    """

    #: Past this many RE2 instructions the union's DFA runs out of its memory on
    #: ordinary text and RE2 falls back to its NFA: with 20k keywords (~360k
    #: instructions) the screen took 73 us per short text, with 10k (~180k) 1.5 us.
    MAX_PROGRAM = 200_000

    def __init__(self, detectors: Sequence[Detector]) -> None:
        pattern = "|".join(d.ascii_pattern() for d in detectors)
        self._regex = _re2_object(pattern, big=True)
        self.ok: bool = (bool(detectors) and self._regex.ok()
                         and self._regex.ProgramSize() <= self.MAX_PROGRAM)
        # `uncleared`'s pattern: the same with ^ and $ matching at line breaks, unless
        # the union asserts where the whole text starts or ends (\A, \z, or a flag group
        # that turns multi-line off): then it would miss texts joined after the first
        self._lines: Any = None
        if self.ok and _WHOLE_TEXT_ASSERTION.search(pattern) is None:
            lines = _re2_object("(?m)" + pattern, big=True)
            if lines.ok() and lines.ProgramSize() <= self.MAX_PROGRAM:
                self._lines = lines

    def clear(self, text: str) -> bool:
        """True if no detector fires on `text`; False if `text` must go through them."""
        if not text.isascii():
            return False
        data = text.encode()
        return self._regex.Match(_UNANCHORED, data, 0, len(data))[0][0] < 0

    def uncleared(self, texts: Sequence[str]) -> list[int]:
        """The positions of the texts `clear` does not clear, in order: one RE2 pass over
        the ASCII texts joined by newlines finds the candidates; `clear` confirms those
        whose match is not inside a text without line breaks of its own.

        No text is missed: a text the screen matches alone still matches once joined (a
        newline is a non-word char, as the ends of a text are to ``\\b``, and ^/$ match
        at line breaks), and the scan, restarted after the last text each match touches,
        reaches each such text before passing it. A match over a newline, or at a line
        break inside a text, only adds candidates.
        """
        lines = self._lines
        if lines is None or len(texts) < 2:
            return [i for i, t in enumerate(texts) if not self.clear(t)]
        plain: Sequence[int] = range(len(texts))
        joined = "\n".join(texts)
        if not joined.isascii():
            plain = [i for i, t in enumerate(texts) if t.isascii()]
            joined = "\n".join([texts[i] for i in plain])
        data = joined.encode()
        starts = list(accumulate((len(texts[i]) + 1 for i in plain), initial=0))
        found: list[int] = []
        pos, end, last = 0, len(data), len(plain) - 1
        while pos <= end and plain:
            start, stop = lines.Match(_UNANCHORED, data, pos, end)[0]
            if start < 0:
                break
            first = bisect_right(starts, start) - 1
            final = bisect_right(starts, max(stop - 1, start)) - 1
            if first == final and stop < starts[first + 1] and "\n" not in texts[plain[first]]:
                found.append(first)  # inside one line of one text: a match of it alone
            else:
                found.extend(k for k in range(first, final + 1)
                             if not self.clear(texts[plain[k]]))
            if final >= last:
                break
            pos = starts[final + 1]
            if len(found) >= 64 and 4 * len(found) > final:  # dense: one text at a time
                found.extend(k for k in range(final + 1, len(plain))  # is cheaper
                             if not self.clear(texts[plain[k]]))
                break
        if len(plain) == len(texts):
            return found
        picked = set(plain)
        out = {plain[k] for k in found}
        out.update(i for i in range(len(texts)) if i not in picked)
        return sorted(out)


class Claimed:
    """Spans of a normalized text that checksum-validated matches claim (issue 13 C23).

    A card number or an IBAN often holds a digit group that a phone pattern also
    matches; the checksum makes the card the better reading, so a match of a
    detector without a validator that overlaps a claimed span is not reported
    (`docs/language.md`, detectors). Spans are half-open byte offsets of the
    normalized text; two overlap when they share at least one byte.
    """

    __slots__ = ("_starts", "_ends")

    def __init__(self, spans: Iterable[Span]) -> None:
        merged = _merge(spans, touching=False)  # disjoint and sorted: so are the ends
        self._starts = [s for s, _ in merged]
        self._ends = [e for _, e in merged]

    def __bool__(self) -> bool:
        return bool(self._ends)

    def overlaps(self, start: int, end: int) -> bool:
        """Whether ``[start, end)`` shares a byte with a claimed span (O(log n)); an empty
        span shares none."""
        if start >= end:
            return False
        i = bisect_right(self._ends, start)  # the first claimed span ending after `start`
        return i < len(self._ends) and self._starts[i] < end


def _merge(spans: Iterable[Span], *, touching: bool) -> list[Span]:
    """Sorted non-empty spans, overlapping (and optionally touching) ones merged."""
    merged: list[Span] = []
    for start, end in sorted(spans):
        if start >= end:
            continue
        if merged and (start < merged[-1][1] or touching and start == merged[-1][1]):
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def redact(text: str, spans: Iterable[Span], replacement: str = "[REDACTED]") -> str:
    """Replace each span (overlapping or touching spans merged) with ``replacement``."""
    pieces, cursor = [], 0
    for start, end in _merge(spans, touching=True):
        pieces += [text[cursor:start], replacement]
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces)
