"""The files of a classifier binding, read once, checked against their pins, and bound.

Compile loads every model (and a tokenizer-input model's tokenizer and config.json) the
way the runtime will (a tokenizer-input model is run once on its shortest and its
longest row), so a broken model, a missing `input_ids`, a label the model does not have,
an output whose declared shape does not fit the labels, a tokenizer model that cannot
take `max_length` tokens, or a file whose sha256 is not the policy's pin fails the
compile (POL116), not every event at run time.
"""

from __future__ import annotations

from dataclasses import dataclass

from policyc.diagnostics import Diagnostic, diagnostic
from policyc.runtime.bundle import TokenizerSpec, sha256_bytes
from policyc.runtime.normalize import NORMALIZATION_VERSION
from policyc.semantics.bindings import CACHE_HELP, file_path, is_cache_path, path_problem
from policyc.semantics.model import ClassifierBinding

#: what a string-input model sees unless its metadata says otherwise (by version)
STRING_NORMALIZATION = f"policyc-fold/{NORMALIZATION_VERSION}"


@dataclass
class BoundModel:
    """One classifier's bytes for the bundle: the model, and a tokenizer model's extras."""

    sha256: str
    data: bytes
    normalize: str | None
    tokenizer: TokenizerSpec | None = None
    #: bundle member name -> bytes (the tokenizer.json and config.json)
    extra: dict[str, bytes] | None = None


def _error(message: str, c: ClassifierBinding, help: str) -> Diagnostic:
    return diagnostic("POL116", message, c.span, help=help, fatal=True)


def _read(c: ClassifierBinding, what: str, path: str, pin: str | None
          ) -> tuple[bytes | None, Diagnostic | None]:
    """A binding file's bytes, or the POL116 error saying why not."""
    problem = path_problem(c.base_dir, path)
    if problem is None:
        try:
            data = file_path(c.base_dir, path).read_bytes()
        except OSError as err:
            problem = (f"cannot be read: {err.strerror or err}", "check the file")
    if problem is not None:
        return None, _error(f"{what} path `{path}` of classifier `{c.name}` {problem[0]}", c,
                            problem[1])
    options = dict(c.options)
    pinned = options.get(pin) if pin else None
    if pinned is not None and sha256_bytes(data) != pinned:
        help = (CACHE_HELP + f", or pin the cache's file: `{pin} \"{sha256_bytes(data)}\"`"
                if is_cache_path(path) else f"update `{pin}` if the new file is meant")
        return None, _error(f"{what} `{path}` of classifier `{c.name}` has sha256 "
                            f"{sha256_bytes(data)}, not the pinned {pinned}", c, help)
    return data, None


def bind_model(c: ClassifierBinding) -> BoundModel | Diagnostic:
    """Read, check and load one classifier's files; a POL116 error when anything fails."""
    data, err = _read(c, "model", c.path, "model_sha256")
    if err is not None or data is None:
        return err or _error(f"classifier `{c.name}` has no model", c, "")
    options = dict(c.options)
    if c.tokenizer is None:
        return _bind_string_model(c, data, options)
    tok, err = _read(c, "tokenizer", c.tokenizer, "tokenizer_sha256")
    if err is not None or tok is None:
        return err or _error(f"classifier `{c.name}` has no tokenizer", c, "")
    config = None
    if c.config is not None:
        config, err = _read(c, "config", c.config, "config_sha256")
        if err is not None:
            return err
        if is_cache_path(c.config) and "config_sha256" not in options:
            return _error(f"classifier `{c.name}`: `{c.config}` is in the model cache, outside "
                          "the policy, and must be pinned", c,
                          f'add `config_sha256 "{sha256_bytes(config or b"")}"` to the '
                          "classifier body, if that file is the one you mean")
    try:
        from policyc.runtime.errors import BindingError
        from policyc.runtime.tokenized_binding import TokenizedClassifier
    except ImportError:  # pragma: no cover - onnxruntime not installed
        return _error(f"classifier `{c.name}` cannot be bound: onnxruntime is not installed", c,
                      "pip install onnxruntime")
    try:
        TokenizedClassifier(data, tok, dict(c.labels), config=config, options=options,
                            source=c.path, tokenizer_source=c.tokenizer).probe()
    except BindingError as err2:
        return _error(f"classifier `{c.name}` cannot be bound: {err2}", c,
                      "check the model, its tokenizer and config.json, and the `labels` mapping")
    tok_sha = sha256_bytes(tok)
    extra = {f"models/{tok_sha}.json": tok}
    spec = TokenizerSpec(file=f"models/{tok_sha}.json", sha256=tok_sha, source=c.tokenizer,
                         options=options)
    if config is not None:
        cfg_sha = sha256_bytes(config)
        extra[f"models/{cfg_sha}.json"] = config
        spec = spec.model_copy(update={"config_file": f"models/{cfg_sha}.json",
                                       "config_sha256": cfg_sha, "config_source": c.config})
    normalize = STRING_NORMALIZATION if options.get("normalize") == "on" else None
    return BoundModel(sha256_bytes(data), data, normalize, spec, extra)


def _bind_string_model(c: ClassifierBinding, data: bytes, options: dict[str, str | int]
                       ) -> BoundModel | Diagnostic:
    normalize: str | None = STRING_NORMALIZATION
    try:  # load it once now, so a broken model or a missing label fails the compile
        from policyc.runtime.onnx_binding import BindingError, OnnxClassifier
    except ImportError:  # pragma: no cover - onnxruntime not installed
        pass
    else:
        try:
            normalize = OnnxClassifier(data, dict(c.labels), source=c.path).normalize
        except BindingError as err:
            return _error(f"classifier `{c.name}` cannot be bound: {err}", c,
                          "check the model file and the `labels` mapping")
    if options.get("normalize") == "off":
        normalize = None
    return BoundModel(sha256_bytes(data), data, normalize)
