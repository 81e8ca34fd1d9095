"""The runtime: load a bundle and decide events; never imports the parser or semantics.

The guide, with examples that run in the tests, is docs/runtime.md.

    >>> from policyc.runtime import Bundle          # doctest: +SKIP
    >>> Bundle.load("chat.pbundle").check(scores={"pii.email": 0.9}).action  # doctest: +SKIP
    'redact'
"""

from policyc.runtime.bundle import BundleError
from policyc.runtime.checker import BatchResult, Bundle, Checker, InvalidEvent, RuntimeDecision
from policyc.runtime.errors import BindingError

__all__ = ["BatchResult", "BindingError", "Bundle", "BundleError", "Checker", "InvalidEvent",
           "RuntimeDecision"]
