"""Checks on classifier bindings that need no model loaded (shared by lint and compile).

A model, tokenizer or config path is relative to the declaring policy's folder and stays
inside it (POL116), or names a file of the policyc model cache (``cache:NAME/FILE``,
`classifier_options.cache_models_dir`), which the policy must pin by sha256.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from policyc.diagnostics import Diagnostic, Span
from policyc.runtime.classifier_options import (
    CACHE_PREFIX,
    OPTIONS,
    cache_models_dir,
    check_option,
    id2label_names,
)
from policyc.semantics.model import ClassifierBinding
from policyc.semantics.resolve import did_you_mean, error
from policyc.syntax import ast

#: what a model-cache path problem suggests
CACHE_HELP = ("build the model into the cache: `python tools/build_minilm.py` "
              "(or set POLICYC_CACHE to the cache that holds it)")
LOCAL_HELP = "give a path relative to the policy's folder, inside that folder"
CACHE_DOTDOT_HELP = ("a `cache:` path names a file inside the policyc model cache, such as "
                     "`cache:minilm-1.1.0/model.onnx`")
#: the largest config.json read for its labels
MAX_CONFIG_BYTES = 1 << 20


def is_cache_path(path: str) -> bool:
    return path.startswith(CACHE_PREFIX)


def file_path(base_dir: str, path: str) -> Path:
    """Where `path` (as written in a policy of folder `base_dir`) points."""
    if is_cache_path(path):
        return cache_models_dir() / path[len(CACHE_PREFIX):]
    return Path(base_dir) / path


def path_problem(base_dir: str, path: str) -> tuple[str, str] | None:
    """(why the path is unusable, help), or None. A local path must stay inside the
    policy's folder (no absolute paths, no `..`, no symbolic link out) and name an
    existing file; a `cache:` path must name a file of the model cache."""
    cache = is_cache_path(path)
    rel_text = path[len(CACHE_PREFIX):] if cache else path
    base = cache_models_dir() if cache else Path(base_dir)
    rel = Path(rel_text)
    help = CACHE_HELP if cache else LOCAL_HELP
    if not rel_text or rel.is_absolute() or rel_text.startswith(("/", "\\")) or (
            os.path.isabs(rel_text)):
        return "is absolute" if rel_text else "is empty", help
    if ".." in rel.parts:
        return "uses `..`", (CACHE_DOTDOT_HELP if cache else help)
    if "\0" in rel_text:  # no file system accepts it (os.path raises on it)
        return "contains a NUL character", help
    real_base = os.path.realpath(base)
    real = os.path.realpath(base / rel)
    if os.path.commonpath([real_base, real]) != real_base:
        where = "the model cache" if cache else "the policy's folder"
        return f"escapes {where} through a symbolic link", help
    if os.path.isdir(real):
        return f"is a folder, not a model file (looked for {base / rel})", help
    if not os.path.isfile(real):
        if os.path.islink(base / rel) and not os.path.exists(base / rel):
            return f"is a broken or looping symbolic link ({base / rel})", help
        if os.path.exists(real):  # a pipe, a socket or a device: not a model file
            return f"is not a regular file ({base / rel})", help
        if cache:
            return f"is not in the policyc model cache (looked for {base / rel})", help
        return f"does not exist (looked for {base / rel})", help
    return None


def model_path_problem(c: ClassifierBinding) -> str | None:
    """Why the model path is unusable, or None (see `path_problem`)."""
    problem = path_problem(c.base_dir, c.path)
    return None if problem is None else problem[0]


def model_path(c: ClassifierBinding) -> Path:
    return file_path(c.base_dir, c.path)


def adjacent_config(base_dir: str, path: str) -> str | None:
    """The `config.json` beside a model path (as a path in the same form), if it exists."""
    cache = is_cache_path(path)
    rel = path[len(CACHE_PREFIX):] if cache else path
    parent = str(PurePosixPath(rel.replace("\\", "/")).parent)
    cand = "config.json" if parent in ("", ".") else f"{parent}/config.json"
    cand = CACHE_PREFIX + cand if cache else cand
    return cand if path_problem(base_dir, cand) is None else None


def config_labels(base_dir: str, path: str) -> list[str] | str:
    """The column names of `config.json` `id2label` in column order, or why there are none."""
    try:
        with open(file_path(base_dir, path), "rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as err:
        return f"`{path}` cannot be read: {err.strerror or err}"
    if len(raw) > MAX_CONFIG_BYTES:
        return f"`{path}` is over {MAX_CONFIG_BYTES} bytes"
    try:
        return id2label_names(raw, path)
    except ValueError as err:
        return str(err)


def classifier_options(d: ast.Classifier) -> tuple[tuple[tuple[str, str | int], ...],
                                                    list[Diagnostic]]:
    """The body's options, checked by name and value, and a POL116 error for each bad one."""
    out: dict[str, str | int] = {}
    problems: list[Diagnostic] = []

    def bad(message: str, span: Span | None, help: str | None) -> None:
        problems.append(error("POL116", message, span, help))

    for opt in d.options:
        spec = OPTIONS.get(opt.name)
        if spec is None:
            guess = did_you_mean(opt.name, OPTIONS)
            bad(f"classifier `{d.name}` has no option `{opt.name}`", opt.span,
                guess or f"the options are {', '.join(f'`{n}`' for n in OPTIONS)}")
            continue
        if spec.tokenizer_only and d.tokenizer is None:
            bad(f"option `{opt.name}` applies to tokenizer-input classifiers only",
                opt.span, f'add `tokenizer "tokenizer.json"` after the model path, or remove '
                f"`{opt.name}`")
            continue
        why = check_option(opt.name, opt.value, opt.kind)
        if why is not None:
            bad(f"classifier `{d.name}`: {why}", opt.span, spec.doc)
            continue
        if opt.name in out:
            bad(f"classifier `{d.name}` sets `{opt.name}` twice", opt.span, "keep one")
            continue
        out[opt.name] = int(opt.value) if spec.kind == "number" else str(opt.value)
    if "stride" in out and "max_length" in out and int(out["stride"]) * 2 >= int(
            out["max_length"]):
        span = next(o.span for o in d.options if o.name == "stride")
        bad(f"classifier `{d.name}`: `stride` must be under half of `max_length`", span,
            "windows share `stride` tokens; a smaller overlap keeps the window count down")
    pins = [("model_sha256", d.path)] + ([("tokenizer_sha256", d.tokenizer)]
                                         if d.tokenizer is not None else [])
    for pin, path in pins:
        if is_cache_path(path) and pin not in out:
            bad(f"classifier `{d.name}`: `{path}` is in the model cache, outside the policy, "
                f"and must be pinned", d.span,
                f'add `{pin} "<sha256 of the file>"` to the classifier body')
    return tuple(out.items()), problems
