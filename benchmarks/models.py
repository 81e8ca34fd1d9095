"""The MiniLM tokenizer-input binding against its floor, and the n-gram text path, in one run.

Plain script (needs the model: ``python tools/build_minilm.py``)::

    python benchmarks/models.py [--rounds 3] [--texts 32]

Reports, per text, the median over interleaved rounds (each round times every row once,
within a few seconds: this shared machine changes speed between phases):

* **floor**: onnxruntime ``session.run`` on pre-tokenized input (the tokenizer ran
  before the clock; the binding's session options: one thread, all graph
  optimisations): batch 1 = one text per run, batch 64 = one run on the 64 texts
  padded to their longest;
* **policyc binding**: ``TokenizedClassifier`` as compiled from ``tools/minilm_guard.pol``
  (tokenizing included): ``score_row`` per text at batch 1, ``score_matrix`` at batch
  64 (grouped by token length, each group padded to its own longest); and the same
  through the bundle's ``Bindings`` (``scores`` / ``scores_batch``);
* **n-gram text path**: ``std.baseline`` (the shipped default classifier, its
  normalization, the baseline's detectors) through ``Bindings``.

Goal: the binding within 1.15x of the floor at batch 1 and at batch 64.
Texts: the team data's test split (``examples/data/team``), the first ``--texts`` of
each kind, in a fixed order.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402

from policyc.runtime import Bundle  # noqa: E402
from policyc.runtime.classifier_options import cache_models_dir  # noqa: E402

GOAL = 1.15
POLICY = REPO / "tools" / "minilm_guard.pol"
MODEL = cache_models_dir() / "minilm-1.1.0"


def team_texts(n: int) -> list[str]:
    out: list[str] = []
    for stem in ("harmful", "tricky_benign", "controls"):
        with open(REPO / "examples" / "data" / "team" / f"{stem}.jsonl", encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh]
        out += [r["text"] for r in rows if r.get("split") == "test"][:n]
    return out


def compile_bundle(policy: Path, out: Path) -> Bundle:
    from policyc.compile.pipeline import compile_file

    state = compile_file(policy)
    if state.bundle is None:
        sys.exit(f"cannot compile {policy}: " + "; ".join(d.message for d in state.diagnostics))
    out.write_bytes(state.bundle)
    return Bundle.load(out)


def floor_session() -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 4  # as the binding: no per-run warnings on stderr
    return ort.InferenceSession(str(MODEL / "model.onnx"), so,
                                providers=["CPUExecutionProvider"])


def pretokenized(texts: list[str]) -> tuple[list[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """Feeds per text, and one padded batch of all: what a caller would hand onnxruntime."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(MODEL / "tokenizer.json"))  # pads to longest, cuts at 256
    ones = []
    for t in texts:
        e = tok.encode(t)
        ones.append({"input_ids": np.array([e.ids], dtype=np.int64),
                     "attention_mask": np.array([e.attention_mask], dtype=np.int64)})
    enc = tok.encode_batch(texts)
    batch = {"input_ids": np.array([e.ids for e in enc], dtype=np.int64),
             "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64)}
    return ones, batch


def timed(fn: Callable[[], object], n_texts: int) -> float:
    """µs per text of one call of `fn` (which handles `n_texts` texts)."""
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) / n_texts * 1e6


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument("--texts", type=int, default=22,
                    help="test-split texts per kind for batch 1 (default 22: 66 texts)")
    args = ap.parse_args(argv)
    if not (MODEL / "model.onnx").is_file():
        sys.exit(f"no MiniLM model in {MODEL}: build it with `python tools/build_minilm.py`")

    texts = team_texts(args.texts)
    batch64 = (texts * 2)[:64]
    tmp = Path(tempfile.mkdtemp(prefix="policyc-bench-"))
    minilm = compile_bundle(POLICY, tmp / "minilm.pbundle")
    baseline = compile_bundle(REPO / "stdlib_policies" / "baseline.pol", tmp / "base.pbundle")
    clf = minilm.bindings._model(minilm.bindings.classifier_specs[0])
    sess = floor_session()
    ones, padded = pretokenized(batch64)
    ones1, _ = pretokenized(texts)
    fetch = ["probabilities"]
    b_minilm, b_base = minilm.bindings, baseline.bindings

    # agreement first: the binding's scores are the floor's
    want = np.concatenate([sess.run(fetch, f)[0] for f in ones1])
    got = clf.score_matrix(texts)
    assert np.abs(got - want).max() < 1e-4, np.abs(got - want).max()

    rows: dict[str, Callable[[], float]] = {
        "floor b1": lambda: timed(lambda: [sess.run(fetch, f) for f in ones1], len(texts)),
        "binding b1": lambda: timed(lambda: [clf.score_row(t) for t in texts], len(texts)),
        "Bindings.scores b1": lambda: timed(lambda: [b_minilm.scores(t) for t in texts],
                                            len(texts)),
        "floor b64": lambda: timed(lambda: sess.run(fetch, padded), 64),
        "binding b64": lambda: timed(lambda: clf.score_matrix(batch64), 64),
        "Bindings.scores_batch b64": lambda: timed(lambda: b_minilm.scores_batch(batch64), 64),
        "n-gram path b1": lambda: timed(lambda: [b_base.scores(t) for t in texts], len(texts)),
        "n-gram path b64": lambda: timed(lambda: b_base.scores_batch(batch64), 64),
    }
    for fn in rows.values():  # warm-up: sessions, caches, the tokenizer
        fn()
    results: dict[str, list[float]] = {k: [] for k in rows}
    ratios: dict[str, list[float]] = {"b1": [], "b64": []}
    for _ in range(max(1, args.rounds)):
        got_round = {k: fn() for k, fn in rows.items()}
        for k, v in got_round.items():
            results[k].append(v)
        ratios["b1"].append(got_round["binding b1"] / got_round["floor b1"])
        ratios["b64"].append(got_round["binding b64"] / got_round["floor b64"])

    print(f"MiniLM binding vs floor: {len(texts)} team test texts at batch 1, 64 at batch 64; "
          f"{args.rounds} interleaved rounds, median; Python {platform.python_version()}, "
          f"onnxruntime {ort.__version__}")
    print(f"{'':28} {'µs/text':>10}")
    for k, v in results.items():
        print(f"{k:28} {statistics.median(v):10.1f}")
    for b in ("b1", "b64"):
        r = statistics.median(ratios[b])
        per_round = ", ".join(f"{x:.3f}" for x in ratios[b])
        print(f"binding / floor at {b}: {r:.3f}x (rounds: {per_round}); goal <= {GOAL}x: "
              f"{'met' if r <= GOAL else 'NOT met'}")
    ngram = statistics.median(results["n-gram path b1"])
    print(f"MiniLM binding / n-gram text path at batch 1: "
          f"{statistics.median(results['binding b1']) / ngram:.0f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
