"""policyc: a policy-as-code compiler and linter for AI-safety guardrails."""

__version__ = "0.1.0"
