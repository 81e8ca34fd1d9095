"""Tokenizer-input classifier declarations: options, labels from config.json, cache paths.

Each bad declaration is a located POL101/POL116 error with a help line, exit 2, and no
traceback (`policyc lint` through a real subprocess).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from policyc.semantics.program import load_program

REPO = Path(__file__).resolve().parents[2]
CONFIG = {"id2label": {"0": "violence", "1": "illicit"}}


def lint(pol: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-m", "policyc", "lint", str(pol)],
                          capture_output=True, text=True, cwd=REPO, timeout=120,
                          env={**os.environ, **(env or {})})
    out = done.stdout + done.stderr
    assert "Traceback" not in out
    return done.returncode, out


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "guard.onnx").write_bytes(b"not checked before compile")
    (tmp_path / "models" / "tokenizer.json").write_text("{}")
    (tmp_path / "models" / "config.json").write_text(json.dumps(CONFIG))
    return tmp_path


def write(folder: Path, body: str, head: str = 'tokenizer "models/tokenizer.json"',
          categories: str = "violence, illicit") -> Path:
    pol = folder / "p.pol"
    pol.write_text(f"""policy t.p version "1.0.0" {{
  categories {{ {categories} }}
  classifier g = onnx "models/guard.onnx" {head} {{
{body}
  }}
  default allow
}}
""", encoding="utf-8")
    return pol


def test_labels_come_from_config_json(folder: Path) -> None:
    program = load_program([write(folder, "    activation sigmoid\n    max_length 64")])
    assert not [d for d in program.diagnostics if d.fatal], program.diagnostics
    (c,) = next(iter(program.policies.values())).classifiers
    assert c.labels == (("violence", "violence"), ("illicit", "illicit"))
    assert c.tokenizer == "models/tokenizer.json" and c.config == "models/config.json"
    assert dict(c.options) == {"activation": "sigmoid", "max_length": 64}


@pytest.mark.parametrize(("body", "where", "message", "help"), [
    ("    activaton sigmoid", "4:5", "classifier `g` has no option `activaton`",
     "did you mean `activation`?"),
    ("    max_length 12.5", "4:5", "`max_length` takes a whole number from 4 to 8192, not `12.5`",
     "tokens per model row"),
    ("    max_windows 65", "4:5", "`max_windows` takes a whole number from 1 to 64, not `65`",
     "windows"),
    ("    max_length -5", "4:5", "`max_length` takes a whole number from 4 to 8192, not `-5`",
     "tokens per model row"),
    ("    activation relu", "4:5", "`activation` takes one of softmax, sigmoid, none, not `relu`",
     "applied to the output row"),
    ('    truncation "left"', "4:5", "`truncation` takes one of right, left", "left out"),
    ("    output probabilities", "4:5", "`output` takes a string in quotes", "output"),
    ("    max_length 64\n    stride 32", "5:5", "`stride` must be under half of `max_length`",
     "overlap"),
    ("    stride 2\n    stride 3", "5:5", "sets `stride` twice", "keep one"),
    ('    labels { violence = "violense" }', "4:14", 'has no label "violense"',
     "did you mean `violence`?"),
    ('    model_sha256 "abc"', "4:5", "`model_sha256` takes 64 lowercase hex digits", "pins"),
])
def test_bad_options_are_located(folder: Path, body: str, where: str, message: str,
                                 help: str) -> None:
    code, out = lint(write(folder, body))
    assert code == 2, out
    assert f"p.pol:{where}" in out and message in out, out
    assert "= help:" in out and help in out, out


def test_tokenizer_options_need_a_tokenizer(folder: Path) -> None:
    code, out = lint(write(folder, "    max_length 64", head=""))
    assert code == 2
    assert "option `max_length` applies to tokenizer-input classifiers only" in out
    assert 'add `tokenizer "tokenizer.json"`' in out


def test_config_labels_must_be_declared_leaves(folder: Path) -> None:
    code, out = lint(write(folder, "", categories="violence, illicits"))
    assert code == 2
    assert ("error[POL101]: classifier `g` has no `labels`, and `illicit` of "
            "`models/config.json` (`id2label`) is not a leaf category") in out
    assert "did you mean `illicits`?" in out and "p.pol:3:3" in out


def test_no_labels_and_no_config_is_an_error(folder: Path) -> None:
    (folder / "models" / "config.json").unlink()
    code, out = lint(write(folder, ""))
    assert code == 2
    assert "classifier `g` has no `labels` and no `config.json` beside `models/guard.onnx`" in out


def test_missing_tokenizer_file(folder: Path) -> None:
    code, out = lint(write(folder, "", head='tokenizer "models/tok.json"'))
    assert code == 2
    assert "tokenizer path `models/tok.json` of classifier `g` does not exist" in out


def test_cache_paths_must_be_pinned_and_present(folder: Path, tmp_path_factory:
                                                pytest.TempPathFactory) -> None:
    cache = tmp_path_factory.mktemp("cache")
    pol = folder / "c.pol"
    pol.write_text("""policy t.c version "1.0.0" {
  categories { violence, illicit }
  classifier m = onnx "cache:minilm-9.9.9/model.onnx" tokenizer "cache:minilm-9.9.9/tokenizer.json"
  default allow
}
""", encoding="utf-8")
    code, out = lint(pol, {"POLICYC_CACHE": str(cache)})
    assert code == 2
    assert "`cache:minilm-9.9.9/model.onnx` is in the model cache, outside the policy, and " \
           "must be pinned" in out
    assert 'add `model_sha256 "<sha256 of the file>"`' in out
    assert "is not in the policyc model cache (looked for " \
           f"{cache / 'models' / 'minilm-9.9.9' / 'model.onnx'})" in out
    assert "python tools/build_minilm.py" in out
    assert "no `config.json`" not in out  # the missing model is the one error about it


def test_a_cache_path_cannot_climb_out_of_the_cache(folder: Path) -> None:
    pol = folder / "d.pol"
    pol.write_text("""policy t.d version "1.0.0" {
  categories { violence, illicit }
  classifier m = onnx "cache:../../etc/passwd" tokenizer "cache:minilm/../../t.json" {
    model_sha256 "8e5b81e2452dfe4309097a150785f7233437d8013508324267f929bde0a3ac5f"
    tokenizer_sha256 "575ed1a4ec3ef6425f2c6e42116dab02b6a0c4d3aaa9fcf218ec274476bc35aa"
  }
  default allow
}
""", encoding="utf-8")
    code, out = lint(pol)
    assert code == 2
    assert "model path `cache:../../etc/passwd` of classifier `m` uses `..`" in out
    assert "tokenizer path `cache:minilm/../../t.json` of classifier `m` uses `..`" in out
    assert "help: a `cache:` path names a file inside the policyc model cache" in out
