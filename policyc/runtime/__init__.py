"""The runtime: load a bundle and decide events; never imports the parser or semantics.

The guide, with examples that run in the tests, is docs/runtime.md.

    >>> from policyc.runtime import Bundle          # doctest: +SKIP
    >>> Bundle.load("chat.bundle").check(scores={"pii.email": 0.9}).action  # doctest: +SKIP
    'redact'
"""

from policyc.runtime.bundle import Bundle, BundleError
from policyc.runtime.checker import BatchResult, Checker, InvalidEvent, RuntimeDecision

__all__ = ["BatchResult", "Bundle", "BundleError", "Checker", "InvalidEvent", "RuntimeDecision"]
