"""Classifier bindings at run time: detectors and ONNX models, built lazily, once.

A bundle that binds no ONNX model never imports onnxruntime; one without
detectors never imports re2. A binding that fails (model error, bad input) is
reported as a `Failure`, never raised: the checker applies `on_error` to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

from policyc.runtime.bundle import BundleData, ClassifierSpec, DecisionSpec, DetectorSpec

#: Batches at least this large score models and detectors at the same time.
_OVERLAP_MIN = 64
_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    """One worker for batch model scoring, made on first use."""
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(1, thread_name_prefix="policyc-models")
    return _POOL


@dataclass(frozen=True)
class Failure:
    binding: str
    categories: tuple[str, ...]
    on_error: DecisionSpec | None  # None: the policy's
    message: str


class Bindings:
    """Every score the bundle can compute from text, by leaf category."""

    def __init__(self, data: BundleData):
        self._data = data
        self.detector_specs: list[DetectorSpec] = list(data.manifest.detectors)
        self.classifier_specs: list[ClassifierSpec] = list(data.manifest.classifiers)
        self._detectors: list[tuple[str, Any]] | None = None
        self._plan: tuple[list[tuple[str, Any, Any]],
                          list[tuple[ClassifierSpec, tuple[str, ...]]], bool] | None = None
        self._models: dict[str, Any] = {}
        self._model_errors: dict[str, str] = {}
        self.categories: frozenset[str] = frozenset(
            [d.category for d in self.detector_specs]
            + [cat for c in self.classifier_specs for cat, _ in c.labels])

    def _build_detectors(self) -> list[tuple[str, Any]]:
        if self._detectors is None:
            from policyc.runtime.detectors import KeywordDetector, RegexDetector

            built: list[tuple[str, Any]] = []
            for d in self.detector_specs:
                det = (RegexDetector(d.pattern or "", d.validator) if d.kind == "regex"
                       else KeywordDetector(d.keywords))
                built.append((d.category, det))
            self._detectors = built
        return self._detectors

    def _model(self, spec: ClassifierSpec) -> Any:
        model = self._models.get(spec.name)
        if model is None and spec.name not in self._model_errors:
            try:
                from policyc.runtime.onnx_binding import OnnxClassifier

                model = OnnxClassifier(self._data.blob(spec.file), dict(spec.labels))
                self._models[spec.name] = model
            except Exception as err:  # binding failures are data, not crashes
                self._model_errors[spec.name] = f"classifier `{spec.name}` cannot be loaded: {err}"
        return model

    def _text_plan(self) -> tuple[list[tuple[str, Any, Any]],
                                  list[tuple[ClassifierSpec, tuple[str, ...]]], bool]:
        """What `scores` runs, worked out once: detectors with their normal forms, the
        classifiers with their categories, and whether any two bindings share a category
        (if not, results are stored as they come, without taking a maximum)."""
        plan = self._plan
        if plan is None:
            dets = [(cat, det, det.normal_form) for cat, det in
                    (self._build_detectors() if self.detector_specs else ())]
            models = [(spec, tuple(cat for cat, _ in spec.labels))
                      for spec in self.classifier_specs]
            cats = [c for c, _, _ in dets] + [c for _, cs in models for c in cs]
            plan = self._plan = (dets, models, len(set(cats)) < len(cats))
        return plan

    def scores(self, text: str, supplied: frozenset[str] | set[str] = frozenset()
               ) -> tuple[dict[str, float], list[Failure]]:
        """Scores computed from `text`, skipping bindings whose categories are all supplied.

        On the per-text latency budget: the loop is planned once (`_text_plan`), and a
        classifier's scores (Python floats from the model) are checked and stored as a
        whole.
        """
        detectors, models, shared = self._text_plan()
        out: dict[str, float] = {}
        failures: list[Failure] = []
        prepared: dict[Any, bytes] = {}  # normal form -> the text in it: once per text
        for category, det, form in detectors:
            if supplied and category in supplied:
                continue
            try:
                data = prepared.get(form)
                if data is None:
                    data = prepared[form] = det.prepare(text)
                s = det.score_prepared(data)  # 0.0 or 1.0
            except Exception as err:  # pragma: no cover - detectors are total on str
                failures.append(Failure(f"detector {category}", (category,), None, str(err)))
                continue
            out[category] = max(out.get(category, 0.0), s) if shared else s
        for spec, cats in models:
            if supplied and all(c in supplied for c in cats):
                continue
            model = self._models.get(spec.name) or self._model(spec)
            if model is None:
                failures.append(Failure(spec.name, cats, spec.on_error,
                                        self._model_errors[spec.name]))
                continue
            try:
                got = model.score(text)
            except Exception as err:
                failures.append(Failure(spec.name, cats, spec.on_error,
                                        f"classifier `{spec.name}` failed: {err}"))
                continue
            for cat, v in got.items():
                if not 0.0 <= v <= 1.0:  # NaN too
                    failures.append(Failure(spec.name, cats, spec.on_error,
                                            f"classifier `{spec.name}` returned {v} for `{cat}`"))
                    break
            else:
                if shared:
                    for cat, v in got.items():
                        out[cat] = max(out.get(cat, 0.0), v)
                else:
                    out.update(got)
        return out, failures

    def scores_batch(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Every bound category's scores for many texts (float32 columns, `check_batch` input).

        Classifiers run once over all texts (grouped by length); detectors normalize each
        text once per normal form. Raises `BindingError` if a classifier cannot be loaded
        or fails, and ValueError if it returns a score outside [0, 1]: a batch has no
        per-event `on_error`, so decide such texts one by one with `check`.
        """
        import numpy as np

        n = len(texts)
        out: dict[str, np.ndarray] = {}
        models = []
        for spec in self.classifier_specs:
            model = self._model(spec)
            if model is None:
                from policyc.runtime.onnx_binding import BindingError

                raise BindingError(self._model_errors[spec.name])
            models.append((spec, model))
        # onnxruntime releases the GIL while it runs: on a big batch the models run in a
        # worker thread while this one runs the detectors (one core each)
        pending = None
        if models and self.detector_specs and n >= _OVERLAP_MIN:
            pending = _pool().submit(lambda: [m.score_batch(texts) for _, m in models])
        prepared: dict[Any, list[bytes]] = {}  # normal form -> the texts in it
        for category, det in self._build_detectors() if self.detector_specs else ():
            data = prepared.get(det.normal_form)
            if data is None:
                data = prepared[det.normal_form] = [det.prepare(t) for t in texts]
            col = np.fromiter(map(det.score_prepared, data), dtype=np.float32, count=n)
            out[category] = np.maximum(out[category], col) if category in out else col
        results = (pending.result() if pending is not None
                   else [m.score_batch(texts) for _, m in models])
        for (spec, _), scores in zip(models, results, strict=True):
            for cat, col in scores.items():
                if col.size and not (col.min() >= 0.0 and col.max() <= 1.0):
                    raise ValueError(f"classifier `{spec.name}` returned a score outside "
                                     f"[0, 1] for `{cat}`")
                out[cat] = np.maximum(out[cat], col) if cat in out else col
        return out

    def spans(self, text: str, categories: set[str] | None) -> list[tuple[int, int]]:
        """Detector matches in `text` (for redaction), for `categories` or every detector."""
        found: list[tuple[int, int]] = []
        for category, det in self._build_detectors() if self.detector_specs else ():
            if categories is None or category in categories:
                found.extend(det.spans(text))
        return sorted(set(found))
