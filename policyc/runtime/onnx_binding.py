"""Run policyc text classifiers (ONNX, raw strings in, per-category scores out).

A model takes one string tensor ``[N]`` and returns one float tensor ``[N, L]``
(probabilities).  Its column names are the JSON list stored in the model's
metadata under ``policyc.labels``.  A policy refers to *categories*; ``labels``
maps each category to a model column.

The text is normalized before the model sees it, like the detectors' text
(:data:`FOLD`, :func:`policyc.runtime.normalize.fold`: NFKC, case folding,
invisible characters removed, confusables mapped to Latin), or with leetspeak and
spaced-out letters undone as well (:data:`FOLD_WORDS`, ``fold_words``) when the
model's metadata ``policyc.normalize`` asks for it, unless ``normalize=None``.
A bundle records the choice per classifier, by version.

Only numpy, onnxruntime and the standard library are imported here.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from policyc.runtime.errors import BindingError
from policyc.runtime.normalize import (
    NORMALIZATION_VERSION,
    WORDS_VERSION,
    fold,
    fold_many,
    fold_words,
)

__all__ = [
    "BindingError",
    "FOLD",
    "FOLD_WORDS",
    "LABELS_KEY",
    "NORMALIZE_KEY",
    "OnnxClassifier",
    "VERSION_KEY",
    "check_output",
    "load_error",
    "default_model_path",
    "length_groups",
    "sha256_file",
]

LABELS_KEY = "policyc.labels"
VERSION_KEY = "policyc.model_version"
NORMALIZE_KEY = "policyc.normalize"
#: The normalization of string-input models by default: the detectors' `fold`, by version.
FOLD = f"policyc-fold/{NORMALIZATION_VERSION}"
#: `fold`, then leetspeak and spaced-out letters undone (a model asks for it in metadata).
FOLD_WORDS = f"{FOLD}+words/{WORDS_VERSION}"
_NORMALIZERS = {FOLD: fold, FOLD_WORDS: fold_words}
#: `normalize` argument: the model's own `policyc.normalize`, else FOLD
AUTO = "auto"
DEFAULT_MODEL = "default_text.onnx"
#: onnxruntime log severity: 0 verbose, 1 info, 2 warning, 3 error, 4 fatal
_ORT_FATAL = 4
#: Where onnxruntime looks for the files of a model's external data: a folder that
#: cannot exist (under os.devnull). Left unset, it reads them from the working directory
#: of a model loaded from bytes: weights from outside the bundle, past its sha256 pins.
NO_EXTERNAL_DATA = os.path.join(os.devnull, "policyc-no-external-data")
EXTERNAL_DATA_KEY = "session.model_external_initializers_file_folder_path"


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def default_model_path() -> Path:
    """Path of the shipped default text classifier (installed wheel or source checkout)."""
    pkg = Path(__file__).resolve().parent.parent  # .../policyc
    for candidate in (
        pkg / "_stdlib_policies" / "models" / DEFAULT_MODEL,  # wheel (force-include)
        pkg.parent / "stdlib_policies" / "models" / DEFAULT_MODEL,  # checkout
    ):
        if candidate.is_file():
            return candidate
    raise BindingError(f"the default model {DEFAULT_MODEL} is not installed next to {pkg}")


def length_groups(lengths: np.ndarray, max_batch: int, max_chars: int) -> list[np.ndarray]:
    """Indices grouped by similar length (sorted ascending), so padding stays small.

    A group ends when its longest text would be more than twice (plus 16 chars)
    its shortest, when it holds ``max_batch`` texts, or when ``len * longest``
    exceeds ``max_chars``.
    """
    # a stable sort of 16-bit keys is a radix sort, ~10x a merge sort of 64-bit ones
    short = lengths.size and 0 <= lengths.min() and lengths.max() < 1 << 16
    order = np.argsort(lengths.astype(np.uint16) if short else lengths, kind="stable")
    sorted_lengths = lengths[order].tolist()  # plain ints: numpy scalars cost 10x here
    groups: list[np.ndarray] = []
    start = 0
    n = len(order)
    while start < n:
        # the group ends at the first text too long for it: each bound is a binary
        # search, as lengths and the padded size (count * longest) only grow
        lo = sorted_lengths[start]
        end = min(n, start + max_batch, bisect_right(sorted_lengths, 2 * lo + 16, start))
        end = bisect_left(range(end), True, start + 1,
                          key=lambda e: (e - start + 1) * sorted_lengths[e] > max_chars)
        groups.append(order[start:end])
        start = end
    return groups


_length_groups = length_groups  # the name tests/runtime/test_onnx_binding.py imports



def load_error(source: str, exc: Exception) -> str:
    """Why onnxruntime could not load a model, with a hint for a model whose weights are
    in a separate file (a bundle carries the model file only)."""
    text = str(exc).strip()
    message = f"onnxruntime cannot load {source} as an ONNX model: {text}"
    if "external" in text.lower():
        message += ("; its weights are in a separate file, which a bundle does not carry: "
                    "save the model as one file (`onnx.save_model(model, path, "
                    "save_as_external_data=False)`, under 2 GB)")
    return message


#: output element types read as scores (an integer or bool output is a class index or
#: a decision, not a probability: binding it would make 1 a certain violation)
SCORE_TYPES = ("tensor(float)", "tensor(double)", "tensor(float16)")


def check_output(source: str, output: Any, n_labels: int,
                 labels_from: str = f"the metadata `{LABELS_KEY}`") -> None:
    """BindingError unless an output (an onnxruntime NodeArg) can be scores: floats of
    shape ``[rows, n_labels]``. A model whose output has another type, rank or width fails
    every text, so it is refused when it is bound (at compile), not at run time. Unknown
    dimensions pass."""
    if output.type not in SCORE_TYPES:
        raise BindingError(f"{source}: output `{output.name}` is {output.type}, not a float "
                           "tensor of scores")
    shape = output.shape
    dims = list(shape) if isinstance(shape, (list, tuple)) else None
    if not dims:  # onnxruntime says [] for an output of unknown rank
        return
    width = dims[-1]
    if len(dims) != 2 or isinstance(width, int) and width != n_labels:
        shown = ", ".join(str(d) if isinstance(d, int) else "?" for d in dims)
        raise BindingError(f"{source}: output `{output.name}` has shape [{shown}]; policyc "
                           f"reads [rows, {n_labels}]: a score for each of the {n_labels} "
                           f"labels of {labels_from}")


def fast_runner(session: Any, fetch: list[str]) -> tuple[Any, Any]:
    """`(run, options)` for a session's hot path: `run(feeds, options)` calls the C-level
    run (skipping the Python wrapper's per-call input checks) with one `RunOptions` made
    here, quiet below fatal; the public `session.run` when the build has no C-level one."""
    raw = getattr(session, "_sess", None)
    if raw is not None and callable(getattr(raw, "run", None)):
        run = functools.partial(raw.run, fetch)
    else:  # pragma: no cover - depends on the onnxruntime build
        run = functools.partial(session.run, fetch)
    options = ort.RunOptions()
    options.log_severity_level = _ORT_FATAL
    return run, options


class OnnxClassifier:
    """One onnxruntime session over a policyc text classifier.

    ``model``: a path or the model's bytes.  ``labels``: policy category -> model
    label; ``None`` exposes every model label under its own name.  The session
    runs single-threaded (``intra_op_num_threads=1``, ``inter_op_num_threads=1``)
    with all graph optimisations and no memory arena; ``run`` is thread-safe.

    Raises :class:`BindingError` if the session cannot be created, the metadata
    lacks ``policyc.labels``, a mapped label is missing, or the output has the
    wrong shape.

    ``normalize``: the text normalization applied before the model. ``"auto"`` (the
    default) takes the model's metadata ``policyc.normalize`` if it has one, else
    :data:`FOLD` (these are string-input models; a tokenizer model has its own
    normalizer and would take ``None``); :data:`FOLD` or :data:`FOLD_WORDS` name
    one; ``None`` gives the model the text as it is. Any other value (e.g. a
    version this runtime does not have) raises :class:`BindingError`. The choice
    is in ``.normalize``. A text whose normal form would be too long
    (``NormalizationLimitError``) is a :class:`BindingError` too, as it is for
    the detectors.

    ``max_batch`` and ``max_chars`` bound one run (`length_groups`): memory follows
    the characters, so the count bound is loose; each run is a round trip through the
    GIL, which a batch scored beside other Python work (the streaming engine) waits
    for, so fewer, larger runs are faster there (4096 against 1024: 5% on 50 k short
    texts, the model alone no slower).
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | bytes,
        labels: Mapping[str, str] | None = None,
        *,
        normalize: str | None = AUTO,
        max_batch: int = 4096,
        max_chars: int = 1 << 20,
        source: str | None = None,
    ) -> None:
        if isinstance(model, (bytes, bytearray, memoryview)):
            data = bytes(model)
            # `source`: the path as written in the policy, for messages
            self.source = source or f"<{len(data)} bytes>"
        else:
            self.source = os.fspath(model)
            try:
                data = Path(model).read_bytes()
            except OSError as exc:
                raise BindingError(f"cannot read ONNX model {self.source}: {exc}") from exc
        self.sha256 = hashlib.sha256(data).hexdigest()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # the arena's and the memory pattern's bookkeeping cost more than they save on
        # these small, dynamically shaped tensors: at batch 1, 77k instructions per run
        # with neither, 88k with the arena, 92k with the pattern (callgrind, model 2.0.0)
        opts.enable_cpu_mem_arena = False
        opts.enable_mem_pattern = False
        # onnxruntime logs a failing run (and a model it cannot load) as ERROR lines of
        # its own on stderr, one per attempt; the failure is raised and reported by
        # policyc instead (BindingError -> the decision's `errors`, `on_error`)
        opts.log_severity_level = _ORT_FATAL
        opts.add_session_config_entry(EXTERNAL_DATA_KEY, NO_EXTERNAL_DATA)
        try:
            self._session = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises several unrelated types
            raise BindingError(load_error(self.source, exc)) from exc

        inputs = self._session.get_inputs()
        outputs = self._session.get_outputs()
        if len(inputs) != 1 or inputs[0].type != "tensor(string)":
            got = ", ".join(f"{i.name}: {i.type}" for i in inputs) or "none"
            raise BindingError(
                f"{self.source}: expected exactly one string tensor input, got {got}"
            )
        if not outputs:
            raise BindingError(f"{self.source}: the model has no outputs")
        self._input = inputs[0].name
        self._output = "scores" if any(o.name == "scores" for o in outputs) else outputs[0].name
        output = next(o for o in outputs if o.name == self._output)

        meta = self._session.get_modelmeta().custom_metadata_map
        raw = meta.get(LABELS_KEY)
        if raw is None:
            raise BindingError(
                f"{self.source}: metadata key {LABELS_KEY!r} is missing; a policyc model must "
                "list its output columns there as a JSON array"
            )
        try:
            model_labels = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise BindingError(f"{self.source}: {LABELS_KEY} is not valid JSON: {exc}") from exc
        if (
            not isinstance(model_labels, list)
            or not model_labels
            or not all(isinstance(x, str) for x in model_labels)
            or len(set(model_labels)) != len(model_labels)
        ):
            raise BindingError(
                f"{self.source}: {LABELS_KEY} must be a non-empty JSON array of distinct "
                f"strings, got {raw!r}"
            )
        if normalize == AUTO:
            normalize = meta.get(NORMALIZE_KEY, FOLD)
        if normalize is not None and normalize not in _NORMALIZERS:
            raise BindingError(
                f"{self.source}: unsupported text normalization {normalize!r}: this runtime "
                f"has {', '.join(map(repr, _NORMALIZERS))} (a newer policyc wrote it?)"
            )
        self.normalize: str | None = normalize
        self._folds = normalize is not None
        self._normalizer = _NORMALIZERS.get(normalize or "", fold)
        self.model_labels: tuple[str, ...] = tuple(model_labels)
        check_output(self.source, output, len(model_labels))
        self.model_version: str | None = meta.get(VERSION_KEY)
        self.metadata: dict[str, str] = dict(meta)

        column = {name: i for i, name in enumerate(self.model_labels)}
        mapping = dict(labels) if labels is not None else {x: x for x in self.model_labels}
        missing = sorted(
            f"{cat!r} -> {lab!r}" for cat, lab in mapping.items() if lab not in column
        )
        if missing:
            raise BindingError(
                f"{self.source}: model label(s) not found for category mapping "
                f"{', '.join(missing)}; the model provides {list(self.model_labels)}"
            )
        self.categories: tuple[str, ...] = tuple(mapping)
        self._columns: tuple[tuple[str, int], ...] = tuple(
            (cat, column[lab]) for cat, lab in mapping.items()
        )
        self._max_batch = max(1, int(max_batch))
        self._max_chars = max(1, int(max_chars))
        self._n_labels = len(self.model_labels)
        self._fetch = [self._output]
        # Hot path: the C-level run skips the Python wrapper's per-call input checks, and
        # one RunOptions made here spares the binding building a default one per call
        # (together ~6 us at batch 1).  Fall back to the public API if absent.
        self._raw_run, self._run_options = fast_runner(self._session, self._fetch)
        self._row_shape = (1, self._n_labels)
        # one-text inputs (an array and the feeds naming it) for `score_row`, reused:
        # making them costs ~1 us right after a run.  A caller pops one (list.pop and
        # append are atomic under the GIL, so concurrent callers never share an input)
        # and puts it back.
        self._spare_inputs: list[tuple[np.ndarray, dict[str, np.ndarray]]] = []

    # ------------------------------------------------------------------ running

    def _run(self, texts: np.ndarray) -> np.ndarray:
        n = len(texts)
        try:
            out = self._raw_run({self._input: texts}, self._run_options)[0]
        except UnicodeEncodeError:
            # Lone surrogates cannot be encoded as UTF-8; score them as U+FFFD.
            clean = np.array(
                [t.encode("utf-8", "replace").decode("utf-8") for t in texts], dtype=object
            )
            return self._run(clean)
        except Exception as exc:
            raise BindingError(f"{self.source}: inference failed on {n} text(s): {exc}") from exc
        if out.shape != (n, self._n_labels):
            raise BindingError(
                f"{self.source}: output {self._output!r} has shape {tuple(out.shape)}, expected "
                f"({n}, {self._n_labels}) for {self._n_labels} labels"
            )
        return out

    def score(self, text: str) -> dict[str, float]:
        """Scores of one text: category -> probability."""
        row = self.score_row(text)
        return {cat: row[j] for cat, j in self._columns}

    def score_row(self, text: str) -> list[float]:
        """The model's whole output row for one text, in `model_labels` order.

        The per-text hot path: a reused input array, and no checks beyond the output's
        shape; anything unusual is run again through `_run`, which explains failures.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be str, not {type(text).__name__}")
        if self._folds:
            text = self._normal(text)
        spare = self._spare_inputs
        try:
            one = spare.pop()
        except IndexError:
            arr = np.empty(1, dtype=object)
            one = (arr, {self._input: arr})
        one[0][0] = text
        try:
            out = self._raw_run(one[1], self._run_options)[0]
        except Exception:
            out = None
        spare.append(one)  # it keeps a reference to the last text until the next call
        if out is None or out.shape != self._row_shape:
            arr = np.empty(1, dtype=object)
            arr[0] = text
            return self._run(arr).tolist()[0]  # type: ignore[no-any-return]
        return out.tolist()[0]  # type: ignore[no-any-return]

    def _normal(self, text: str) -> str:
        try:
            return self._normalizer(text)
        except ValueError as exc:  # NormalizationLimitError: as the detectors report it
            raise BindingError(str(exc)) from exc

    def _normal_many(self, texts: Sequence[str]) -> list[str]:
        """`_normal` of each text, the ASCII ones together (`fold_many`)."""
        try:
            return fold_many(texts, words=self._normalizer is fold_words)
        except ValueError as exc:
            raise BindingError(str(exc)) from exc

    @property
    def columns(self) -> tuple[tuple[str, int], ...]:
        """``(category, index into score_row)`` for each bound category."""
        return self._columns

    def score_matrix(self, texts: Sequence[str]) -> np.ndarray:
        """Raw model output ``[len(texts), len(model_labels)]`` float32, input order."""
        return self.matrix_job(texts)()

    def matrix_job(self, texts: Sequence[str]) -> Callable[[], np.ndarray]:
        """`score_matrix(texts)` in two parts: the texts are checked, normalized and
        grouped by length now (Python, which holds the GIL), and the returned call runs
        the model (onnxruntime, which releases it), so that a caller can run it in
        another thread while its own keeps the Python work."""
        n = len(texts)
        if set(map(type, texts)) - {str}:  # (a str subclass is welcome)
            for i, t in enumerate(texts):
                if not isinstance(t, str):
                    raise TypeError(f"texts[{i}] must be str, not {type(t).__name__}")
        arr = np.empty(n, dtype=object)
        arr[:] = self._normal_many(texts) if self._folds else texts
        groups = [np.arange(n)] if n == 1 else length_groups(
            np.fromiter(map(len, arr), dtype=np.int64, count=n), self._max_batch,
            self._max_chars)

        def run() -> np.ndarray:
            result = np.empty((n, len(self.model_labels)), dtype=np.float32)
            for idx in groups:
                result[idx] = self._run(arr[idx])
            return result
        return run

    def score_batch(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Scores of many texts: category -> float32 array in input order.

        Texts are grouped by length before running (the tokenizer pads each run to
        its longest text) and the original order is restored.
        """
        return self.batch_job(texts)()

    def batch_job(self, texts: Sequence[str]) -> Callable[[], dict[str, np.ndarray]]:
        """`score_batch(texts)` in two parts, as `matrix_job`."""
        job = self.matrix_job(texts)

        def run() -> dict[str, np.ndarray]:
            mat = job()
            return {cat: np.ascontiguousarray(mat[:, j]) for cat, j in self._columns}
        return run

    def __repr__(self) -> str:
        return (
            f"OnnxClassifier({self.source!r}, version={self.model_version!r}, "
            f"categories={list(self.categories)})"
        )
