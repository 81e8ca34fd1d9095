"""A tokenizer-input classifier through the CLI: compile, check, tamper, on_error."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from policyc.runtime import Bundle
from tests.helpers import tiny_tokenized
from tests.helpers.cli import policyc
from tests.helpers.tiny_tokenized import Tiny, reference

REPO = Path(__file__).resolve().parents[2]
POLICY = """policy tiny.guard version "1.0.0" {
  categories { violence, illicit, benign }
  classifier guard = onnx "guard.onnx" tokenizer "tokenizer.json" {
    output "logits"
    max_length 16
    stride 4
    %s
    on_error escalate("model_down")
  }
  rule harmful: refuse when violence or illicit
  default allow
}
"""
TEXTS = ["how do I build a bomb at home", "hello", "",
         "please write a poem about the sea and the sky " * 4]


def _compile(tiny: Tiny, extra: str = "", name: str = "guard") -> Path:
    pol = tiny.folder / f"{name}.pol"
    pol.write_text(POLICY % extra, encoding="utf-8")
    out = tiny.folder / f"{name}.pbundle"
    done = policyc("compile", str(pol), "-o", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    return out


@pytest.fixture(scope="module")
def bundle(tiny: Tiny) -> Path:
    return _compile(tiny)


def test_compiled_bundle_scores_equal_the_numpy_reference(tiny: Tiny, bundle: Path) -> None:
    want = reference(tiny, TEXTS, max_length=16, stride=4)
    b = Bundle.load(bundle)
    got = np.array([[b.bindings.scores(t)[0][c] for c in tiny_tokenized.LABELS]
                    for t in TEXTS])
    np.testing.assert_allclose(got, want, atol=1e-5)
    batch = b.bindings.scores_batch(TEXTS)
    np.testing.assert_allclose(np.stack([batch[c] for c in tiny_tokenized.LABELS], axis=1),
                               want, atol=1e-5)
    # the manifest pins the model, tokenizer and config by sha256
    with zipfile.ZipFile(bundle) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    spec = manifest["classifiers"][0]
    tok = spec["tokenizer"]
    assert tok["options"] == {"output": "logits", "max_length": 16, "stride": 4}
    assert manifest["files"][tok["file"]] == tok["sha256"]
    assert manifest["files"][tok["config_file"]] == tok["config_sha256"]
    assert "normalize" not in spec  # tokenizer models see the raw text by default


def test_check_text_decides_with_the_model(tiny: Tiny, bundle: Path) -> None:
    want = reference(tiny, TEXTS, max_length=16, stride=4)
    for text, row in zip(TEXTS, want, strict=True):
        harmful = row[0] >= 0.5 or row[1] >= 0.5
        done = policyc("check", str(bundle), "--text", text)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split()[0] == ("refuse" if harmful else "allow"), (text, row)
    # the .pol source is compiled in the command: the same decision
    done = policyc("check", str(tiny.folder / "guard.pol"), "--text", TEXTS[0])
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == ("refuse" if max(want[0][:2]) >= 0.5 else "allow")


def _rewrite(data: bytes, name: str, content: bytes) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, content if info.filename == name else src.read(info))
    return out.getvalue()


@pytest.mark.parametrize("member", ["file", "config_file", "model"])
def test_a_tampered_member_is_refused_with_exit_2(bundle: Path, tmp_path: Path,
                                                  member: str) -> None:
    data = bundle.read_bytes()
    spec = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("manifest.json"))["classifiers"][0]
    name = spec["file"] if member == "model" else spec["tokenizer"][member]
    original = zipfile.ZipFile(io.BytesIO(data)).read(name)
    bad = tmp_path / "bad.pbundle"
    bad.write_bytes(_rewrite(data, name, original.replace(b"a", b"b", 1) + b" "))
    done = policyc("check", str(bad), "--text", "hello")
    assert done.returncode == 2
    assert "does not match its sha256" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_failing_model_follows_on_error(tiny: Tiny) -> None:
    # raw logits are not scores: a row outside [0, 1] is a binding failure -> on_error
    bundle = _compile(tiny, "activation none", name="raw")
    want = reference(tiny, TEXTS, activation="none", max_length=16, stride=4)
    i = next(k for k, row in enumerate(want) if ((row < 0) | (row > 1)).any())
    done = policyc("check", str(bundle), "--text", TEXTS[i], "--json")
    assert done.returncode == 0, done.stderr
    decision = json.loads(done.stdout)
    assert (decision["action"], decision["argument"]) == ("escalate", "model_down")
    assert "classifier `guard` returned" in json.dumps(decision)


def test_compile_errors_are_located(tiny: Tiny) -> None:
    pol = tiny.folder / "unknown_label.pol"
    pol.write_text(POLICY.replace('output "logits"',
                                  'labels { violence = "violense" }\n    output "logits"')
                   % "", encoding="utf-8")
    done = policyc("compile", str(pol), "-o", str(tiny.folder / "x.pbundle"))
    assert done.returncode == 2
    out = done.stdout + done.stderr
    assert "error[POL116]: classifier `guard` has no label \"violense\"" in out
    assert f"{pol}:4:14" in out and "did you mean `violence`?" in out
    pol.write_text(POLICY.replace('tokenizer "tokenizer.json"', 'tokenizer "missing.json"')
                   % "", encoding="utf-8")
    done = policyc("compile", str(pol), "-o", str(tiny.folder / "x.pbundle"))
    assert done.returncode == 2
    assert "tokenizer path `missing.json` of classifier `guard` does not exist" in (
        done.stdout + done.stderr)
    assert "Traceback" not in done.stdout + done.stderr


def _manifest(bundle: Path) -> dict:
    with zipfile.ZipFile(bundle) as zf:
        return json.loads(zf.read("manifest.json"))  # type: ignore[no-any-return]


def test_normalize_is_recorded_per_classifier(tiny: Tiny) -> None:
    # a tokenizer model sees the raw text unless `normalize on`
    spec = _manifest(_compile(tiny, "normalize on", name="folded"))["classifiers"][0]
    assert spec["normalize"] == "policyc-fold/1"
    assert spec["tokenizer"]["options"]["normalize"] == "on"
    b = Bundle.load(tiny.folder / "folded.pbundle")
    clf = b.bindings._model(b.bindings.classifier_specs[0])
    assert clf.normalize == "policyc-fold/1"
    # the fold (NFKC, ...) runs before the tokenizer: fullwidth letters read as ASCII
    wide = "build a \uff42\uff4f\uff4d\uff42"
    assert clf.score_row(wide) == pytest.approx(clf.score_row("build a bomb"), abs=1e-6)
    raw = Bundle.load(tiny.folder / "guard.pbundle").bindings
    raw_clf = raw._model(raw.classifier_specs[0])
    assert raw_clf.normalize is None
    assert raw_clf.score_row(wide) != pytest.approx(raw_clf.score_row("build a bomb"), abs=1e-3)
    # a string-input model: its own choice by default, the raw text with `normalize off`
    (tiny.folder / "text.onnx").write_bytes(
        (REPO / "stdlib_policies" / "models" / "default_text.onnx").read_bytes())
    for extra, want in (("", "policyc-fold/1+words/1"), ("normalize off", None)):
        pol = tiny.folder / "string.pol"
        pol.write_text(f"""policy t.s version "1.0.0" {{
  categories {{ violence }}
  classifier m = onnx "text.onnx" {{
    labels {{ violence = "violence" }}
    {extra}
  }}
  rule r: refuse when violence
  default allow
}}
""", encoding="utf-8")
        out = tiny.folder / "string.pbundle"
        done = policyc("compile", str(pol), "-o", str(out))
        assert done.returncode == 0, done.stdout + done.stderr
        assert _manifest(out)["classifiers"][0].get("normalize") == want
        assert "tokenizer" not in _manifest(out)["classifiers"][0]


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t["options"].update(max_windows=10_000), "`max_windows` takes a whole number"),
    (lambda t: t["options"].update(activation="relu"), "`activation` takes one of"),
    (lambda t: t["options"].update(threads=4), "unknown option `threads`"),
    (lambda t: t.update(sha256="0" * 64), "its tokenizer `models/"),
    (lambda t: t.update(config_file=None), "its config"),
])
def test_a_resealed_manifest_with_a_bad_tokenizer_is_refused(bundle: Path, tmp_path: Path,
                                                             edit: object,
                                                             message: str) -> None:
    from tests.helpers.bundle_craft import reseal, unpack

    manifest, files = unpack(bundle.read_bytes())
    edit(manifest["classifiers"][0]["tokenizer"])  # type: ignore[operator]
    if manifest["classifiers"][0]["tokenizer"]["config_file"] is None:
        files.pop(next(n for n in files if n.endswith(".json")
                       and n != manifest["classifiers"][0]["tokenizer"]["file"]))
    bad = tmp_path / "bad.pbundle"
    bad.write_bytes(reseal(manifest, files))
    done = policyc("check", str(bad), "--text", "hello")
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
