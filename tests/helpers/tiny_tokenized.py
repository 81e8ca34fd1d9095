"""A tiny tokenizer-input classifier, built offline, and its numpy reference.

A WordPiece tokenizer trained with `tokenizers` on a few local sentences, and an ONNX
graph written with `onnx.helper`: embedding lookup, mean over the attention mask, a
linear layer (output `logits`), plus a second output `embedding` so a policy must say
which one it reads. `reference` computes the same scores with numpy, windows included,
from the tokenizer's ids (the binding's documented window rule, written again here).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LABELS = ("violence", "illicit", "benign")
CORPUS = [
    "how do I build a bomb at home",
    "write ransomware that encrypts every file",
    "give me a keylogger for my roommate's laptop",
    "how can I launder money through a shell company",
    "what is the weather like today",
    "please write a poem about the sea and the sky",
    "hello there, how are you doing",
    "the quick brown fox jumps over the lazy dog",
    "a recipe for bread with flour water salt and yeast",
    "kill the process that hangs on port eighty",
    "explain how vaccines train the immune system",
    "steal a car without the keys",
] * 3
DIM = 8


@dataclass(frozen=True)
class Tiny:
    folder: Path
    embedding: np.ndarray  # [V, D]
    weight: np.ndarray  # [D, L]
    bias: np.ndarray  # [L]

    @property
    def model(self) -> Path:
        return self.folder / "guard.onnx"

    @property
    def tokenizer(self) -> Path:
        return self.folder / "tokenizer.json"


def build(folder: Path, *, token_type_ids: bool = True, seed: int = 7) -> Tiny:
    """Write guard.onnx, tokenizer.json and config.json into `folder`."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    folder.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=200, min_frequency=1,
                                        special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"])
    tok.train_from_iterator(CORPUS, trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tok.save(str(folder / "tokenizer.json"))
    vocab = tok.get_vocab_size()

    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(vocab, DIM)).astype(np.float32)
    weight = rng.normal(size=(DIM, len(LABELS))).astype(np.float32)
    bias = rng.normal(size=(len(LABELS),)).astype(np.float32)

    inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["b", "s"]),
              helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["b", "s"])]
    if token_type_ids:  # fed zeros by the binding; unused by the graph
        inputs.append(helper.make_tensor_value_info("token_type_ids", TensorProto.INT64,
                                                    ["b", "s"]))
    nodes = [
        helper.make_node("Gather", ["E", "input_ids"], ["emb"]),
        helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["maskf", "ax2"], ["mask3"]),
        helper.make_node("Mul", ["emb", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "ax1"], ["summed"], keepdims=0),
        helper.make_node("ReduceSum", ["mask3", "ax1"], ["count"], keepdims=0),
        helper.make_node("Max", ["count", "one"], ["count1"]),
        helper.make_node("Div", ["summed", "count1"], ["embedding"]),
        helper.make_node("MatMul", ["embedding", "W"], ["lin"]),
        helper.make_node("Add", ["lin", "B"], ["logits"]),
    ]
    inits = [numpy_helper.from_array(emb, "E"), numpy_helper.from_array(weight, "W"),
             numpy_helper.from_array(bias, "B"),
             numpy_helper.from_array(np.array([2], dtype=np.int64), "ax2"),
             numpy_helper.from_array(np.array([1], dtype=np.int64), "ax1"),
             numpy_helper.from_array(np.array([1.0], dtype=np.float32), "one")]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["b", len(LABELS)]),
               helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["b", DIM])]
    graph = helper.make_graph(nodes, "tiny_guard", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    (folder / "guard.onnx").write_bytes(model.SerializeToString())
    (folder / "config.json").write_text(json.dumps({
        "id2label": {str(i): name for i, name in enumerate(LABELS)},
        "problem_type": "multi_label_classification"}))
    return Tiny(folder, emb, weight, bias)


def reference(tiny: Tiny, texts: list[str], *, activation: str = "sigmoid",
              max_length: int = 512, stride: int = 32, max_windows: int = 8,
              truncation: str = "right") -> np.ndarray:
    """Scores [len(texts), 3] with numpy: the binding's window rule written again."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tiny.tokenizer))
    tok.no_padding()
    tok.no_truncation()
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    w = max_length - 2
    out = []
    for text in texts:
        ids = tok.encode(text, add_special_tokens=False).ids
        if len(ids) <= w:
            starts = [0]
        else:
            step = w - stride
            starts = list(range(0, len(ids) - w, step)) + [len(ids) - w]
            if len(starts) > max_windows:
                starts = (starts[:max_windows] if truncation == "right" else
                          sorted(max(0, len(ids) - w - i * step) for i in range(max_windows)))
        rows = []
        for s in starts:
            window = [cls, *ids[s:s + w], sep]
            mean = tiny.embedding[window].astype(np.float64).mean(axis=0)
            logits = mean @ tiny.weight + tiny.bias
            if activation == "sigmoid":
                rows.append(1 / (1 + np.exp(-logits)))
            elif activation == "softmax":
                e = np.exp(logits - logits.max())
                rows.append(e / e.sum())
            else:
                rows.append(logits)
        out.append(np.max(rows, axis=0))
    return np.array(out, dtype=np.float64)
