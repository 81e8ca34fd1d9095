"""Classifier bindings at run time: detectors and ONNX models, built lazily, once.

A bundle that binds no ONNX model never imports onnxruntime; one without
detectors never imports re2. A binding that fails (model error, bad input) is
reported as a `Failure`, never raised: the checker applies `on_error` to it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import numpy as np

from policyc.runtime.bundle import BundleData, ClassifierSpec, DecisionSpec, DetectorSpec
from policyc.runtime.detector_specs import build_detector
from policyc.runtime.errors import BindingError

#: Binding failures are logged here (WARNING) as well as put in the decision's `errors`:
#: without logging configured, Python prints them on stderr.
log = logging.getLogger("policyc.runtime")

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


class _TextPlan(NamedTuple):
    """`Bindings.scores`' loop, planned once per bundle."""

    detectors: list[tuple[str, Any, Any]]  # (category, detector, its normal form)
    screen: Any  # an AsciiScreen over every detector, or None
    no_detections: dict[str, float]  # every detector category -> 0.0
    models: list[tuple[ClassifierSpec, tuple[str, ...]]]  # with their categories
    shared: bool  # two bindings share a category: take the maximum
    fast: Callable[[str], dict[str, float] | None] | None  # see Bindings._fast_scores


class Bindings:
    """Every score the bundle can compute from text, by leaf category."""

    def __init__(self, data: BundleData):
        self._data = data
        self.detector_specs: list[DetectorSpec] = list(data.manifest.detectors)
        self.classifier_specs: list[ClassifierSpec] = list(data.manifest.classifiers)
        self._detectors: list[tuple[str, Any]] | None = None
        self._plan: _TextPlan | None = None
        self._models: dict[str, Any] = {}
        self._model_errors: dict[str, str] = {}
        #: model member -> classifiers not built yet; its bytes are released at 0
        self._model_users: dict[str, int] = {}
        self._building = threading.Lock()
        for c in self.classifier_specs:
            self._model_users[c.file] = self._model_users.get(c.file, 0) + 1
        self.categories: frozenset[str] = frozenset(
            [d.category for d in self.detector_specs]
            + [cat for c in self.classifier_specs for cat, _ in c.labels])
        if self.detector_specs:  # at load: a detector that cannot be built refuses the bundle
            self._build_detectors()

    def _build_detectors(self) -> list[tuple[str, Any]]:
        if self._detectors is None:
            from policyc.runtime.bundle import BundleError
            from policyc.runtime.detectors import DetectorError

            built: list[tuple[str, Any]] = []
            for d in self.detector_specs:
                try:
                    det = build_detector(d.kind, d.pattern, d.validator, d.keywords)
                except DetectorError as err:
                    raise BundleError(f"{self._data.source}: detector for `{d.category}` "
                                      f"cannot be built: {err} (tampered?)") from None
                built.append((d.category, det))
            self._detectors = built
        return self._detectors

    def _model(self, spec: ClassifierSpec) -> Any:
        model = self._models.get(spec.name)
        if model is None and spec.name not in self._model_errors:
            with self._building:  # once: the model's bytes are released after its last build
                model = self._models.get(spec.name)
                if model is None and spec.name not in self._model_errors:
                    model = self._build_model(spec)
        return model

    def _build_model(self, spec: ClassifierSpec) -> Any:
        model = None
        try:
            from policyc.runtime.onnx_binding import OnnxClassifier

            model = OnnxClassifier(self._data.blob(spec.file), dict(spec.labels))
            self._models[spec.name] = model
        except Exception as err:  # binding failures are data, not crashes
            self._model_errors[spec.name] = f"classifier `{spec.name}` cannot be loaded: {err}"
        self._model_users[spec.file] -= 1
        if not self._model_users[spec.file]:  # the sessions hold what they need
            self._data.release(spec.file)
        return model

    def _text_plan(self) -> _TextPlan:
        """What `scores` runs, worked out once (see `_TextPlan`)."""
        plan = self._plan
        if plan is None:
            built = self._build_detectors() if self.detector_specs else []
            dets = [(cat, det, det.normal_form) for cat, det in built]
            screen = None
            if len(built) > 1:  # one detector costs what the screen would
                from policyc.runtime.detectors import AsciiScreen

                screen = AsciiScreen([det for _, det in built])
                screen = screen if screen.ok else None
            models = [(spec, tuple(cat for cat, _ in spec.labels))
                      for spec in self.classifier_specs]
            cats = [c for c, _, _ in dets] + [c for _, cs in models for c in cs]
            plan = _TextPlan(dets, screen, dict.fromkeys([c for c, _, _ in dets], 0.0),
                             models, len(set(cats)) < len(cats), None)
            plan = self._plan = plan._replace(fast=self._fast_scores(plan))
        return plan

    def _fast_scores(self, plan: _TextPlan) -> Callable[[str], dict[str, float] | None] | None:
        """`scores` for the common case, as one closure over the plan; None if it has none.

        At batch 1 every Python step after the model's run is slow (the run has just
        evicted the caches), so this does as few as it can: no failure list, no
        per-call plan lookups, a row of the model read by index. It returns None when
        anything fails or a score is out of range, and `scores` then takes the general
        path, which records the failure. The common case: every classifier loads and
        nothing is supplied.
        """
        models = []
        for spec, _ in plan.models:
            model = self._model(spec)
            if model is None:
                return None
            models.append((model, model.columns))
        screen, detector_scores = plan.screen, self._detector_scores
        no_detections = plan.no_detections
        always_clear = not plan.detectors

        def fast(text: str) -> dict[str, float] | None:
            if always_clear or screen is not None and screen.clear(text):
                out = no_detections.copy()
            else:
                failures: list[Failure] = []
                out = detector_scores(text, plan, frozenset(), failures)
                if failures:  # pragma: no cover - detectors are total on str
                    return None
            for model, columns in models:
                try:
                    row = model.score_row(text)
                except Exception:
                    return None
                for cat, j in columns:
                    v = row[j]
                    if not 0.0 <= v <= 1.0:  # NaN too
                        return None
                    if v >= out.get(cat, 0.0):  # a category bound twice takes the maximum
                        out[cat] = v
            return out

        return fast

    def scores(self, text: str, supplied: frozenset[str] | set[str] = frozenset()
               ) -> tuple[dict[str, float], list[Failure]]:
        """Scores computed from `text`, skipping bindings whose categories are all supplied.

        The common case runs the plan's fast closure; this general path handles
        supplied scores and failures (it records each one for `on_error`).
        """
        plan = self._plan or self._text_plan()
        if not supplied and plan.fast is not None:
            out = plan.fast(text)
            if out is not None:
                return out, []
        failures: list[Failure] = []
        out = self._detector_scores(text, plan, supplied, failures) if plan.detectors else {}
        shared = plan.shared
        for spec, cats in plan.models:
            if supplied and all(c in supplied for c in cats):
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
            bad = next(((c, v) for c, v in got.items() if not 0.0 <= v <= 1.0), None)  # NaN too
            if bad is not None:
                failures.append(Failure(spec.name, cats, spec.on_error,
                                        f"classifier `{spec.name}` returned {bad[1]} for "
                                        f"`{bad[0]}`"))
            elif shared:
                for cat, v in got.items():
                    out[cat] = max(out.get(cat, 0.0), v)
            else:
                out.update(got)
        if failures:
            _log_failures(failures)
        return out, failures

    @staticmethod
    def _detector_scores(text: str, plan: _TextPlan, supplied: frozenset[str] | set[str],
                         failures: list[Failure]) -> dict[str, float]:
        """Each detector's score, normalizing the text once per normal form."""
        out: dict[str, float] = {}
        # normal form -> the text in it, or why it could not be normalized (a text
        # too expanding to normalize: each detector on that form fails with it)
        prepared: dict[Any, bytes | Exception] = {}
        for category, det, form in plan.detectors:
            if supplied and category in supplied:
                continue
            try:
                data = prepared.get(form)
                if data is None:
                    try:
                        data = prepared[form] = det.prepare(text)
                    except Exception as err:
                        data = prepared[form] = err
                if isinstance(data, Exception):
                    raise data
                s = det.score_prepared(data)  # 0.0 or 1.0
            except Exception as err:
                failures.append(Failure(f"detector {category}", (category,), None,
                                        f"detector `{category}` failed: {err}"))
                continue
            out[category] = max(out.get(category, 0.0), s) if plan.shared else s
        return out

    def scores_batch(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Every bound category's scores for many texts (float32 columns, `check_batch` input).

        Classifiers run once over all texts (grouped by length); detectors normalize each
        text the screen does not clear once per normal form. Raises `BindingError` if a
        classifier cannot be loaded or fails, ValueError if it returns a score outside
        [0, 1] or a text is too expanding to normalize for the detectors: a batch has no
        per-event `on_error`, so decide such texts one by one with `check`.
        """
        import numpy as np

        n = len(texts)
        out: dict[str, np.ndarray] = {}
        models = []
        for spec in self.classifier_specs:
            model = self._model(spec)
            if model is None:
                raise BindingError(self._model_errors[spec.name])
            models.append((spec, model))
        # onnxruntime releases the GIL while it runs: on a big batch the models run in a
        # worker thread while this one runs the detectors (one core each)
        pending = None
        if models and self.detector_specs and n >= _OVERLAP_MIN:
            pending = _pool().submit(lambda: [m.score_batch(texts) for _, m in models])
        plan = self._text_plan()
        # only the texts the screen does not clear go through the detectors one by one
        todo = (list(range(n)) if plan.screen is None
                else [i for i, t in enumerate(texts) if not plan.screen.clear(t)])
        prepared: dict[Any, list[bytes]] = {}  # normal form -> the texts in it
        for category, det, form in plan.detectors:
            data = prepared.get(form)
            if data is None:
                data = prepared[form] = [_prepare_or_raise(det, texts, i) for i in todo]
            col = np.zeros(n, dtype=np.float32)
            col[todo] = np.fromiter(map(det.score_prepared, data), dtype=np.float32,
                                    count=len(todo))
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


def _prepare_or_raise(det: Any, texts: Sequence[str], i: int) -> bytes:
    """``det.prepare(texts[i])``; a text that cannot be normalized names its index."""
    try:
        data: bytes = det.prepare(texts[i])
    except ValueError as err:
        raise ValueError(f"text {i}: {err}") from err
    return data


def _log_failures(failures: list[Failure]) -> None:
    """One warning per cause: a text no detector can normalize fails them all alike."""
    by_cause: dict[str, list[str]] = {}
    for f in failures:
        who, sep, cause = f.message.partition(" failed: ")
        if sep:
            by_cause.setdefault(cause, []).append(who)
        else:
            log.warning("%s", f.message)
    for cause, who_list in by_cause.items():
        log.warning("%s failed: %s", ", ".join(dict.fromkeys(who_list)), cause)
