"""The team lexicon of harm terms (`tools/harm_lexicon.py`) and its place in the model.

Each entry must be one row of the n-gram model (a word or two words after the
model's analyzer); inflection gives the regular forms; and the committed model
knows the words 3.0.0 did not (issue 14: ransomware, keylogger, launder ...).
"""

from __future__ import annotations

import pytest

from tools import build_default_classifier as build
from tools import harm_lexicon


def _analyzer(text: str) -> list[str]:
    return build.tokenize(build.analyze(text))


def test_every_entry_is_one_model_row():
    groups = harm_lexicon.terms(_analyzer)
    assert set(groups) == set(harm_lexicon.GROUPS)
    for group, terms in groups.items():
        assert terms == sorted(set(terms)), group
        assert all(1 <= len(t.split(" ")) <= 2 for t in terms), group


def test_a_three_word_entry_is_rejected(monkeypatch):
    monkeypatch.setitem(harm_lexicon.GROUPS, "illicit", ("make her cry",))
    with pytest.raises(ValueError, match="3 tokens"):
        harm_lexicon.terms(_analyzer)


@pytest.mark.parametrize("word,forms", [
    ("launder", {"launders", "laundered", "laundering", "launderer"}),
    ("forge", {"forging", "forged", "forger"}),
    ("kidnap", {"kidnapping", "kidnapped", "kidnapper"}),
    ("doxx", {"doxxed", "doxxing", "doxxes"}),
])
def test_inflect(word, forms):
    assert forms <= set(harm_lexicon.inflect(word))
    assert harm_lexicon.inflect(word)[0] == word


def test_expand_inflects_marked_words_only():
    assert {"launder money", "launders money", "laundered money", "laundering money"} <= set(
        harm_lexicon.expand("launder~ money"))
    assert all(f.endswith(" money") for f in harm_lexicon.expand("launder~ money"))
    assert harm_lexicon.expand("dirty money") == ["dirty money"]


@pytest.mark.parametrize("word", [
    "ransomware", "keylogger", "launder", "laundering", "doxx", "hotwire", "subhuman",
    "rootkit", "phishing", "stalkerware", "sextortion",
])
def test_the_committed_model_knows_the_lexicon(word):
    import onnx

    model = onnx.load(str(build.MODEL_PATH))
    vocabulary, weights, _, known = build.read_weights(model)
    assert word in vocabulary and word in known
    assert weights[vocabulary.index(word)].max() > 0, word  # some head weighs it up
