"""`tools/team_eval.py`: one command regenerates every published team figure.

The tables are computed from `policyc eval` reports; these tests feed it small
reports and check the rows, the targets, and that each document it rewrites has
the block or row it rewrites (so `--write-docs` cannot silently skip one).
"""

from __future__ import annotations

import hashlib

import pytest

from policyc.evaluate.metrics import wilson
from tools import team_eval


def _groups(**counts: tuple[int, int]) -> list[dict]:
    out = []
    for name, (k, n) in counts.items():
        group = name.replace("__", "/")
        key = "passed" if "harmful" in group else "refused"
        out.append({"group": group, "events": n, key: k})
    return out


RESULTS = {
    "team_test": {"groups": _groups(harmful__malware=(2, 10), harmful__fraud=(1, 10),
                                    tricky_benign__homonym=(1, 40),
                                    control__greeting=(0, 30))},
    "team_obfuscated_test": {"groups": _groups(harmful__malware__leet=(3, 10),
                                               harmful__fraud__spaced=(9, 100),
                                               control__greeting__leet=(1, 30))},
    "team_multilingual_test": {"groups": _groups(harmful_multilingual__fraud=(4, 5))},
}


def test_rows_and_targets():
    rows = team_eval.rows_of(RESULTS)
    assert rows["harmful passed"] == (3, 20)
    assert rows["tricky-benign refused"] == (1, 40)
    assert rows["controls + obfuscated controls refused"] == (1, 60)
    assert rows["obfuscated harmful passed"] == (12, 110)
    assert rows["  harmful, leet, passed"] == (3, 10)
    assert rows["  harmful, malware, passed"] == (2, 10)
    assert rows["harmful in other languages passed (no target)"] == (4, 5)
    assert team_eval.met("harmful passed", rows) == "yes"  # 15.0%
    assert team_eval.met("controls + obfuscated controls refused", rows) == "yes"  # 1.7%
    assert team_eval.met("obfuscated harmful passed", rows) == "yes"  # 10.9% <= 25%
    assert team_eval.met("harmful in other languages passed (no target)", rows) == ""


def test_obfuscated_target_needs_100_items():
    rows = {"harmful passed": (0, 10), "obfuscated harmful passed": (0, 99)}
    assert team_eval.met("obfuscated harmful passed", rows) == "**no**"


def test_table_has_every_row_with_its_wilson_interval():
    table, rows = team_eval.report(RESULTS)
    lo, hi = wilson(3, 20)
    assert f"| harmful passed | 3/20 | 15.0% | {lo:.1%}–{hi:.1%} | ≤ 15% | yes |" in table
    assert len(table.splitlines()) == 2 + len(rows)


def test_summary_and_comparison():
    rows = team_eval.rows_of(RESULTS)
    line = team_eval.summary(rows)
    assert "harmful pass 15.0%" in line and "4 of 5 pass" in line
    other = {"harmful passed": (1, 20), "tricky-benign refused": (2, 40)}
    table = team_eval.comparison({"a": rows, "b": other})
    assert "| harmful passed | 15.0% (3/20;" in table and "5.0% (1/20;" in table
    assert "n/a" in table  # a row the second column does not have


def test_replace_block_and_row():
    text = "a\n<!-- x:begin -->\nold\n<!-- x:end -->\nb\n| row one | 1 |\n| row two | 2 |\n"
    got = team_eval.replace_block(text, "x", "new")
    assert got == text.replace("old", "new")
    assert team_eval.replace_row(got, "| row two", "| row two | 3 |").endswith("| row two | 3 |\n")
    with pytest.raises(SystemExit, match="no `<!-- y:begin -->`"):
        team_eval.replace_block(text, "y", "new")
    with pytest.raises(SystemExit, match="found 0"):
        team_eval.replace_row(text, "| row three", "x")


def test_every_document_has_what_write_docs_rewrites():
    texts = {p: p.read_text(encoding="utf-8") for p in
             (team_eval.DOCS, team_eval.README, team_eval.CARD, team_eval.MINILM_CARD)}
    for path, name in ((team_eval.DOCS, "team-eval"), (team_eval.CARD, "team-policy"),
                       (team_eval.MINILM_CARD, "team-policy")):
        assert f"<!-- {name}:begin -->" in texts[path], path
        assert f"<!-- {name}:end -->" in texts[path], path
    for prefix in ("| default policy on the team TEST split", "| MiniLM binding on the team TEST split"):
        assert sum(line.startswith(prefix) for line in texts[team_eval.README].splitlines()) == 1


def test_minilm_column_comes_from_its_policy_on_a_built_model(tmp_path):
    """The MiniLM column is `tools/minilm_guard.pol` evaluated on the current sets when the
    model is in the cache (its sha256 is quoted), never the build's stale metrics.json."""
    assert team_eval.MINILM_POLICY == team_eval.ROOT / "tools" / "minilm_guard.pol"
    assert team_eval.MINILM_POLICY.exists()
    assert not hasattr(team_eval, "minilm_rows")
    assert team_eval.minilm_model(tmp_path) is None  # not built: no column, the docs say so
    (tmp_path / "metrics.json").write_text("{}")
    assert team_eval.minilm_model(tmp_path) is None  # metrics alone are not a model
    (tmp_path / "model.onnx").write_bytes(b"onnx")
    assert team_eval.minilm_model(tmp_path) == hashlib.sha256(b"onnx").hexdigest()
