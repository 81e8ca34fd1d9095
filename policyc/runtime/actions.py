"""The six actions, from least to most restrictive (LANGUAGE.md §1).

Written once, here in the runtime (the lowest layer): the parser, the region algebra,
the checker and the evaluation metrics all read the order from this module.
"""

from __future__ import annotations

from typing import Literal

ActionKind = Literal["allow", "warn", "redact", "redirect", "refuse", "escalate"]

#: Actions from least to most restrictive.
ACTIONS: tuple[ActionKind, ...] = ("allow", "warn", "redact", "redirect", "refuse", "escalate")
#: An action's rank in `ACTIONS`: a higher number is more restrictive.
RESTRICTIVENESS: dict[str, int] = {a: i for i, a in enumerate(ACTIONS)}
