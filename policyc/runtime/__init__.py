"""The runtime: load a bundle and decide events; never imports the parser or semantics.

The guide, with examples that run in the tests, is docs/runtime.md.

    >>> from policyc.runtime import Bundle          # doctest: +SKIP
    >>> Bundle.load("chat.pbundle").check(scores={"pii.email": 0.9}).action  # doctest: +SKIP
    'redact'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from policyc.runtime.bundle import Bundle, BundleError
    from policyc.runtime.checker import BatchResult, Checker, InvalidEvent, RuntimeDecision
    from policyc.runtime.errors import BindingError

#: The public API, imported on first use: the front end reads `runtime.actions` and
#: `runtime.detectors` without paying for numpy and the bundle loader (PEP 562).
_HOMES = {"Bundle": "bundle", "BundleError": "bundle", "BatchResult": "checker",
          "Checker": "checker", "InvalidEvent": "checker", "RuntimeDecision": "checker",
          "BindingError": "errors"}

__all__ = ["BatchResult", "BindingError", "Bundle", "BundleError", "Checker", "InvalidEvent",
           "RuntimeDecision"]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
