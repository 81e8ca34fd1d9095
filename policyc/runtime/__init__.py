"""The runtime: load a bundle and decide events; never imports the parser or semantics.

The guide, with examples that run in the tests, is docs/runtime.md.

    >>> from policyc.runtime import Bundle          # doctest: +SKIP
    >>> Bundle.load("chat.pbundle").check(scores={"pii.email": 0.9}).action  # doctest: +SKIP
    'redact'

The public names load on first use (PEP 562): the front end imports small runtime
modules (`bits`, `detector_specs`) without paying for numpy and the bundle loader.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from policyc.runtime.bundle import BundleError
    from policyc.runtime.checker import BatchResult, Bundle, Checker, InvalidEvent, RuntimeDecision
    from policyc.runtime.errors import BindingError

__all__ = ["BatchResult", "BindingError", "Bundle", "BundleError", "Checker", "InvalidEvent",
           "RuntimeDecision"]

_HOME = {"BatchResult": "checker", "BindingError": "errors", "Bundle": "checker",
         "BundleError": "bundle", "Checker": "checker", "InvalidEvent": "checker",
         "RuntimeDecision": "checker"}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'policyc.runtime' has no attribute {name!r}")
    value = getattr(import_module(f"policyc.runtime.{home}"), name)
    globals()[name] = value
    return value
