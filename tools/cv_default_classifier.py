"""Train-side choice of the default classifier's benign budget (issue 14), nested.

    python tools/cv_default_classifier.py [--budgets 0.02,0.025,0.03,0.035,0.04] [--no-chunks]

Everything here is on the TRAIN side of ``tools/build_default_classifier.py``
(``training_records``), never the team TEST split.  Out-of-fold scores come from the
build's own five family-grouped folds (``out_of_fold``: vocabulary and heads refitted
without the fold, so a team template family never sits on both sides).  For each
budget the operating point is chosen *nested*: ``greedy_thresholds`` on four folds'
out-of-fold scores, applied to the fifth; the counts are summed over the five folds.
The build ships the largest budget whose nested tricky-benign refusal is within the 5%
target (``BENIGN_BUDGET``).

Printed per budget: harmful pass of the train-side team harmful rows (and per team
category), refusal of the team tricky-benign and control rows (any head at or above its
threshold).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools import build_default_classifier as build  # noqa: E402


def team_kind(source: str) -> tuple[str, str] | None:
    """``(file, category)`` of a team row's source, else None."""
    for s in source.split("+"):
        if s.startswith("team:"):
            file, category, _ = s.removeprefix("team:").split("/", 2)
            return file, category
    return None


def rate(counts: dict[str, list[int]], key: str) -> str:
    """``k/n rate`` of one group of rows."""
    k, n = counts.get(key, (0, 0))
    return f"{k}/{n} {k / max(1, n):.1%}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--budgets", default="0.02,0.025,0.03,0.035,0.04")
    ap.add_argument("--no-chunks", action="store_true",
                    help="word n-grams only (the models before 3.5.0), for comparison")
    args = ap.parse_args(argv)
    build.USE_CHUNKS = not args.no_chunks
    t0 = time.perf_counter()
    recs = build.training_records(build.load_corpus())
    oof = build.out_of_fold(recs)
    folds = build.folds(recs)
    kinds = [team_kind(r.source) for r in recs]
    print(f"{len(recs)} train rows, out of fold in {time.perf_counter() - t0:.0f}s")
    for budget in (float(b) for b in args.budgets.split(",")):
        wrong: dict[str, list[int]] = {}
        for fit_idx, val_idx in folds:
            th = build.greedy_thresholds(oof[fit_idx], [recs[i] for i in fit_idx], budget)
            flagged = (oof[val_idx] >= th).any(axis=1)
            for i, flag in zip(val_idx.tolist(), flagged.tolist(), strict=True):
                kind = kinds[i]
                if kind is None or kind[0] not in ("harmful", "tricky_benign", "controls"):
                    continue
                bad = not flag if kind[0] == "harmful" else flag
                for key in (kind[0], f"{kind[0]}/{kind[1]}" if kind[0] == "harmful" else ""):
                    if key:
                        k = wrong.setdefault(key, [0, 0])
                        k[0] += bad
                        k[1] += 1

        per = ", ".join(f"{key.split('/')[1]} {wrong[key][0] / wrong[key][1]:.0%}"
                        for key in sorted(wrong) if key.startswith("harmful/"))
        print(f"budget {budget:.3f}: harmful pass {rate(wrong, 'harmful')}, tricky-benign refused "
              f"{rate(wrong, 'tricky_benign')}, controls refused {rate(wrong, 'controls')}\n    {per}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
