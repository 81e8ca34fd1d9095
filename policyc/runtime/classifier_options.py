"""The options of a `classifier { }` body: names, value kinds, ranges, defaults.

One table, read by the semantics (to report a bad option where it is written) and by
the tokenizer-input binding (`tokenized_binding.py`, for the defaults). Pure Python:
importing it costs nothing.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ACTIVATIONS",
    "CACHE_PREFIX",
    "MAX_WINDOWS_LIMIT",
    "OPTIONS",
    "Option",
    "cache_models_dir",
    "check_option",
    "id2label_names",
]

ACTIVATIONS = ("softmax", "sigmoid", "none")
TRUNCATION = ("right", "left")
#: `max_windows` may not exceed this: a text costs at most this many model rows
MAX_WINDOWS_LIMIT = 64
#: the longest `max_length` accepted (a model's position table is rarely above 8192)
MAX_LENGTH_LIMIT = 8192
#: a model path `cache:minilm-1.1.0/model.onnx` names a file of the policyc model cache
CACHE_PREFIX = "cache:"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Option:
    name: str
    kind: str  # "name", "number" or "string": what the value is written as
    tokenizer_only: bool
    doc: str
    choices: tuple[str, ...] = ()
    low: int = 0
    high: int = 0


OPTIONS: dict[str, Option] = {o.name: o for o in (
    Option("output", "string", True, "the model output to read (default: the only one, "
           "else `logits`, `probabilities` or `scores`)"),
    Option("activation", "name", True, "applied to the output row", ACTIVATIONS),
    Option("max_length", "number", True, "tokens per model row, special tokens included",
           low=4, high=MAX_LENGTH_LIMIT),
    Option("stride", "number", True, "tokens two consecutive windows share", low=0,
           high=MAX_LENGTH_LIMIT),
    Option("max_windows", "number", True, "most windows scored per text",
           low=1, high=MAX_WINDOWS_LIMIT),
    Option("truncation", "name", True, "which end of a text longer than `max_windows` "
           "windows is left out", TRUNCATION),
    Option("normalize", "name", False, "the detectors' text normalization before the model",
           ("on", "off")),
    Option("model_sha256", "string", False, "pins the model file (required for `cache:`)"),
    Option("tokenizer_sha256", "string", True, "pins tokenizer.json (required for `cache:`)"),
    Option("config_sha256", "string", True, "pins config.json (required for `cache:` "
           "without `labels`)"),
)}


def check_option(name: str, value: str | float, kind: str) -> str | None:
    """Why `name value` is not a valid option value, or None (the name is known)."""
    opt = OPTIONS[name]
    if kind == "number" and float(value) == int(value):
        value = int(value)  # `-5`, as written, not `-5.0`
    shown = f"`{value}`" if kind != "string" else f'"{value}"'
    if opt.kind == "number":
        if kind != "number" or float(value) != int(value) or not (
                opt.low <= int(value) <= opt.high):
            return (f"`{name}` takes a whole number from {opt.low} to {opt.high}, "
                    f"not {shown}")
        return None
    if opt.kind == "string":
        if kind != "string":
            return f"`{name}` takes a string in quotes, not {shown}"
        if name.endswith("_sha256") and not _HEX64.match(str(value)):
            return f"`{name}` takes 64 lowercase hex digits (a sha256), not {shown}"
        return None
    if kind != "name" or value not in opt.choices:
        return f"`{name}` takes one of {', '.join(opt.choices)}, not {shown}"
    return None


def id2label_names(data: bytes, source: str) -> list[str]:
    """The column names of a `config.json` `id2label`, in column order; ValueError says why
    there are none (not JSON, no `id2label`, keys not 0..n-1, names not distinct)."""
    try:
        config = json.loads(data, object_pairs_hook=_no_duplicates)
    except _DuplicateKey as err:
        raise ValueError(f"`{source}`: {err}") from None
    except ValueError as err:
        raise ValueError(f"`{source}` is not JSON: {err}") from None
    id2label = config.get("id2label") if isinstance(config, dict) else None
    if not isinstance(id2label, dict) or not id2label:
        raise ValueError(f"`{source}` has no `id2label` object")
    # column numbers as a config.json writes them: ASCII digits (int() would also take
    # "0_2", " 2", "+2" and other scripts' digits, and give another column silently)
    bad = next((k for k in id2label if not (k.isascii() and k.isdigit())), None)
    if bad is not None:
        raise ValueError(f"`{source}`: the keys of `id2label` are not column numbers "
                         f"({json.dumps(bad)[:42]})")
    columns = sorted(((int(k), v) for k, v in id2label.items()), key=lambda kv: kv[0])
    names = [v for _, v in columns]
    if [k for k, _ in columns] != list(range(len(columns))) or not all(
            isinstance(v, str) and v for v in names) or len(set(names)) != len(names):
        raise ValueError(f"`{source}`: `id2label` must map 0..n-1 to distinct non-empty names")
    return names


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """A JSON object's dict; a key given twice is an error (json would keep the last)."""
    out: dict[str, object] = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(f"the key {json.dumps(k)[:42]} is given twice")
        out[k] = v
    return out


def cache_models_dir() -> Path:
    """Where `cache:` model paths point: ``$POLICYC_CACHE/models``, else
    ``~/.cache/policyc/models`` (where ``tools/build_minilm.py`` writes)."""
    env = os.environ.get("POLICYC_CACHE")
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "policyc"
    return root / "models"
