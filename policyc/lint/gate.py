"""What `compile` asks of lint, handed to it by its caller (compile does not import lint).

`compile_program(..., gate=COMPILE_GATE)`: compile refuses a child that loosens a floor
or breaks `narrowing` (the rules `compile.pipeline.HIERARCHY_ERRORS` names), and counts
(or, with `--strict`, refuses) the other lint errors.
"""

from __future__ import annotations

from collections.abc import Sequence

from policyc.diagnostics import Diagnostic, Severity
from policyc.lint.config import LintConfig
from policyc.lint.context import LintContext
from policyc.lint.registry import all_codes
from policyc.lint.runner import run_rules
from policyc.semantics.model import FlatPolicy
from policyc.semantics.program import Program


class CompileGate:
    """The lint questions compile asks (`compile.pipeline.LintGate`)."""

    def check(self, program: Program, policy: FlatPolicy, codes: Sequence[str]
              ) -> list[Diagnostic]:
        """The findings of the rules `codes` on `policy`, in that order (no config, no
        suppressions: what they find has no defined meaning in a bundle)."""
        registry = all_codes()
        ctx = LintContext(program, policy)
        return [d for code in codes for d in registry[code].check(ctx)]  # type: ignore[misc]

    def errors(self, program: Program, policy: FlatPolicy, exclude: Sequence[str]
               ) -> list[Diagnostic]:
        """The error-level findings of every other rule (suppressions apply): each has a
        defined runtime meaning, so they do not block a bundle without `--strict`."""
        select = [code for code, spec in all_codes().items()
                  if spec.check is not None and spec.severity is Severity.error
                  and code not in exclude]
        return [d for d in run_rules(program, LintConfig(select=select), [policy])
                if d.severity is Severity.error and not d.fatal]


COMPILE_GATE = CompileGate()
