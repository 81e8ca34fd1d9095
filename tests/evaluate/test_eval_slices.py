"""`policyc eval`: 95 % Wilson intervals, `--slice-by`, `--split`/`--where` (issue 14, part 5).

Fixture: `tests/golden/eval/small.pol` + `sliced.jsonl` (7 events with kind, language,
obfuscation, split; s6 has no `obfuscation`, s7 no `language`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policyc.evaluate import metrics as M
from policyc.render.contracts import EvalV1

ROOT = Path(__file__).resolve().parents[2]
POL = ROOT / "tests" / "golden" / "eval" / "small.pol"
DATA = ROOT / "tests" / "golden" / "eval" / "sliced.jsonl"


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "policyc", "eval", str(POL), str(DATA),
                           "--color", "never", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


def run_json(*args: str | Path) -> dict:
    proc = run("--format", "json", *args)
    assert proc.returncode in (0, 1), proc.stderr
    data = json.loads(proc.stdout)
    EvalV1.model_validate(data)  # the published contract
    return data


# ---- the Wilson interval ------------------------------------------------------------------


@pytest.mark.parametrize(("k", "n", "lo", "hi"), [
    (0, 10, 0.0, 0.2775),
    (5, 10, 0.2366, 0.7634),
    (10, 10, 0.7225, 1.0),
    (50, 360, 0.1070, 0.1784),  # 13.9 % (50/360, 95 % CI 10.7–17.8 %)
    (1, 4, 0.0456, 0.6994),
])
def test_wilson_known_values(k: int, n: int, lo: float, hi: float) -> None:
    got = M.wilson(k, n)
    assert got is not None
    assert got == pytest.approx((lo, hi), abs=5e-5)


def test_wilson_undefined_without_events() -> None:
    assert M.wilson(0, 0) is None
    assert M.rate(0, 0) == {"value": None, "count": 0, "n": 0, "ci": None}
    with pytest.raises(ValueError):
        M.wilson(3, 2)


@given(st.integers(min_value=1, max_value=100_000).flatmap(
    lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))))
def test_wilson_contains_the_rate(kn: tuple[int, int]) -> None:
    k, n = kn
    ci = M.wilson(k, n)
    assert ci is not None
    lo, hi = ci
    assert 0.0 <= lo <= k / n <= hi <= 1.0
    assert hi - lo > 0


# ---- through the CLI ------------------------------------------------------------------------


def test_text_rates_carry_count_and_interval() -> None:
    proc = run()
    assert proc.returncode == 0, proc.stderr
    # 1 of the 4 benign events (s7, score 0.7) is refused: 25.0 %, Wilson 4.6–69.9 %
    assert "25.0% (1/4, 95% CI 4.6–69.9%)" in proc.stdout
    assert "Per category rates (count/events, 95% Wilson interval)" in proc.stdout


def test_json_rates_are_additive() -> None:
    data = run_json()
    assert data["metrics"]["benign_refusal_rate"] == 0.25  # the old key keeps its shape
    r = data["rates"]["benign_refusal_rate"]
    assert (r["value"], r["count"], r["n"]) == (0.25, 1, 4)
    assert r["ci"] == pytest.approx([0.0456, 0.6994], abs=5e-5)
    assert data["rates"]["recall.violence"]["n"] == 3
    v = data["categories"]["violence"]
    assert v["recall"] == pytest.approx(2 / 3)
    assert v["ci"]["recall"] == pytest.approx(list(M.wilson(2, 3) or ()))
    assert data["slices"] == {}


def test_slice_by_fields_with_missing_values() -> None:
    data = run_json("--slice-by", "kind,language", "--slice-by", "obfuscation")
    sl = data["slices"]
    assert list(sl) == ["kind", "language", "obfuscation"]
    assert list(sl["language"]) == ["de", "en", "fr", "(missing)"]
    assert sl["language"]["(missing)"]["events"] == 1  # s7
    assert sl["obfuscation"]["(missing)"]["events"] == 1  # s6
    harmful = sl["kind"]["harmful"]
    assert (harmful["events"], harmful["harmful"]) == (3, 3)
    assert harmful["harmful_pass_rate"]["count"] == 1  # s2 (score 0.1) passes
    assert harmful["benign_refusal_rate"] == {"value": None, "count": 0, "n": 0, "ci": None}
    assert sum(v["events"] for v in sl["kind"].values()) == 7
    text = run("--slice-by", "obfuscation").stdout
    assert "By obfuscation" in text and "(missing)" in text and "leetspeak" in text


def test_split_selects_rows_and_sweep_on_test_warns() -> None:
    data = run_json("--split", "test")
    assert data["data"]["events"] == 4
    assert data["data"]["where"] == {"split": "test"} and data["data"]["excluded"] == 3
    assert run_json("--where", "split=train")["data"]["events"] == 3
    assert run_json("--where", "split=test,language=en")["data"]["events"] == 2

    proc = run("--split", "test", "--sweep")
    assert "warning: `--sweep` ran on rows whose `split` is `test`" in proc.stderr
    assert "rows selected by split=test (3 other rows left out)" in proc.stdout
    quiet = run("--split", "train", "--sweep")
    assert "warning" not in quiet.stderr, quiet.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--where", "split"], "is not FIELD=VALUE"),
    (["--split", "dev"], "no row has split=dev"),
    (["--split", "test", "--where", "split=train"], "contradicts"),
])
def test_bad_selection_exits_2(args: list[str], message: str) -> None:
    proc = run(*args)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_report_shows_slices_and_intervals(tmp_path: Path) -> None:
    proc = run("--slice-by", "kind", "--report", tmp_path)
    assert proc.returncode == 0, proc.stderr
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "By kind" in page
    assert "Obfuscated vs plain text" in page
    assert "Familiar vs unfamiliar text" in page
    assert "25.0% (1/4, 95% CI 4.6–69.9%)" in page
