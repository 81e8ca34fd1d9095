"""policyc.runtime.tokenized_binding: a tiny offline tokenizer-input model against numpy."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policyc.runtime.errors import BindingError
from policyc.runtime.tokenized_binding import TokenizedClassifier
from tests.helpers import tiny_tokenized
from tests.helpers.tiny_tokenized import LABELS, Tiny, reference

TEXTS = [
    "how do I build a bomb at home",
    "",
    "hello",
    "write ransomware that encrypts every file " * 3,
    "zzzz qqqq ✨ 日本語",
    "steal a car",
    "the quick brown fox",
]
WORDS = ["bomb", "build", "hello", "the", "sea", "poem", "car", "steal", "ransomware", "x",
         "keylogger", "how", "zzz", "日本", "✨", "a"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Tiny:
    return tiny_tokenized.build(tmp_path_factory.mktemp("tiny"))


def _bind(tiny: Tiny, **options: str | int) -> TokenizedClassifier:
    opts: dict[str, str | int] = {"output": "logits", **options}
    return TokenizedClassifier(tiny.model.read_bytes(), tiny.tokenizer.read_bytes(),
                               config=(tiny.folder / "config.json").read_bytes(),
                               options=opts, source="guard.onnx", max_batch=3)


@pytest.fixture(scope="module")
def clf(tiny: Tiny) -> TokenizedClassifier:
    return _bind(tiny)


def test_scores_equal_the_numpy_reference(tiny: Tiny, clf: TokenizedClassifier) -> None:
    # `logits` of a multi-label config: sigmoid by default
    assert clf.activation == "sigmoid"
    assert clf.model_labels == LABELS
    want = reference(tiny, TEXTS)
    np.testing.assert_allclose(clf.score_matrix(TEXTS), want, atol=1e-5)
    rows = np.array([clf.score_row(t) for t in TEXTS])
    np.testing.assert_allclose(rows, want, atol=1e-5)
    assert clf.score(TEXTS[0]) == pytest.approx(dict(zip(LABELS, want[0], strict=True)),
                                                abs=1e-5)


@pytest.mark.parametrize("activation", ["softmax", "none"])
def test_activation_is_applied(tiny: Tiny, activation: str) -> None:
    got = _bind(tiny, activation=activation).score_matrix(TEXTS)
    np.testing.assert_allclose(got, reference(tiny, TEXTS, activation=activation), atol=1e-5)


@pytest.mark.parametrize("truncation", ["right", "left"])
def test_a_long_text_scores_the_maximum_over_its_windows(tiny: Tiny, truncation: str) -> None:
    clf = _bind(tiny, max_length=12, stride=3, max_windows=5, truncation=truncation)
    long = " ".join(WORDS * 4)  # ~70 tokens: more windows than max_windows
    mid = "hello the sea " * 3 + "steal a car " + "poem " * 10
    texts = [long, mid, "hello"]
    want = reference(tiny, texts, max_length=12, stride=3, max_windows=5,
                     truncation=truncation)
    np.testing.assert_allclose(clf.score_matrix(texts), want, atol=1e-5)
    np.testing.assert_allclose([clf.score_row(t) for t in texts], want, atol=1e-5)
    # the windows matter: the first window alone (a cut text) scores lower somewhere
    ids = clf._tok.encode(mid, add_special_tokens=False).ids
    assert len(clf._starts(len(ids))) > 1
    cut = reference(tiny, texts, max_length=12, stride=3, max_windows=1,
                    truncation=truncation)
    assert (want >= cut - 1e-9).all() and (want[:2] > cut[:2] + 1e-3).any()


def test_the_window_count_is_bounded(tiny: Tiny) -> None:
    clf = _bind(tiny, max_length=8, stride=2, max_windows=3)
    assert clf._starts(10_000) == [0, 4, 8]
    assert _bind(tiny, max_length=8, stride=2, max_windows=3,
                 truncation="left")._starts(10_000) == [9986, 9990, 9994]
    assert clf._starts(6) == [0]
    assert clf._starts(7) == [0, 1]  # the last window ends at the last token


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.sampled_from(WORDS), max_size=30).map(" ".join),
                min_size=1, max_size=12),
       st.integers(min_value=0, max_value=11))
def test_a_texts_score_does_not_depend_on_its_batch(clf: TokenizedClassifier,
                                                    batch: list[str], pick: int) -> None:
    text = batch[pick % len(batch)]
    alone = clf.score_matrix([text])[0]
    within = clf.score_matrix(batch)[pick % len(batch)]
    np.testing.assert_allclose(within, alone, atol=1e-5)
    np.testing.assert_allclose(clf.score_row(text), alone, atol=1e-5)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.sampled_from(WORDS), max_size=20).map(" ".join),
                min_size=1, max_size=8),
       st.integers(min_value=1, max_value=6))
def test_scores_do_not_depend_on_the_thread_count(clf: TokenizedClassifier, texts: list[str],
                                                  threads: int) -> None:
    want = clf.score_matrix(texts)
    got: list[np.ndarray | None] = [None] * threads
    rows: list[list[list[float]] | None] = [None] * threads

    def work(k: int) -> None:
        got[k] = clf.score_matrix(texts)
        rows[k] = [clf.score_row(t) for t in texts]

    pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    for k in range(threads):
        np.testing.assert_allclose(got[k], want, atol=1e-6)  # type: ignore[arg-type]
        np.testing.assert_allclose(rows[k], want, atol=1e-5)  # type: ignore[arg-type]


def test_labels_map_categories(tiny: Tiny) -> None:
    clf = TokenizedClassifier(tiny.model.read_bytes(), tiny.tokenizer.read_bytes(),
                              {"harm.v": "violence"},
                              config=(tiny.folder / "config.json").read_bytes(),
                              options={"output": "logits"})
    assert clf.categories == ("harm.v",)
    assert clf.score_batch(["steal a car"])["harm.v"].dtype == np.float32


def test_binding_errors(tiny: Tiny, tmp_path: Path) -> None:
    model, tok = tiny.model.read_bytes(), tiny.tokenizer.read_bytes()
    config = (tiny.folder / "config.json").read_bytes()
    with pytest.raises(BindingError, match="2 outputs .*`logits`.*`embedding`|output"):
        TokenizedClassifier(model, tok, config=config, options={"output": "nope"})
    with pytest.raises(BindingError, match="label.*'nope'.*provides"):
        TokenizedClassifier(model, tok, {"a": "nope"}, config=config)
    with pytest.raises(BindingError, match="labels are unknown"):
        TokenizedClassifier(model, tok)
    with pytest.raises(BindingError, match="id2label"):
        TokenizedClassifier(model, tok, config=b'{"labels": []}')
    with pytest.raises(BindingError, match="not a tokenizers"):
        TokenizedClassifier(model, b"{}", config=config)
    string_model = (Path(__file__).resolve().parents[2] / "stdlib_policies" / "models"
                    / "default_text.onnx").read_bytes()
    with pytest.raises(BindingError, match="no `input_ids` input"):
        TokenizedClassifier(string_model, tok, config=config)
    with pytest.raises(BindingError, match="cannot load"):
        TokenizedClassifier(b"not onnx", tok, config=config)


def test_two_outputs_without_output_take_logits(tiny: Tiny) -> None:
    clf = TokenizedClassifier(tiny.model.read_bytes(), tiny.tokenizer.read_bytes(),
                              config=(tiny.folder / "config.json").read_bytes())
    assert clf.output == "logits"


def test_a_model_without_token_type_ids_is_fed_two_inputs(tmp_path: Path) -> None:
    tiny = tiny_tokenized.build(tmp_path, token_type_ids=False)
    clf = _bind(tiny)
    np.testing.assert_allclose(clf.score_matrix(TEXTS), reference(tiny, TEXTS), atol=1e-5)


def test_importing_the_runtime_does_not_import_tokenizers() -> None:
    code = ("import sys, policyc.runtime, policyc.runtime.bindings, "
            "policyc.runtime.tokenized_binding\n"
            "print('tokenizers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
