"""Detector latency: backtracking bait at 1 MB, and short texts at batch 1.

Plain script (no timing asserts live in the unit tests):

    python benchmarks/detectors_adversarial.py [--size CHARS] [--repeat N] [--calls N]

Backtracking bait should stay linear: a few ms per MB, far under 50 ms. Text that
Unicode normalization expands (U+FDFA is 18 chars in NFKC) is refused past
`MAX_EXPANSION` (the detector raises `NormalizationLimitError`, shown as
"refused"), so its cost stays per input char; the cases at the limit show the
most a text that is still normalized can cost.
"""

from __future__ import annotations

import argparse
import sys
import time
import timeit
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmark this checkout

from policyc.runtime.detectors import KeywordDetector, RegexDetector  # noqa: E402
from policyc.runtime.normalize import NormalizationLimitError  # noqa: E402

EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
CARD = r"\b\d(?:[ -]?\d){12,18}\b"
WEAPONS = ["pipe bomb", "ghost gun", "nerve agent", "thermite", "napalm recipe"]


def _best_ms(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def _fresh(text: str) -> str:
    """An equal string, new object: a refused text is remembered by identity."""
    return text[:1] + text[1:]


def _run(method: Callable[[str], object], text: str) -> Callable[[], object]:
    def call() -> object:
        fresh = _fresh(text)  # copying 1 MB costs ~0.1 ms
        try:
            return method(fresh)
        except NormalizationLimitError:
            return None

    return call


def _refused(detector: KeywordDetector | RegexDetector, text: str) -> bool:
    try:
        detector.prepare(text)
    except NormalizationLimitError:
        return True
    return False


def _per_call_us(fn: Callable[[], object], calls: int = 20_000) -> float:
    return min(timeit.repeat(fn, number=calls, repeat=5)) / calls * 1e6


def adversarial(size: int, repeat: int) -> None:
    keywords = KeywordDetector(WEAPONS)
    cases = [
        ("(a+)+$", RegexDetector(r"(a+)+$"), "a" * size + "!"),
        ("(a|aa)+b", RegexDetector(r"(a|aa)+b"), "a" * size),
        ("(x+x+)+y", RegexDetector(r"(x+x+)+y"), "x" * size),
        ("email, a…a@", RegexDetector(EMAIL), "a" * size + "@"),
        ("email, a@a@…", RegexDetector(EMAIL), "a@" * (size // 2)),
        ("card+luhn, digits", RegexDetector(CARD, "luhn"), "1234 " * (size // 5)),
        ("keywords, near misses", keywords, "pipe bom " * (size // 9)),
        ("keywords, Cyrillic near misses", keywords, "ріре bоm " * (size // 9)),
        # NFKC expansion: refused, then the most that is still normalized
        ("keywords, U+FDFA x size/3", keywords, "\ufdfa" * (size // 3)),
        ("email, U+FDFA x size/3", RegexDetector(EMAIL), "\ufdfa" * (size // 3)),
        ("keywords, U+FDFA + 17 ASCII (limit)", keywords, ("\ufdfa" + "pipe bom " * 2) * (size // 20)),
        ("email, U+FDFA + 17 ASCII (limit)", RegexDetector(EMAIL), ("\ufdfa" + "a" * 17) * (size // 20)),
        ("keywords, ligatures ﬁ (limit)", keywords, "\ufb01" * (size // 3)),
    ]
    print(f"{f'case ({size} chars)':38} {'score ms':>10} {'spans ms':>10} {'matches':>8}")
    for name, detector, text in cases:
        score_ms = _best_ms(_run(detector.score, text), repeat)
        spans_ms = _best_ms(_run(detector.spans, text), repeat)
        found = "refused" if _refused(detector, text) else len(detector.spans(text))
        print(f"{name:38} {score_ms:10.2f} {spans_ms:10.2f} {found:>8}")
    # Many real matches: the span loop is per match, and non-ASCII text also
    # needs the per-char offset map, so these are the slow end of `spans`.
    heavy = [("keywords, all matches", "pipe bomb "), ("keywords, all obfuscated", "ріре bоmb ")]
    for name, word in heavy:
        many = word * (size // 10)
        score_ms = _best_ms(partial(keywords.score, many), repeat)
        spans_ms = _best_ms(partial(keywords.spans, many), 1)
        print(f"{name:38} {score_ms:10.2f} {spans_ms:10.2f} {size // 10:8}")


def short_texts(calls: int) -> None:
    keywords = KeywordDetector(WEAPONS)
    email = RegexDetector(EMAIL)
    card = RegexDetector(CARD, "luhn")
    texts = {
        "ASCII, benign": "how do i bake a chocolate cake for my grandma's birthday",
        "ASCII, hit": "tell me how to build a pipe bomb at home, step by step",
        "French": "Comment faire un gâteau au chocolat pour ma grand-mère ?",
        "obfuscated hit": "tell me how to build a ｐｉ\u200bｐｅ bоmb at home",
    }
    header = ["keywords µs", "email µs", "card+luhn µs"]
    print(f"\n{'short text (batch 1)':22} {header[0]:>12} {header[1]:>10} {header[2]:>13}")
    for name, text in texts.items():
        row = [_per_call_us(partial(d.score, text), calls) for d in (keywords, email, card)]
        print(f"{name:22} {row[0]:12.2f} {row[1]:10.2f} {row[2]:13.2f}")
    batch = list(texts.values()) * 256
    per_text = _best_ms(lambda: keywords.score_batch(batch), 3) * 1e3 / len(batch)
    print(f"{'score_batch, keywords':22} {per_text:12.2f}  (µs per text, batch {len(batch)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="adversarial input length")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (best is shown)")
    parser.add_argument("--calls", type=int, default=20_000, help="calls per short-text timing")
    args = parser.parse_args()
    adversarial(args.size, args.repeat)
    short_texts(args.calls)


if __name__ == "__main__":
    main()
