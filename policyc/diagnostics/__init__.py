"""Diagnostics: the source span, the diagnostic model and the one table of codes.

Below `syntax/` and everything else of the front end: every layer reports through
`diagnostic(code, message, span, ...)`, which takes the severity from `CODES`.
"""

from policyc.diagnostics.codes import CODES, Code, diagnostic
from policyc.diagnostics.model import (
    Diagnostic,
    PolicycError,
    Related,
    Severity,
    sort_diagnostics,
)
from policyc.diagnostics.span import Span

__all__ = ["CODES", "Code", "Diagnostic", "PolicycError", "Related", "Severity", "Span",
           "diagnostic", "sort_diagnostics"]
