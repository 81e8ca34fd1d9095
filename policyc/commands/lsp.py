"""`policyc lsp`: the language server over stdio (`policyc/lsp/`, docs/editors.md)."""

from __future__ import annotations


def run() -> int:
    from policyc.lsp.server import main

    main()
    return 0
