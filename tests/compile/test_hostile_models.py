"""Hostile classifier bindings through the CLI (issue 14's sweep): each test a defect found.

Tiny models are written with `onnx.helper` into a module-scoped folder: a masked mean of
token embeddings (plus, optionally, a position table of a fixed size), a linear layer,
and variants of the export (fixed batch or sequence length, outputs of another shape).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.helpers import tiny_tokenized
from tests.helpers.cli import policyc
from tests.helpers.tiny_tokenized import Tiny

REPO = Path(__file__).resolve().parents[2]
POLICY = """policy t.hostile version "1.0.0" {
  categories { violence, illicit, benign }
  classifier guard = onnx "guard.onnx" tokenizer "tokenizer.json" {
    %s
    on_error escalate("model_down")
  }
  rule harmful: refuse when violence or illicit
  default allow
}
"""
LONG = "how do I build a bomb at home " * 20


def _vocab(tiny: Tiny) -> int:
    return len(json.loads(tiny.tokenizer.read_text())["model"]["vocab"])


def _model(vocab: int, *, batch: Any = "b", seq: Any = "s", labels: int = 3,
           rank3: bool = False, bias: list[float] | None = None,
           positions: int | None = None) -> bytes:
    """input_ids, attention_mask -> logits [batch, labels] (a masked mean, a linear layer)."""
    import onnx
    from onnx import TensorProto as T
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(3)
    dim = 8
    inputs = [helper.make_tensor_value_info(n, T.INT64, [batch, seq])
              for n in ("input_ids", "attention_mask")]
    inits = {"E": rng.normal(size=(vocab, dim)), "W": rng.normal(size=(dim, labels)),
             "B": np.array(bias) if bias is not None else rng.normal(size=labels)}
    inits = {k: v.astype(np.float32) for k, v in inits.items()}
    inits.update(ax1=np.array([1]), ax2=np.array([2]), i1=np.array(1), z0=np.array(0))
    nodes = [helper.make_node("Gather", ["E", "input_ids"], ["emb"])]
    src = "emb"
    if positions:  # a position table: rows longer than `positions` fail
        inits["P"] = rng.normal(size=(positions, dim)).astype(np.float32)
        nodes += [helper.make_node("Shape", ["input_ids"], ["shape"]),
                  helper.make_node("Gather", ["shape", "i1"], ["len"], axis=0),
                  helper.make_node("Range", ["z0", "len", "i1"], ["pos"]),
                  helper.make_node("Gather", ["P", "pos"], ["pemb"]),
                  helper.make_node("Add", ["emb", "pemb"], ["emb2"])]
        src = "emb2"
    nodes += [helper.make_node("Cast", ["attention_mask"], ["maskf"], to=T.FLOAT),
              helper.make_node("Unsqueeze", ["maskf", "ax2"], ["mask3"]),
              helper.make_node("Mul", [src, "mask3"], ["masked"]),
              helper.make_node("ReduceSum", ["masked", "ax1"], ["summed"], keepdims=0),
              helper.make_node("ReduceSum", ["mask3", "ax1"], ["count"], keepdims=0),
              helper.make_node("Div", ["summed", "count"], ["mean"]),
              helper.make_node("MatMul", ["mean", "W"], ["lin"]),
              helper.make_node("Add", ["lin", "B"], ["logits2" if rank3 else "logits"])]
    if rank3:
        nodes.append(helper.make_node("Unsqueeze", ["logits2", "ax1"], ["logits"]))
    shape = [batch, 1, labels] if rank3 else [batch, labels]
    graph = helper.make_graph(nodes, "hostile", inputs,
                              [helper.make_tensor_value_info("logits", T.FLOAT, shape)],
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()  # type: ignore[no-any-return]


def _string_model(labels: int, kind: str = "float") -> bytes:
    """A string-input model whose output has `labels` columns, for 3 metadata labels."""
    from onnx import TensorProto as T
    from onnx import helper, numpy_helper

    elem, value = {"float": (T.FLOAT, 0.5), "bool": (T.BOOL, True)}[kind]
    nodes = [helper.make_node("Shape", ["text"], ["n"]),
             helper.make_node("Concat", ["n", "L"], ["shape"], axis=0),
             helper.make_node("ConstantOfShape", ["shape"], ["scores"],
                              value=helper.make_tensor("v", elem, [1], [value]))]
    graph = helper.make_graph(
        nodes, "s", [helper.make_tensor_value_info("text", T.STRING, ["n"])],
        [helper.make_tensor_value_info("scores", elem, ["n", labels])],
        [numpy_helper.from_array(np.array([labels], dtype=np.int64), "L")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {"policyc.labels": '["violence", "illicit", "benign"]'})
    return model.SerializeToString()  # type: ignore[no-any-return]


def _folder(tiny: Tiny, tmp: Path, *, options: str = "", model: bytes | None = None,
            tokenizer: bytes | None = None, config: bytes | None = None,
            policy: str | None = None) -> Path:
    """A policy folder: the tiny model, tokenizer and config.json unless replaced."""
    tmp.mkdir(parents=True, exist_ok=True)
    for name in ("guard.onnx", "tokenizer.json", "config.json"):
        shutil.copy(tiny.folder / name, tmp / name)
    for name, data in (("guard.onnx", model), ("tokenizer.json", tokenizer),
                       ("config.json", config)):
        if data is not None:
            (tmp / name).write_bytes(data)
    (tmp / "p.pol").write_text(policy or POLICY % options, encoding="utf-8")
    return tmp


def _compile(folder: Path) -> subprocess.CompletedProcess[str]:
    return policyc("compile", str(folder / "p.pol"), "-o", str(folder / "p.pbundle"))


def _refused(done: subprocess.CompletedProcess[str], folder: Path, message: str) -> None:
    """Exit 2 with a located POL116 naming `message`, a `help:` line, no traceback."""
    out = done.stdout + done.stderr
    assert done.returncode == 2, out
    assert message in out, out
    assert "error[POL116]" in out and f"{folder / 'p.pol'}:3:3" in out and "help:" in out
    assert "Traceback" not in out


def _wordlevel_without_unk() -> bytes:
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({"hello": 0, "bomb": 1}, unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return tok.to_str().encode()


@pytest.mark.parametrize(("tokenizer", "message"), [
    # tokenizers raises on a word not in the vocabulary: was a traceback in `compile`
    (_wordlevel_without_unk, "tokenizer `tokenizer.json` cannot encode the text 'a': "
                             "WordLevel error: Missing [UNK] token"),
    # the message named the model (`guard.onnx (tokenizer)`), not the tokenizer's path
    (lambda: b"\xff not json", "tokenizer `tokenizer.json`: not a tokenizers `tokenizer.json`"),
])
def test_a_tokenizer_that_cannot_be_used_is_a_located_error(tiny: Tiny, tmp_path: Path,
                                                             tokenizer: Any,
                                                             message: str) -> None:
    folder = _folder(tiny, tmp_path, tokenizer=tokenizer())
    _refused(_compile(folder), folder, message)


def test_a_tokenizer_preset_past_the_limit_needs_max_length(tiny: Tiny, tmp_path: Path) -> None:
    # its truncation length became `max_length` unchecked (10**9 tokens: an 8 GB buffer)
    spec = json.loads(tiny.tokenizer.read_text())
    spec["truncation"] = {"direction": "Right", "max_length": 10**9,
                          "strategy": "LongestFirst", "stride": 0}
    folder = _folder(tiny, tmp_path, tokenizer=json.dumps(spec).encode())
    _refused(_compile(folder), folder, "tokenizer `tokenizer.json` truncates at 1000000000 "
                                       "tokens, over the most policyc takes (8192)")


@pytest.mark.parametrize(("config", "message"), [
    # int() read "0_2" as column 2
    (b'{"id2label": {"0": "violence", "1": "illicit", "0_2": "benign"}}',
     'the keys of `id2label` are not column numbers ("0_2")'),
    # json keeps the last of two equal keys: one label was dropped silently
    (b'{"id2label": {"0": "violence", "1": "illicit", "2": "benign", "2": "spam"}}',
     'the key "2" is given twice'),
])
def test_id2label_is_read_strictly(tiny: Tiny, tmp_path: Path, config: bytes,
                                   message: str) -> None:
    folder = _folder(tiny, tmp_path, config=config)
    done = policyc("lint", str(folder / "p.pol"))
    assert done.returncode == 2 and message in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize("case", ["rank3", "wider", "fewer_labels", "string", "string_bool"])
def test_an_output_that_does_not_fit_the_labels_fails_compile(tiny: Tiny, tmp_path: Path,
                                                              case: str) -> None:
    # these compiled, then every event failed (`on_error`) with the same shape message
    vocab = _vocab(tiny)
    if case.startswith("string"):
        policy = POLICY.replace(' tokenizer "tokenizer.json"', "").replace(
            "    %s\n", '    labels { violence = "violence" }\n')
        model = _string_model(3, "bool") if case == "string_bool" else _string_model(4)
        folder = _folder(tiny, tmp_path, model=model, policy=policy)
        # named by its path, not as `<297 bytes>`
        message = ("guard.onnx: output `scores` has shape [?, 4]; policyc reads [rows, 3]: a "
                   "score for each of the 3 labels of the metadata `policyc.labels`")
        if case == "string_bool":  # `check --text`: "invalid event: `violence` must be a
            # number, not true" (exit 2); `check --input` decided True as 1.0
            message = "guard.onnx: output `scores` is tensor(bool), not a float tensor"
    else:
        model = _model(vocab, rank3=case == "rank3", labels=4 if case == "wider" else 3)
        config = (b'{"id2label": {"0": "violence", "1": "illicit"}}'
                  if case == "fewer_labels" else None)
        folder = _folder(tiny, tmp_path, model=model, config=config)
        shape = {"rank3": "[?, 1, 3]", "wider": "[?, 4]", "fewer_labels": "[?, 3]"}[case]
        n = 2 if case == "fewer_labels" else 3
        message = (f"guard.onnx: output `logits` has shape {shape}; policyc reads [rows, {n}]: "
                   f"a score for each of the {n} labels of config.json `id2label`")
    _refused(_compile(folder), folder, message)


def test_max_length_past_the_position_table_fails_compile(tiny: Tiny, tmp_path: Path) -> None:
    # compiled, then every text longer than 8 tokens failed at run time
    model = _model(_vocab(tiny), positions=8)
    folder = _folder(tiny, tmp_path / "a", model=model)
    _refused(_compile(folder), folder, "inference failed on 1 row(s) of 512 tokens "
                                       "(`max_length` 512: lower it to what the model takes)")
    folder = _folder(tiny, tmp_path / "b", model=model, options="max_length 8\n    stride 1")
    assert _compile(folder).returncode == 0
    done = policyc("check", str(folder / "p.pbundle"), "--text", LONG, "--json")
    assert done.returncode == 0 and "errors" not in json.loads(done.stdout), done.stdout


def test_a_fixed_shape_export_scores_every_text(tiny: Tiny, tmp_path: Path) -> None:
    # input_ids [1, 16] (an export without dynamic axes): every text failed (a row is
    # not 16 tokens), or only long ones (two windows are a batch of 2), and a batch
    # padded to 16 tokens scored what `check --text` refused
    model = _model(_vocab(tiny), batch=1, seq=16)
    folder = _folder(tiny, tmp_path / "a", model=model)
    assert _compile(folder).returncode == 0  # max_length: the model's 16 tokens
    texts = ["hello", "", "how do I build a bomb at home", LONG]
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps({"id": i, "text": t}) + "\n"
                              for i, t in enumerate(texts)), encoding="utf-8")
    done = policyc("check", str(folder / "p.pbundle"), "--input", str(events))
    assert done.returncode == 0, done.stderr
    batch = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(batch) == len(texts) and not any("errors" in d for d in batch), batch
    for i in (0, 3):
        one = policyc("check", str(folder / "p.pbundle"), "--text", texts[i], "--json")
        assert json.loads(one.stdout)["scores"] == batch[i]["scores"]
    folder = _folder(tiny, tmp_path / "b", model=model, options="max_length 32")
    _refused(_compile(folder), folder, "`max_length` 32 is more than the model's fixed "
                                       "sequence length (16 tokens)")


def test_infinite_logits_follow_on_error_without_numpy_warnings(tiny: Tiny,
                                                                tmp_path: Path) -> None:
    model = _model(_vocab(tiny), bias=[float("inf"), float("-inf"), 0.0])
    folder = _folder(tiny, tmp_path, model=model, options="activation softmax")
    assert _compile(folder).returncode == 0
    done = policyc("check", str(folder / "p.pbundle"), "--text", "hello", "--json")
    decision = json.loads(done.stdout)
    assert (decision["action"], decision["argument"]) == ("escalate", "model_down")
    assert "returned nan" in decision["errors"][0]
    # one line from policyc; numpy's "RuntimeWarning: invalid value" lines were printed too
    assert done.stderr.splitlines() == [decision["errors"][0]], done.stderr


def test_eval_says_when_the_figures_are_on_error_decisions(tiny: Tiny, tmp_path: Path) -> None:
    # a model failing on every event scored a perfect harmful block rate, unremarked
    model = _model(_vocab(tiny), bias=[float("nan"), 0.0, 0.0])
    folder = _folder(tiny, tmp_path, model=model)
    assert _compile(folder).returncode == 0
    data = tmp_path / "data.jsonl"
    data.write_text('{"text": "hello", "label": "benign"}\n'
                    '{"text": "build a bomb", "label": "harmful"}\n', encoding="utf-8")
    done = policyc("eval", str(folder / "p.pbundle"), str(data), "-q", "-f", "json")
    assert done.returncode == 0, done.stderr
    warning = ("2 of 2 events had a classifier or detector fail (their `on_error` applied): "
               "the figures measure those decisions, not the model's (line 1: classifier "
               "`guard` returned nan for `violence`)")
    assert f"warning: {warning}" in done.stderr
    assert warning in json.loads(done.stdout)["notes"]


def test_a_category_bound_twice_is_pol104(tiny: Tiny, tmp_path: Path) -> None:
    # compiled, then every command refused the bundle as "inconsistent (tampered?)"
    folder = _folder(tiny, tmp_path, options='labels { violence = "violence", '
                                             'violence = "illicit" }')
    for command in ("lint", "compile"):
        args = [str(folder / "p.pol")] + (["-o", str(folder / "p.pbundle")]
                                          if command == "compile" else [])
        done = policyc(command, *args)
        out = done.stdout + done.stderr
        assert done.returncode == 2, out
        assert "error[POL104]: classifier `guard` binds `violence` twice" in out
        assert f"{folder / 'p.pol'}:4:37" in out and "first bound here" in out
    assert not (folder / "p.pbundle").exists()


@pytest.mark.parametrize(("normalize", "option"), [("policyc-fold/99", None),
                                                   ("policyc-fold/99", "on"),
                                                   (None, "on")])
def test_a_tokenizer_bundle_recording_another_normalization_is_refused(
        tiny: Tiny, tmp_path: Path, normalize: str | None, option: str | None) -> None:
    # the manifest's `normalize` was not read for tokenizer models: the binding folded
    # (or not) by the option alone, scoring otherwise than the bundle records
    from tests.helpers.bundle_craft import reseal, unpack

    folder = _folder(tiny, tmp_path)
    assert _compile(folder).returncode == 0
    manifest, files = unpack((folder / "p.pbundle").read_bytes())
    spec = manifest["classifiers"][0]
    spec.pop("normalize", None)  # None: left out, as the writer leaves it out
    if normalize is not None:
        spec["normalize"] = normalize
    if option is not None:
        spec["tokenizer"]["options"]["normalize"] = option
    bad = tmp_path / "bad.pbundle"
    bad.write_bytes(reseal(manifest, files))
    done = policyc("check", str(bad), "--text", "hello")
    assert done.returncode == 2, done.stdout + done.stderr
    assert (f"classifier `guard`: its text normalization is {normalize!r}, not "
            f"{'policyc-fold/1' if option == 'on' else None!r}") in done.stderr
    assert "Traceback" not in done.stderr


def test_a_tokenizer_with_ids_past_the_embedding_table_fails_compile(tiny: Tiny,
                                                                     tmp_path: Path) -> None:
    # another model's tokenizer (a byte-level BPE of 259 ids for a 200-row embedding
    # table): compiled, then each text holding a high id went to `on_error`
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel()
    tok.train_from_iterator(tiny_tokenized.CORPUS, trainers.BpeTrainer(
        vocab_size=150, special_tokens=["<s>", "</s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    last = tok.get_vocab_size() - 1
    assert last >= _vocab(tiny)
    folder = _folder(tiny, tmp_path, tokenizer=tok.to_str().encode())
    _refused(_compile(folder), folder, f"inference failed on 1 row(s) holding token id {last}, "
                                       "the last of tokenizer `tokenizer.json` (is it the "
                                       "model's own tokenizer?)")


def test_a_model_without_declared_shapes_still_binds(tiny: Tiny, tmp_path: Path) -> None:
    # onnxruntime reports an unknown rank as []: the shape checks must let it pass
    import onnx

    model = onnx.load_from_string(_model(_vocab(tiny)))
    for value in [*model.graph.input, *model.graph.output]:
        value.type.tensor_type.ClearField("shape")
    folder = _folder(tiny, tmp_path, model=model.SerializeToString())
    assert _compile(folder).returncode == 0
    done = policyc("check", str(folder / "p.pbundle"), "--text", LONG, "--json")
    assert done.returncode == 0 and "errors" not in json.loads(done.stdout), done.stdout


@pytest.mark.parametrize("kind", ["tokenizer", "string"])
def test_a_model_with_external_data_is_refused_even_beside_its_data(tiny: Tiny, tmp_path: Path,
                                                                    kind: str) -> None:
    # onnxruntime read the weights file of a model loaded from bytes from the working
    # directory: compiled from the model's folder, the bundle held the graph only, and
    # `check` scored with whatever `guard.onnx.data` the current folder held
    import onnx

    if kind == "string":
        policy = POLICY.replace(' tokenizer "tokenizer.json"', "").replace(
            "    %s\n", '    labels { violence = "violence" }\n')
        model = onnx.load_from_string(
            (REPO / "stdlib_policies" / "models" / "default_text.onnx").read_bytes())
    else:
        policy, model = None, onnx.load_from_string(_model(_vocab(tiny)))
    folder = _folder(tiny, tmp_path, policy=policy)
    onnx.save_model(model, str(folder / "guard.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="guard.onnx.data",
                    size_threshold=1024)
    assert (folder / "guard.onnx.data").exists()
    done = policyc("compile", "p.pol", "-o", "p.pbundle", cwd=folder)
    out = done.stdout + done.stderr
    assert done.returncode == 2, out
    assert "its weights are in a separate file, which a bundle does not carry" in out
    assert "Traceback" not in out and not (folder / "p.pbundle").exists()


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: p.symlink_to(p), "is a broken or looping symbolic link"),
    (lambda p: p.symlink_to(p.parent / "gone.onnx"), "is a broken or looping symbolic link"),
    (lambda p: __import__("os").mkfifo(p), "is not a regular file"),
])
def test_a_model_path_that_is_no_file_says_what_it_is(tiny: Tiny, tmp_path: Path, make: Any,
                                                      message: str) -> None:
    # each was "does not exist", though `ls` shows it
    folder = _folder(tiny, tmp_path)
    (folder / "guard.onnx").unlink()
    make(folder / "guard.onnx")
    done = policyc("lint", str(folder / "p.pol"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"model path `guard.onnx` of classifier `guard` {message}" in done.stdout
