"""Classifier bindings at run time: detectors and ONNX models, built lazily, once.

A bundle that binds no ONNX model never imports onnxruntime; one without
detectors never imports re2. A binding that fails (model error, bad input) is
reported as a `Failure`, never raised: the checker applies `on_error` to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from policyc.runtime.bundle import BundleData, ClassifierSpec, DecisionSpec, DetectorSpec


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

    def scores(self, text: str, supplied: frozenset[str] | set[str] = frozenset()
               ) -> tuple[dict[str, float], list[Failure]]:
        """Scores computed from `text`, skipping bindings whose categories are all supplied."""
        out: dict[str, float] = {}
        failures: list[Failure] = []
        for category, det in self._build_detectors() if self.detector_specs else ():
            if category in supplied:
                continue
            try:
                s = float(det.score(text))
            except Exception as err:  # pragma: no cover - detectors are total on str
                failures.append(Failure(f"detector {category}", (category,), None, str(err)))
                continue
            out[category] = max(out.get(category, 0.0), s)
        for spec in self.classifier_specs:
            cats = tuple(cat for cat, _ in spec.labels)
            if all(c in supplied for c in cats):
                continue
            model = self._model(spec)
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
            for cat, value in got.items():
                v = float(value)
                if not 0.0 <= v <= 1.0:  # NaN too
                    failures.append(Failure(spec.name, cats, spec.on_error,
                                            f"classifier `{spec.name}` returned {v} for `{cat}`"))
                    break
                out[cat] = max(out.get(cat, 0.0), v)
        return out, failures

    def spans(self, text: str, categories: set[str] | None) -> list[tuple[int, int]]:
        """Detector matches in `text` (for redaction), for `categories` or every detector."""
        found: list[tuple[int, int]] = []
        for category, det in self._build_detectors() if self.detector_specs else ():
            if categories is None or category in categories:
                found.extend(det.spans(text))
        return sorted(set(found))
