"""Classifier bindings at run time: detectors and ONNX models, built lazily, once.

A bundle that binds no ONNX model never imports onnxruntime; one without
detectors never imports re2. A binding that fails (model error, bad input) is
reported as a `Failure`, never raised: the checker applies `on_error` to it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import numpy as np

    #: What `start_models` leaves in its future: each classifier's columns.
    Started = list[dict[str, np.ndarray]]

from policyc.runtime.bundle import BundleData, ClassifierSpec, DecisionSpec, DetectorSpec
from policyc.runtime.detector_specs import build_detector
from policyc.runtime.errors import BindingError

#: Binding failures are logged here (WARNING) as well as put in the decision's `errors`:
#: without logging configured, Python prints them on stderr.
log = logging.getLogger("policyc.runtime")

#: Batches at least this large score models and detectors at the same time.
_OVERLAP_MIN = 64
#: A detector's part in the claim rule (see `Bindings._build_detectors`).
_PLAIN, _CLAIMS, _CLAIMABLE = 0, 1, 2
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


class _ClaimPlan(NamedTuple):
    """The claim rule's part of a `_TextPlan`, for a bundle that has both kinds of detector."""

    roles: tuple[int, ...]  # per detector of the plan: _PLAIN, _CLAIMS or _CLAIMABLE
    claiming: dict[str, list[tuple[Any, Any]]]  # category -> its claiming (detector, form)
    claimable: tuple[str, ...]  # the categories that have a claimable detector
    members: dict[str, list[tuple[Any, Any, int]]]  # such a category -> (det, form, role)
    # scores -> a tuple of the claiming / claimable categories' scores (KeyError if one
    # is missing): two C calls tell that the rule cannot apply, on the per-text path
    claiming_scores: Callable[[dict[str, float]], tuple[float, ...]]
    claimable_scores: Callable[[dict[str, float]], tuple[float, ...]]


class _TextPlan(NamedTuple):
    """`Bindings.scores`' loop, planned once per bundle."""

    detectors: list[tuple[str, Any, Any]]  # (category, detector, its normal form)
    screen: Any  # an AsciiScreen over every detector, or None
    no_detections: dict[str, float]  # every detector category -> 0.0
    models: list[tuple[ClassifierSpec, tuple[str, ...]]]  # with their categories
    shared: bool  # two bindings share a category: take the maximum
    fast: Callable[[str], dict[str, float] | None] | None  # see Bindings._fast_scores
    claims: _ClaimPlan | None  # None: no detector claims another's spans


class Bindings:
    """Every score the bundle can compute from text, by leaf category."""

    def __init__(self, data: BundleData):
        self._data = data
        self.detector_specs: list[DetectorSpec] = list(data.manifest.detectors)
        self.classifier_specs: list[ClassifierSpec] = list(data.manifest.classifiers)
        self._detectors: list[tuple[str, Any, int]] | None = None
        self._plan: _TextPlan | None = None
        self._models: dict[str, Any] = {}
        self._model_errors: dict[str, str] = {}
        #: model member -> classifiers not built yet; its bytes are released at 0
        self._model_users: dict[str, int] = {}
        self._building = threading.Lock()
        for c in self.classifier_specs:
            for member in _members(c):
                self._model_users[member] = self._model_users.get(member, 0) + 1
        self.categories: frozenset[str] = frozenset(
            [d.category for d in self.detector_specs]
            + [cat for c in self.classifier_specs for cat, _ in c.labels])
        if self.detector_specs:  # at load: a detector that cannot be built refuses the bundle
            self._build_detectors()

    def _build_detectors(self) -> list[tuple[str, Any, int]]:
        """(category, detector, role) per detector, in declaration order.

        The role is the detector's part in the claim rule (`docs/language.md`,
        detectors): a regex detector with a validator claims the spans of its
        matches (`_CLAIMS`); a regex detector without one does not report a match
        that overlaps a claimed span (`_CLAIMABLE`). Both need the other kind on the
        same normal form in the bundle; any other detector is `_PLAIN`.
        """
        if self._detectors is None:
            from policyc.runtime.bundle import BundleError
            from policyc.runtime.detectors import DetectorError, RegexDetector

            dets: list[tuple[str, Any]] = []
            for d in self.detector_specs:
                try:
                    det = build_detector(d.kind, d.pattern, d.validator, d.keywords)
                except DetectorError as err:
                    raise BundleError(f"{self._data.source}: detector for `{d.category}` "
                                      f"cannot be built: {err} (tampered?)") from None
                dets.append((d.category, det))
            forms: dict[bool, set[Any]] = {True: set(), False: set()}  # validated? -> forms
            for _, det in dets:
                if isinstance(det, RegexDetector):
                    forms[det.validator is not None].add(det.normal_form)
            both = forms[True] & forms[False]
            self._detectors = [
                (cat, det, _PLAIN if not isinstance(det, RegexDetector)
                 or det.normal_form not in both
                 else _CLAIMS if det.validator is not None else _CLAIMABLE)
                for cat, det in dets]
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
        model: Any = None
        try:
            tok = spec.tokenizer
            if tok is None:
                from policyc.runtime.onnx_binding import OnnxClassifier

                model = OnnxClassifier(self._data.blob(spec.file), dict(spec.labels),
                                       normalize=spec.normalize, source=spec.source)
            else:
                from policyc.runtime.tokenized_binding import TokenizedClassifier

                model = TokenizedClassifier(
                    self._data.blob(spec.file), self._data.blob(tok.file), dict(spec.labels),
                    config=self._data.blob(tok.config_file) if tok.config_file else None,
                    options=tok.options, source=spec.source, tokenizer_source=tok.source)
            self._models[spec.name] = model
        except Exception as err:  # binding failures are data, not crashes
            self._model_errors[spec.name] = f"classifier `{spec.name}` cannot be loaded: {err}"
        for member in _members(spec):
            self._model_users[member] -= 1
            if not self._model_users[member]:  # the sessions hold what they need
                self._data.release(member)
        return model

    def _text_plan(self) -> _TextPlan:
        """What `scores` runs, worked out once (see `_TextPlan`)."""
        plan = self._plan
        if plan is None:
            built = self._build_detectors() if self.detector_specs else []
            dets = [(cat, det, det.normal_form) for cat, det, _ in built]
            screen = None
            if len(built) > 1:  # one detector costs what the screen would
                from policyc.runtime.detectors import AsciiScreen

                screen = AsciiScreen([det for _, det, _ in built])
                screen = screen if screen.ok else None
            models = [(spec, tuple(cat for cat, _ in spec.labels))
                      for spec in self.classifier_specs]
            cats = [c for c, _, _ in dets] + [c for _, cs in models for c in cs]
            plan = _TextPlan(dets, screen, dict.fromkeys([c for c, _, _ in dets], 0.0),
                             models, len(set(cats)) < len(cats), None, _claim_plan(built))
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
        """Each detector's score, normalizing the text once per normal form.

        Then the claim rule (`_apply_claims`), when a claiming and a claimable
        detector both fired. This loop is on the per-text latency budget: the text in
        the current normal form is kept at hand (detectors of one form are usually
        consecutive), and a score is 0.0 or 1.0, so "the maximum" is a store when 1.0.
        """
        out: dict[str, float] = {}
        shared = plan.shared
        # normal form -> the text in it, or why it could not be normalized (a text
        # too expanding to normalize: each detector on that form fails with it)
        prepared: dict[Any, bytes | Exception] = {}
        current: Any = None  # the normal form `data` is in
        data = b""
        unprepared: Exception | None = None  # why `text` has no `current` form
        for category, det, form in plan.detectors:
            if supplied and category in supplied:
                continue
            if form is not current:
                got = prepared.get(form)
                if got is None:
                    try:
                        got = prepared[form] = det.prepare(text)
                    except Exception as err:
                        got = prepared[form] = err
                current = form
                if isinstance(got, Exception):
                    unprepared = got
                else:
                    data, unprepared = got, None
            try:
                if unprepared is not None:
                    raise unprepared
                s = det.score_prepared(data)  # 0.0 or 1.0
            except Exception as err:
                failures.append(Failure(f"detector {category}", (category,), None,
                                        f"detector `{category}` failed: {err}"))
                continue
            if s or not shared or category not in out:  # the maximum of 0.0s and 1.0s
                out[category] = s
        claims = plan.claims
        if claims is not None:  # the rule applies only if both kinds of detector fired
            try:
                both = 1.0 in claims.claiming_scores(out) and 1.0 in claims.claimable_scores(out)
            except KeyError:  # a supplied or failed category: the general check
                both = any(out.get(c) for c in claims.claimable)
            if both:
                _apply_claims(text, claims, prepared, out, supplied)
        return out

    def start_models(self, texts: Sequence[str]) -> Future[Started] | None:
        """Start the classifiers on `texts` in the model thread, for a later
        `scores_batch(texts, started=…)`: a caller with other work to do (the streaming
        engine decoding its next chunk) overlaps it with the models. None when there is
        nothing to start or a classifier cannot be loaded (`scores_batch` then raises)."""
        models = [self._model(spec) for spec in self.classifier_specs]
        if not texts or not models or any(m is None for m in models):
            return None

        # the models' Python part (normalizing, grouping) here, their runs there; a
        # failure here is the future's, as one there would be (`scores_batch` raises it)
        try:
            jobs = [m.batch_job(texts) for m in models]  # type: ignore[union-attr]
        except Exception as exc:  # noqa: BLE001 - raised again by `result()`
            failed: Future[Started] = Future()
            failed.set_exception(exc)
            return failed
        return _pool().submit(lambda: [job() for job in jobs])

    def scores_batch(self, texts: Sequence[str], started: Future[Started] | None = None
                     ) -> dict[str, np.ndarray]:
        """Every bound category's scores for many texts (float32 columns, `check_batch` input).

        Classifiers run once over all texts (grouped by length); detectors normalize each
        text the screen does not clear once per normal form. Raises `BindingError` if a
        classifier cannot be loaded or fails, ValueError if it returns a score outside
        [0, 1] or a text is too expanding to normalize for the detectors: a batch has no
        per-event `on_error`, so decide such texts one by one with `check`. `started`:
        `start_models(texts)`'s result, the same texts.
        """
        import numpy as np

        models = []
        for spec in self.classifier_specs:
            model = self._model(spec)
            if model is None:
                raise BindingError(self._model_errors[spec.name])
            models.append((spec, model))
        # onnxruntime releases the GIL while it runs: on a big batch the models run in a
        # worker thread while this one runs the detectors (one core each)
        pending = started
        if pending is None and self.detector_specs and len(texts) >= _OVERLAP_MIN:
            pending = self.start_models(texts)
        out = self._detector_columns(texts)
        if pending is not None:
            results = pending.result()
        else:
            results = [m.score_batch(texts) for _, m in models]
        for (spec, _), scores in zip(models, results, strict=True):
            for cat, col in scores.items():
                if col.size and not (col.min() >= 0.0 and col.max() <= 1.0):
                    raise ValueError(f"classifier `{spec.name}` returned a score outside "
                                     f"[0, 1] for `{cat}`")
                out[cat] = np.maximum(out[cat], col) if cat in out else col
        return out

    def _detector_columns(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Each detector category's scores for many texts: only the texts the screen does
        not clear go through the detectors, each normalized once per normal form."""
        import numpy as np

        n = len(texts)
        out: dict[str, np.ndarray] = {}
        plan = self._text_plan()
        todo = list(range(n)) if plan.screen is None else plan.screen.uncleared(texts)
        prepared: dict[Any, list[bytes]] = {}  # normal form -> the texts in it
        fired: list[np.ndarray] = []  # per detector: its score on each text of `todo`
        for _, det, form in plan.detectors:
            data = prepared.get(form)
            if data is None:
                data = prepared[form] = [_prepare_or_raise(det, texts, i) for i in todo]
            fired.append(np.fromiter(map(det.score_prepared, data), dtype=np.float32,
                                     count=len(todo)))
        if plan.claims is not None:
            _unclaim_batch(plan, plan.claims, prepared, fired)
        for (category, _, _), got in zip(plan.detectors, fired, strict=True):
            col = np.zeros(n, dtype=np.float32)
            col[todo] = got
            out[category] = np.maximum(out[category], col) if category in out else col
        return out

    def matches(self, text: str, categories: set[str] | None = None
                ) -> list[tuple[int, int, str]]:
        """Detector matches in `text` as sorted (start, end, category), offsets into `text`,
        for `categories` or every detector.

        A match that the claim rule drops is not reported, whether or not the claiming
        detector's category is among `categories`: a card number is reported once, as a
        card, never as a phone number.
        """
        built = self._build_detectors() if self.detector_specs else []
        claimed: dict[Any, Any] = {}  # normal form -> Claimed
        if any(role == _CLAIMABLE and (categories is None or cat in categories)
               for cat, _, role in built):
            from policyc.runtime.normalize import NormalizationLimitError

            claiming: list[tuple[Any, Any, bytes]] = []
            prepared: dict[Any, bytes | None] = {}
            for _, det, role in built:
                if role == _CLAIMS:
                    form = det.normal_form
                    if form not in prepared:
                        try:
                            prepared[form] = det.prepare(text)
                        except NormalizationLimitError:  # `spans` then covers the whole text
                            prepared[form] = None
                    data = prepared[form]
                    if data is not None:
                        claiming.append((det, form, data))
            claimed = _claimed(claiming)
        found: set[tuple[int, int, str]] = set()
        for category, det, role in built:
            if categories is None or category in categories:
                drop = claimed.get(det.normal_form) if role == _CLAIMABLE else None
                found.update((s, e, category) for s, e in det.spans(text, drop))
        return sorted(found)

    def spans(self, text: str, categories: set[str] | None) -> list[tuple[int, int]]:
        """Detector matches in `text` (for redaction), for `categories` or every detector."""
        return sorted({(s, e) for s, e, _ in self.matches(text, categories)})


def _members(spec: ClassifierSpec) -> list[str]:
    """The bundle members a classifier is built from: its model, tokenizer and config."""
    tok = spec.tokenizer
    if tok is None:
        return [spec.file]
    return [spec.file, tok.file] + ([tok.config_file] if tok.config_file else [])


def _claim_plan(built: list[tuple[str, Any, int]]) -> _ClaimPlan | None:
    """The claim rule's plan for `Bindings._build_detectors`' detectors (None: nothing claims)."""
    roles = tuple(role for _, _, role in built)
    if _CLAIMS not in roles:
        return None
    claiming: dict[str, list[tuple[Any, Any]]] = {}
    for cat, det, role in built:
        if role == _CLAIMS:
            claiming.setdefault(cat, []).append((det, det.normal_form))
    claimable = tuple(dict.fromkeys(cat for cat, _, role in built if role == _CLAIMABLE))
    members = {cat: [(det, det.normal_form, role) for c, det, role in built if c == cat]
               for cat in claimable}
    return _ClaimPlan(roles, claiming, claimable, members,
                      _scores_of(tuple(claiming)), _scores_of(claimable))


def _scores_of(categories: tuple[str, ...]) -> Callable[[dict[str, float]], tuple[float, ...]]:
    """scores -> the tuple of these categories' scores (`itemgetter`, a tuple even for one)."""
    return itemgetter(*categories) if len(categories) > 1 else itemgetter(*categories * 2)


def _claimed(claiming: list[tuple[Any, Any, bytes]]) -> dict[Any, Any]:
    """Normal form -> the `Claimed` spans of these (claiming detector, form, its text)."""
    from policyc.runtime.detectors import Claimed

    spans: dict[Any, list[tuple[int, int]]] = {}
    for det, form, data in claiming:
        spans.setdefault(form, []).extend(det.matches_prepared(data))
    return {form: Claimed(found) for form, found in spans.items() if found}


def _apply_claims(text: str, claims: _ClaimPlan, prepared: dict[Any, bytes | Exception],
                  out: dict[str, float], supplied: frozenset[str] | set[str]) -> None:
    """The claim rule on one text's detector scores (`out`), once a claimable category fired.

    The claiming detectors that can have fired (their category scored, or is supplied:
    what they claim does not depend on what the caller supplies) give the claimed
    spans; each claimable category that scored 1 is then scored again, its claimable
    detectors counting only their matches outside those spans.
    """
    claiming: list[tuple[Any, Any, bytes]] = []
    for category, dets in claims.claiming.items():
        if out.get(category) or supplied and category in supplied:
            for det, form in dets:
                data = prepared.get(form)
                if data is None:  # every detector on this form was supplied
                    try:
                        data = prepared[form] = det.prepare(text)
                    except Exception as err:  # its failure is recorded with the detectors
                        data = prepared[form] = err
                if not isinstance(data, Exception):
                    claiming.append((det, form, data))
    claimed = _claimed(claiming) if claiming else None
    if not claimed:
        return
    for category in claims.claimable:
        if out.get(category) != 1.0:
            continue
        score = 0.0
        for det, form, role in claims.members[category]:
            data = prepared.get(form)
            if data is None or isinstance(data, Exception):
                continue  # this detector failed: its failure is recorded
            c = claimed.get(form) if role == _CLAIMABLE else None
            if det.score_unclaimed(data, c) if c is not None else det.score_prepared(data):
                score = 1.0
                break
        out[category] = score


def _unclaim_batch(plan: _TextPlan, claims: _ClaimPlan, prepared: dict[Any, list[bytes]],
                   fired: list[np.ndarray]) -> None:
    """The claim rule on `scores_batch`'s per-detector scores (over the unscreened texts).

    Where a claimable detector fired on a text on which a claiming detector of its
    normal form fired too, its score is recomputed without the claimed spans: what
    `_apply_claims` does for one text.
    """
    import numpy as np

    from policyc.runtime.detectors import Claimed

    claimants: dict[Any, list[tuple[Any, np.ndarray]]] = {}
    for (_, det, form), role, got in zip(plan.detectors, claims.roles, fired, strict=True):
        if role == _CLAIMS and got.any():
            claimants.setdefault(form, []).append((det, got))
    if not claimants:
        return
    any_claim = {form: np.logical_or.reduce([got > 0 for _, got in dets])
                 for form, dets in claimants.items()}
    cache: dict[tuple[Any, int], Claimed] = {}
    for (_, det, form), role, got in zip(plan.detectors, claims.roles, fired, strict=True):
        if role != _CLAIMABLE or form not in any_claim:
            continue
        for k in np.flatnonzero((got > 0) & any_claim[form]).tolist():
            data = prepared[form][k]
            claimed = cache.get((form, k))
            if claimed is None:
                claimed = cache[(form, k)] = Claimed(
                    [span for claimant, hits in claimants[form] if hits[k]
                     for span in claimant.matches_prepared(data)])
            got[k] = det.score_unclaimed(data, claimed)


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
