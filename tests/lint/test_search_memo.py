"""The editor's remembered region searches (`lint/memo.py`) change no finding: a lint
with the memo of earlier versions equals a lint without, over a sequence of edits that
move, add and change rules, and the memo does answer some searches."""

from __future__ import annotations

import random
import re
import sys
from pathlib import Path

from policyc.lint.config import LintConfig
from policyc.lint.memo import SearchMemo
from policyc.lint.runner import run_rules
from policyc.semantics.program import load_policy_text

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from gen_policy import generate  # noqa: E402

_RULE = re.compile(r"^  rule (\w+): (\w+)(\(\"[^\"]*\"\))?", re.M)
_ACTIONS = ["allow", 'warn("a")', 'redact("b")', 'redirect("c")', "refuse", 'escalate("d")']


def _lint(text: str, memo: SearchMemo | None) -> list[dict[str, object]]:
    program = load_policy_text(text, "/policies/p.pol")
    return [d.model_dump() for d in run_rules(program, LintConfig(), memo=memo)]


def test_lint_with_the_memo_equals_lint_without() -> None:
    for strategy, seed in [("most-restrictive", 1), ("priority", 2), ("first-match", 3),
                           ("least-restrictive", 4)]:
        rng = random.Random(seed)
        text = generate(80, seed=seed, strategy=strategy)
        memo = SearchMemo()
        for _ in range(8):
            rules = list(_RULE.finditer(text))
            m = rng.choice(rules)
            end = text.index("\n", m.start())
            kind = rng.randrange(4)
            if kind == 0:  # another decision (maybe another rank)
                rest = m.end(3) if m.group(3) else m.end(2)
                text = text[:m.start(2)] + rng.choice(_ACTIONS) + text[rest:]
            elif kind == 1:  # a copy of a rule elsewhere
                at = rng.choice(rules).start()
                copy = text[m.start():end + 1].replace(m.group(1), m.group(1) + "x", 1)
                text = text[:at] + copy + text[at:]
            elif kind == 2:
                text = text[:m.start()] + text[end + 1:]
            else:  # a new cut in the space
                text = text[:end] + f" and score(violence.a) < 0.{rng.randrange(1, 9)}5" + text[end:]
            assert _lint(text, memo) == _lint(text, None), (strategy, text)
        assert memo.hits > 0, strategy
