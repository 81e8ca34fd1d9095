"""Checks on classifier bindings that need no model loaded (shared by lint and compile)."""

from __future__ import annotations

import os
from pathlib import Path

from policyc.semantics.model import ClassifierBinding


def model_path_problem(c: ClassifierBinding) -> str | None:
    """Why a model path is unusable, or None: it must stay inside the policy's folder
    (no absolute paths, no `..`, no symbolic link out) and name an existing file."""
    base = Path(c.base_dir)
    rel = Path(c.path)
    if rel.is_absolute() or c.path.startswith(("/", "\\")) or os.path.isabs(c.path):
        return "is absolute"
    if ".." in rel.parts:
        return "uses `..`"
    real_base = os.path.realpath(base)
    real = os.path.realpath(base / rel)
    if os.path.commonpath([real_base, real]) != real_base:
        return "escapes the policy's folder through a symbolic link"
    if not os.path.isfile(real):
        return f"does not exist (looked for {base / rel})"
    return None


def model_path(c: ClassifierBinding) -> Path:
    return Path(c.base_dir) / c.path
