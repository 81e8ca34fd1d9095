"""The language server (`policyc lsp`): the front end and the semantic lint for editors.

`server` wires pygls; `analysis` keeps one analysed document (parents cached);
`index` finds every name in a policy's sources; `features` answers hover, definition,
references, completion and symbols; `positions` converts to LSP's UTF-16 columns.
"""
