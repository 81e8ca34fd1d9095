"""`policyc explain`: which rules match an event, which one decides, and why.

Exit codes: 0 explained; 2 the target or a flag could not be processed (as `check`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from policyc.commands.event_flags import INPUT_ERRORS, decide_one, input_failure, parse_event
from policyc.render.explain import explain_json, explain_text


def run(target: Path, text: str | None, context_list: list[str], score_list: list[str],
        path: list[Path], json_out: bool = False, stdin_filename: str | None = None,
        verify_key: list[Path] | None = None) -> int:
    try:
        checker, d = decide_one(target, text, context_list, score_list, path, stdin_filename,
                                verify_key)
        context, _ = parse_event(checker, context_list, score_list)
    except INPUT_ERRORS as exc:
        return input_failure(exc)
    if json_out:
        sys.stdout.write(json.dumps(explain_json(checker, d, context), ensure_ascii=False,
                                    indent=2) + "\n")
    else:
        sys.stdout.write(explain_text(checker, d, context) + "\n")
    return 0
