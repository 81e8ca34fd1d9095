"""Train-side experiment (issue 14, not shipped): would a generic "harmful request" head help?

    python tools/cv_harmful_head.py [--budgets 0.03,0.04,0.05]

Everything here is on the TRAIN side of ``tools/build_default_classifier.py``
(``training_records``), never the team TEST split.  Out-of-fold scores come from the
build's own 5 family-grouped folds (``GroupKFold`` over ``group_of``: a team template
family never sits on both sides), vocabulary and heads refitted in each fold.  The
operating point is then chosen *nested*: for each fold, ``greedy_thresholds`` on the
other four folds' out-of-fold scores (benign budget on the train-side team benign
rows), applied to the held-out fold; the counts are summed over the five folds.

Variants: the shipped eight category heads; the same plus one generic head (any
harmful label vs benign, trained on every row, so it sees all ~1,900 harmful train
rows instead of one category's), which may catch any harmful row; with the team rows
weighted 1 or 3 in the generic head; and the eight heads with team rows weighted 3.
Printed: harmful pass on the train-side team harmful rows, refusal of team
tricky-benign and control rows (any head at or above its threshold).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools import build_default_classifier as build  # noqa: E402
from tools import operating_point  # noqa: E402


def _fit(x, y: np.ndarray, w: np.ndarray, c_reg: float):
    """One logistic head as the build fits it (NULL_ROWS zero rows as negatives)."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    x = sparse.vstack([sparse.csr_matrix(x), sparse.csr_matrix((build.NULL_ROWS, x.shape[1]))],
                      format="csr")
    clf = LogisticRegression(C=c_reg, class_weight="balanced", solver="liblinear", tol=1e-6,
                             max_iter=1000)
    clf.fit(x, np.concatenate([y, np.zeros(build.NULL_ROWS, dtype=y.dtype)]),
            sample_weight=np.concatenate([w, np.ones(build.NULL_ROWS)]))
    return clf


def _features(vocabulary, texts):
    return build.features(texts, vocabulary)[0]


def _is_team(r, kind: str = "") -> bool:
    return any(s.startswith(f"team:{kind}") for s in r.source.split("+"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--budgets", default="0.03,0.04,0.05")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    recs = build.training_records(build.load_corpus())
    texts = [r.text for r in recs]
    n = len(recs)
    y = build.label_matrix(recs)
    y_any = np.array([r.label != build.BENIGN for r in recs], dtype=np.int8)
    team = np.array([_is_team(r) for r in recs])
    folds = build.folds(recs)
    heads_w = {"8 heads (shipped)": 1.0, "8 heads, team rows x3": 3.0}
    generic_w = {"generic, team rows x1": 1.0, "generic, team rows x3": 3.0}
    oof = {name: np.zeros((n, len(build.LABELS))) for name in heads_w}
    oof_g = {name: np.zeros(n) for name in generic_w}
    for k, (fit_idx, val_idx) in enumerate(folds):
        fit_recs = [recs[i] for i in fit_idx]
        for name, tw in heads_w.items():
            build.TEAM_WEIGHT = tw  # the vocabulary selection weighs rows too
            vocabulary = build.select_vocabulary(fit_recs)
            xf = _features(vocabulary, [texts[i] for i in fit_idx])
            xv = _features(vocabulary, [texts[i] for i in val_idx])
            w = np.where(team[fit_idx], tw, 1.0)
            for j in range(len(build.LABELS)):
                oof[name][val_idx, j] = _fit(xf, y[fit_idx, j], w, build.C_REG
                                             ).predict_proba(xv)[:, 1]
            if tw == 1.0:  # the generic heads on the shipped vocabulary
                for gname, gw in generic_w.items():
                    oof_g[gname][val_idx] = _fit(xf, y_any[fit_idx],
                                                 np.where(team[fit_idx], gw, 1.0),
                                                 build.C_REG).predict_proba(xv)[:, 1]
        build.TEAM_WEIGHT = 1.0
        print(f"fold {k + 1}/{len(folds)} in {time.perf_counter() - t0:.0f}s", flush=True)

    team_h = np.array([r.label != build.BENIGN and _is_team(r, "harmful/") for r in recs])
    tricky = np.array([r.label == build.BENIGN and _is_team(r, "tricky_benign/") for r in recs])
    controls = np.array([r.label == build.BENIGN and _is_team(r, "controls/") for r in recs])
    benign = np.array([build.is_team_benign(r) for r in recs])
    covered = {c for r, h in zip(recs, team_h, strict=True) if h for c in r.categories}
    harmful = np.array([r.label != build.BENIGN and (h or bool(set(r.categories) - covered))
                        for r, h in zip(recs, team_h, strict=True)])
    col = {c: j for j, c in enumerate(build.LABELS)}
    primary = np.zeros((n, len(build.LABELS)), dtype=bool)
    for i, r in enumerate(recs):
        if r.categories:
            primary[i, col[r.categories[0]]] = True

    def nested(scores: np.ndarray, may: np.ndarray, budget: float) -> str:
        hp = tk = ck = 0
        for fit_idx, val_idx in folds:
            th = operating_point.greedy_thresholds(scores[fit_idx], benign[fit_idx],
                                                   harmful[fit_idx], budget, heads=may[fit_idx])
            flag = (scores[val_idx] >= th).any(axis=1)
            hp += int((~flag & team_h[val_idx]).sum())
            tk += int((flag & tricky[val_idx]).sum())
            ck += int((flag & controls[val_idx]).sum())
        hn, tn, cn = int(team_h.sum()), int(tricky.sum()), int(controls.sum())
        return (f"harmful pass {hp}/{hn} {hp / hn:.1%}, tricky-benign refused {tk}/{tn} "
                f"{tk / tn:.1%}, controls refused {ck}/{cn} {ck / max(1, cn):.1%}")

    variants = {name: (s, primary) for name, s in oof.items()}
    for gname, g in oof_g.items():
        variants[f"8 heads + {gname}"] = (np.column_stack([oof["8 heads (shipped)"], g]),
                                          np.column_stack([primary, harmful]))
    for budget in (float(b) for b in args.budgets.split(",")):
        for name, (scores, may) in variants.items():
            print(f"budget {budget:.2f}  {name:34s} {nested(scores, may, budget)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
