"""The commands: the only modules that print or exit, one per command.

`policyc/cli.py` declares each command's options and help and calls
`policyc.commands.<name>.run(...)`, which does the work and returns the exit code.
Shared by the commands: `console` (colour, `--quiet`, errors: `fail`, `UsageError`),
`inputs` (`-` and `--stdin-filename`, bundles recognised by content, targets), and
`event_flags` (the event `check` and `explain` decide, given by flags).

A new command (replay, serve, lsp …) is one more `commands/<name>.py` with a `run`,
and its options in `cli.py`. Nothing here is imported by `policyc --help`.
"""
