"""Run tokenizer-input ONNX classifiers (a Hugging Face style export) over text.

The model takes ``input_ids`` (and, when it lists them, ``attention_mask`` and
``token_type_ids``), int64 or int32 ``[batch, sequence]``, and returns one float output
``[batch, L]``. Its column names come from the ``config.json`` ``id2label`` shipped
beside it, else from the ONNX metadata ``policyc.labels``. A ``tokenizer.json`` (the
`tokenizers` library, Rust; imported on first use, so ``import policyc.runtime`` does
not pay for it) turns text into ids, with its own padding and truncation turned off:

* texts are tokenized in one ``encode_batch`` call, without special tokens; the
  tokenizer's special tokens (``[CLS]`` ... ``[SEP]``) are put around each window;
* a text longer than ``max_length`` tokens is scored in overlapping windows (consecutive
  windows share ``stride`` tokens; the last ends at the text's end) and each category
  takes its maximum over the windows. At most ``max_windows`` windows are scored per
  text; past that, ``truncation`` says which end is left out (``right``: the end);
* rows are sorted by token length and run in groups, each padded to its own longest
  row, so a text's score does not depend on the batch it is in;
* the ``activation`` (softmax, sigmoid or none) is applied to each row.

The session is created once and runs single-threaded; every method is thread-safe.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import onnxruntime as ort

from policyc.runtime.classifier_options import (
    MAX_LENGTH_LIMIT,
    MAX_WINDOWS_LIMIT,
    id2label_names,
)
from policyc.runtime.errors import BindingError
from policyc.runtime.normalize import fold
from policyc.runtime.onnx_binding import (
    EXTERNAL_DATA_KEY,
    FOLD,
    LABELS_KEY,
    NO_EXTERNAL_DATA,
    VERSION_KEY,
    check_output,
    fast_runner,
    length_groups,
    load_error,
)

__all__ = ["DEFAULT_MAX_LENGTH", "DEFAULT_MAX_WINDOWS", "TokenizedClassifier"]

#: `max_length` when neither the policy nor tokenizer.json's truncation gives one
DEFAULT_MAX_LENGTH = 512
DEFAULT_MAX_WINDOWS = 8
#: `stride` by default: min(DEFAULT_STRIDE, a quarter of the window)
DEFAULT_STRIDE = 32
_ORT_FATAL = 4
_KNOWN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_INT_TYPES = {"tensor(int64)": np.int64, "tensor(int32)": np.int32}


# an infinite or NaN logit makes NaN scores, which the bindings report (`on_error`);
# numpy's RuntimeWarnings about them would only be noise on stderr
def _softmax(x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):  # exp(1000) is inf: the score is 0
        out: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return out


_ACTIVATIONS = {"softmax": _softmax, "sigmoid": _sigmoid, "none": None}


def _load_tokenizer(data: bytes, source: str) -> Any:
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise BindingError("the `tokenizers` package is not installed: "
                           "pip install 'policyc[tokenizers]'") from None
    try:
        return Tokenizer.from_str(data.decode("utf-8"))
    except Exception as exc:  # the Rust side raises plain Exception
        raise BindingError(f"{source}: not a tokenizers `tokenizer.json`: {exc}") from None


class TokenizedClassifier:
    """One onnxruntime session and one tokenizer over a tokenizer-input classifier.

    ``labels``: policy category -> model label (None: every model label under its own
    name). ``options``: the classifier's checked options (`classifier_options.OPTIONS`).
    ``config``: the bytes of config.json, if any. Raises :class:`BindingError` when
    anything cannot be bound; the same API as `OnnxClassifier`.
    """

    def __init__(self, model: bytes, tokenizer: bytes, labels: Mapping[str, str] | None = None,
                 *, config: bytes | None = None, options: Mapping[str, str | int] | None = None,
                 source: str = "<model>", tokenizer_source: str | None = None,
                 max_batch: int = 64, max_tokens: int = 1 << 16) -> None:
        opts = dict(options or {})
        self.source = source
        #: how the tokenizer is named in messages (its path as written in the policy)
        self.tokenizer_source = (f"tokenizer `{tokenizer_source}`" if tokenizer_source
                                 else f"{source} (tokenizer)")
        self.sha256 = hashlib.sha256(model).hexdigest()
        self._session = self._make_session(model)
        self._tok = _load_tokenizer(tokenizer, self.tokenizer_source)
        meta = self._session.get_modelmeta().custom_metadata_map
        self.metadata: dict[str, str] = dict(meta)
        self.model_version: str | None = meta.get(VERSION_KEY)
        cfg: dict[str, Any] = {}
        if config is not None:
            try:
                self.model_labels = tuple(id2label_names(config, "config.json"))
                cfg = json.loads(config)
            except ValueError as exc:
                raise BindingError(f"{source}: {exc}") from None
            self.model_version = self.model_version or cfg.get("model_version")
        else:
            self.model_labels = self._metadata_labels(meta)
        self._bind_inputs()
        self._bind_output(opts.get("output"), cfg)
        self._bind_tokenizer(tokenizer, opts)
        act = opts.get("activation")
        if act is None:  # an output named `logits` is made probabilities as config.json says
            act = "none"
            if self.output == "logits":
                multi = cfg.get("problem_type") == "multi_label_classification"
                act = "sigmoid" if multi else "softmax"
        self.activation = str(act)
        self._activate = _ACTIVATIONS[self.activation]
        self.normalize: str | None = FOLD if opts.get("normalize") == "on" else None
        self._n_labels = len(self.model_labels)
        check_output(source, self._output_arg, self._n_labels,
                           "config.json `id2label`" if config is not None
                           else f"the metadata `{LABELS_KEY}`")
        column = {name: i for i, name in enumerate(self.model_labels)}
        mapping = dict(labels) if labels is not None else {x: x for x in self.model_labels}
        missing = sorted(f"{c!r} -> {lab!r}" for c, lab in mapping.items() if lab not in column)
        if missing:
            raise BindingError(f"{source}: model label(s) not found for category mapping "
                               f"{', '.join(missing)}; the model provides "
                               f"{list(self.model_labels)}")
        self.categories: tuple[str, ...] = tuple(mapping)
        self._columns = tuple((cat, column[lab]) for cat, lab in mapping.items())
        self._max_batch = max(1, int(max_batch))
        if self._fixed_batch is not None:  # an export with a fixed batch: groups of that size
            self._max_batch = min(self._max_batch, self._fixed_batch)
        self._max_tokens = max(self.max_length, int(max_tokens))

    # ------------------------------------------------------------------ binding

    def _make_session(self, model: bytes) -> ort.InferenceSession:
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = _ORT_FATAL
        so.add_session_config_entry(EXTERNAL_DATA_KEY, NO_EXTERNAL_DATA)
        try:
            return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises several unrelated types
            raise BindingError(load_error(self.source, exc)) from None

    def _metadata_labels(self, meta: Mapping[str, str]) -> tuple[str, ...]:
        raw = meta.get(LABELS_KEY)
        if raw is None:
            raise BindingError(f"{self.source}: the model's labels are unknown: put its "
                               f"config.json (with `id2label`) beside it, or list them in the "
                               f"ONNX metadata {LABELS_KEY!r}")
        try:
            names = json.loads(raw)
        except ValueError:
            names = None
        if not (isinstance(names, list) and names and all(isinstance(x, str) for x in names)
                and len(set(names)) == len(names)):
            raise BindingError(f"{self.source}: {LABELS_KEY} must be a JSON array of distinct "
                               f"strings, got {raw!r}")
        return tuple(names)

    def _bind_inputs(self) -> None:
        inputs = {i.name: i for i in self._session.get_inputs()}
        if "input_ids" not in inputs:
            got = ", ".join(f"`{n}`" for n in inputs) or "none"
            raise BindingError(f"{self.source}: the model has no `input_ids` input (it has "
                               f"{got}); a tokenizer-input model takes input_ids and "
                               "attention_mask")
        unknown = [n for n in inputs if n not in _KNOWN_INPUTS]
        if unknown:
            raise BindingError(f"{self.source}: input `{unknown[0]}` is not one policyc can "
                               f"feed (it feeds {', '.join(_KNOWN_INPUTS)})")
        self._dtypes: dict[str, Any] = {}
        for name, info in inputs.items():
            dtype = _INT_TYPES.get(info.type)
            if dtype is None:
                raise BindingError(f"{self.source}: input `{name}` is {info.type}, not an "
                                   "int64 or int32 tensor")
            self._dtypes[name] = dtype
        self._ids_dtype = self._dtypes["input_ids"]
        # an export without dynamic axes fixes the batch and/or the sequence length: rows
        # are then padded to that length and groups to that many rows
        shape = list(inputs["input_ids"].shape or [None, None])  # []: rank unknown
        if len(shape) != 2:
            raise BindingError(f"{self.source}: input `input_ids` has shape {shape}, not "
                               "[batch, sequence]")
        fixed = [d if isinstance(d, int) and d > 0 else None for d in shape]
        self._fixed_batch: int | None = fixed[0]
        self._fixed_length: int | None = fixed[1]
        #: rows are padded to a fixed shape: the one-row hot path does not apply
        self._fixed_shape = fixed != [None, None]

    def _bind_output(self, wanted: Any, cfg: Mapping[str, Any]) -> None:
        names = [o.name for o in self._session.get_outputs()]
        if wanted is not None:
            if wanted not in names:
                raise BindingError(f"{self.source}: the model has no output `{wanted}` (it has "
                                   f"{', '.join(f'`{n}`' for n in names)})")
            name = str(wanted)
        elif len(names) == 1:
            name = names[0]
        else:
            name = next((n for n in ("logits", "probabilities", "scores") if n in names), "")
            if not name:
                raise BindingError(f"{self.source}: the model has {len(names)} outputs "
                                   f"({', '.join(f'`{n}`' for n in names)}): name one with "
                                   '`output "NAME"`')
        self.output = name
        self._fetch = [name]
        self._output_arg = next(o for o in self._session.get_outputs() if o.name == name)

    def _bind_tokenizer(self, raw: bytes, opts: Mapping[str, Any]) -> None:
        tok = self._tok
        try:
            spec = json.loads(raw)
        except ValueError:
            spec = {}
        trunc = spec.get("truncation") if isinstance(spec, dict) else None
        pad = spec.get("padding") if isinstance(spec, dict) else None
        tok.no_padding()
        tok.no_truncation()
        fixed = self._fixed_length
        preset = (trunc or {}).get("max_length")
        if not isinstance(preset, int) or isinstance(preset, bool) or preset <= 0:
            preset = None
        elif preset > MAX_LENGTH_LIMIT and not opts.get("max_length"):
            raise BindingError(f"{self.tokenizer_source} truncates at {preset} tokens, over the "
                               f"most policyc takes ({MAX_LENGTH_LIMIT}): set `max_length`")
        self.max_length = int(opts.get("max_length") or fixed or preset or DEFAULT_MAX_LENGTH)
        if fixed is not None and self.max_length > fixed:
            raise BindingError(f"{self.source}: `max_length` {self.max_length} is more than the "
                               f"model's fixed sequence length ({fixed} tokens): set "
                               f"`max_length` to at most {fixed}")
        pad_id = (pad or {}).get("pad_id")
        if not isinstance(pad_id, int):
            pad_id = next((i for t in ("[PAD]", "<pad>", "<PAD>")
                           if (i := tok.token_to_id(t)) is not None), 0)
        self.pad_id: int = pad_id
        probe = "a"
        try:  # a tokenizer that cannot encode it (a WordLevel model without [UNK]) is unusable
            with_special = tok.encode(probe, add_special_tokens=True).ids
            plain = tok.encode(probe, add_special_tokens=False).ids
        except Exception as exc:  # the Rust side raises plain Exception
            raise BindingError(f"{self.tokenizer_source} cannot encode the text {probe!r}: "
                               f"{exc}") from None
        k = next((i for i in range(len(with_special) - len(plain) + 1)
                  if with_special[i:i + len(plain)] == plain), None)
        if k is None or not plain:  # pragma: no cover - a post-processor that rewrites ids
            raise BindingError(f"{self.tokenizer_source}: cannot tell its special tokens")
        self._filler: list[int] = plain  # a text's ids, for `probe`
        self._prefix: list[int] = with_special[:k]
        self._suffix: list[int] = with_special[k + len(plain):]
        self.window = self.max_length - len(self._prefix) - len(self._suffix)
        if self.window < 2:
            raise BindingError(f"{self.source}: `max_length` {self.max_length} leaves no room "
                               "for text besides the special tokens")
        default_stride = min(DEFAULT_STRIDE, self.window // 4)
        self.stride = int(opts.get("stride", default_stride))
        if self.stride * 2 >= self.window:
            raise BindingError(f"{self.source}: `stride` {self.stride} must be under half of "
                               f"the window ({self.window} tokens)")
        self.max_windows = min(int(opts.get("max_windows", DEFAULT_MAX_WINDOWS)),
                               MAX_WINDOWS_LIMIT)
        self.truncation = str(opts.get("truncation", "right"))
        row = np.ones((1, self.max_length), dtype=self._dtypes.get("attention_mask", np.int64))
        row.setflags(write=False)
        zeros = np.zeros((1, self.max_length), dtype=self._dtypes.get("token_type_ids",
                                                                     np.int64))
        zeros.setflags(write=False)
        self._ones, self._zeros = row, zeros  # shared, read-only slices for one row
        self._run_fn, self._run_options = fast_runner(self._session, self._fetch)

    # ------------------------------------------------------------------ windows

    def _starts(self, n: int) -> list[int]:
        """Start of each window over `n` body tokens (one window when they fit)."""
        w, step = self.window, self.window - self.stride
        if n <= w:
            return [0]
        starts = [*range(0, n - w, step), n - w]
        if len(starts) > self.max_windows:
            if self.truncation == "left":  # keep the end: windows laid from the last one back
                last = n - w
                starts = sorted(max(0, last - i * step) for i in range(self.max_windows))
            else:
                starts = starts[:self.max_windows]
        return starts

    def _feeds(self, rows: list[list[int]]) -> dict[str, np.ndarray]:
        """The model's inputs for rows of ids, padded to the longest row (to the model's
        fixed sequence length and batch size, when it has them)."""
        longest = max(max(map(len, rows)), self._fixed_length or 0)
        height = max(len(rows), self._fixed_batch or 0)
        ids = np.full((height, longest), self.pad_id, dtype=self._ids_dtype)
        mask = np.zeros((height, longest), dtype=self._dtypes.get("attention_mask",
                                                                  np.int64))
        for i, r in enumerate(rows):
            ids[i, :len(r)] = r
            mask[i, :len(r)] = 1
        feeds = {"input_ids": ids}
        if "attention_mask" in self._dtypes:
            feeds["attention_mask"] = mask
        if "token_type_ids" in self._dtypes:
            feeds["token_type_ids"] = np.zeros_like(ids, dtype=self._dtypes["token_type_ids"])
        return feeds

    def _run(self, feeds: dict[str, np.ndarray], n: int, what: str = "") -> np.ndarray:
        """The activated output of the first `n` rows of `feeds` (the others are padding
        up to a fixed batch size). `what` describes the rows, for messages."""
        try:
            out = self._run_fn(feeds, self._run_options)[0]
        except Exception as exc:
            raise BindingError(f"{self.source}: inference failed on {n} row(s){what}: "
                               f"{str(exc).strip()}") from None
        height = len(feeds["input_ids"])
        if out.ndim != 2 or out.shape != (height, self._n_labels):
            raise BindingError(f"{self.source}: output `{self.output}` has shape "
                               f"{tuple(out.shape)}, expected ({height}, {self._n_labels}) for "
                               f"{self._n_labels} labels")
        out = out[:n].astype(np.float32, copy=False)
        return out if self._activate is None else self._activate(out)

    def _texts(self, texts: Sequence[str]) -> list[str]:
        out = []
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"texts[{i}] must be str, not {type(t).__name__}")
            if self.normalize is not None:
                try:
                    t = fold(t)
                except ValueError as exc:  # NormalizationLimitError, as for the detectors
                    raise BindingError(str(exc)) from None
            out.append(t.encode("utf-8", "replace").decode("utf-8"))  # lone surrogates
        return out

    def _encode(self, texts: list[str]) -> list[list[int]]:
        try:
            return [e.ids for e in self._tok.encode_batch(texts, add_special_tokens=False)]
        except Exception as exc:
            raise BindingError(f"{self.source}: the tokenizer failed: {exc}") from None

    # ------------------------------------------------------------------ scoring

    def score_matrix(self, texts: Sequence[str]) -> np.ndarray:
        """Model output after the activation, ``[len(texts), len(model_labels)]`` float32,
        each row the maximum over the text's windows."""
        n = len(texts)
        result = np.empty((n, self._n_labels), dtype=np.float32)
        if n == 0:
            return result
        encoded = self._encode(self._texts(texts))
        rows: list[list[int]] = []
        owner: list[int] = []
        pre, suf, w = self._prefix, self._suffix, self.window
        for i, ids in enumerate(encoded):
            for s in self._starts(len(ids)):
                rows.append(pre + ids[s:s + w] + suf)
                owner.append(i)
        scores = self._score_rows(rows)
        if len(rows) == n:
            return scores
        starts = np.flatnonzero(np.r_[True, np.diff(np.asarray(owner)) != 0])
        result[:] = np.maximum.reduceat(scores, starts, axis=0)
        return result

    def _score_rows(self, rows: list[list[int]], what: str = "") -> np.ndarray:
        """The activated output for rows of ids (special tokens included), run in groups
        of similar length."""
        scores = np.empty((len(rows), self._n_labels), dtype=np.float32)
        lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        for idx in length_groups(lengths, self._max_batch, self._max_tokens):
            group = [rows[k] for k in idx.tolist()]
            scores[idx] = self._run(self._feeds(group), len(group), what)
        return scores

    def probe(self) -> None:
        """Run the model on its shortest row (one token of text), its longest (`max_length`
        tokens), both in one batch, and a row holding the tokenizer's last id: `compile`
        calls it, so that a model that cannot run what the runtime will give it (a
        position table shorter than `max_length`, an embedding table smaller than the
        tokenizer's vocabulary) fails there, not on the events that reach it. Raises
        :class:`BindingError`."""
        pre, suf = self._prefix, self._suffix
        short = pre + self._filler[:1] + suf
        long = pre + (self._filler * self.window)[:self.window] + suf
        last = self._tok.get_vocab_size(with_added_tokens=True) - 1
        for rows, what in (([pre + [last] + suf], f" holding token id {last}, the last of "
                                                  f"{self.tokenizer_source} (is it the "
                                                  "model's own tokenizer?)"),
                           ([short], f" of {len(short)} tokens"),
                           ([long], f" of {len(long)} tokens (`max_length` {self.max_length}:"
                                    " lower it to what the model takes)"),
                           ([long, short], f" of {len(long)} and {len(short)} tokens")):
            self._score_rows(rows, what)

    def score_row(self, text: str) -> list[float]:
        """The output row for one text, in `model_labels` order (the per-text hot path:
        one encode, shared read-only mask arrays)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be str, not {type(text).__name__}")
        t = self._texts([text])[0]
        try:
            ids = self._tok.encode(t, add_special_tokens=False).ids
        except Exception as exc:
            raise BindingError(f"{self.source}: the tokenizer failed: {exc}") from None
        if len(ids) > self.window or self._fixed_shape:
            return self.score_matrix([text]).tolist()[0]  # type: ignore[no-any-return]
        row = np.array([self._prefix + ids + self._suffix], dtype=self._ids_dtype)
        n = row.shape[1]
        feeds = {"input_ids": row}
        if "attention_mask" in self._dtypes:
            feeds["attention_mask"] = self._ones[:, :n]
        if "token_type_ids" in self._dtypes:
            feeds["token_type_ids"] = self._zeros[:, :n]
        return self._run(feeds, 1).tolist()[0]  # type: ignore[no-any-return]

    def score(self, text: str) -> dict[str, float]:
        row = self.score_row(text)
        return {cat: row[j] for cat, j in self._columns}

    @property
    def columns(self) -> tuple[tuple[str, int], ...]:
        """``(category, index into score_row)`` for each bound category."""
        return self._columns

    def score_batch(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Scores of many texts: category -> float32 array in input order."""
        mat = self.score_matrix(texts)
        return {cat: np.ascontiguousarray(mat[:, j]) for cat, j in self._columns}

    def batch_job(self, texts: Sequence[str]) -> Callable[[], dict[str, np.ndarray]]:
        """`score_batch(texts)` to run later, in another thread: the tokenizer and
        onnxruntime both release the GIL, so here all of it waits for that thread."""
        texts = list(texts)
        return lambda: self.score_batch(texts)

    def __repr__(self) -> str:
        return (f"TokenizedClassifier({self.source!r}, version={self.model_version!r}, "
                f"categories={list(self.categories)})")
