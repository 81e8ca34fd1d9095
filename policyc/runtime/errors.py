"""`BindingError`, in a module of its own so that `policyc.runtime` can export it without
importing onnxruntime (which `onnx_binding`, where it is raised most, imports)."""

from __future__ import annotations


class BindingError(RuntimeError):
    """A model could not be loaded, bound to the policy's categories, or run."""
