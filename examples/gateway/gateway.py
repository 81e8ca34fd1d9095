"""A gateway that puts `policyc serve` in front of a model call, both directions.

    policyc compile examples/coding_agent/agent.pol -o agent.pbundle
    policyc serve agent.pbundle &
    python examples/gateway/gateway.py "set the git author to jane.doe@example.com"

The user's prompt is checked as `direction = input` before the model sees it, the
model's answer as `direction = output` before the user does (`std.pii`'s attribute).
`fake_model` stands for the real call.
"""

from __future__ import annotations

import os
import sys

from policyc.serve.client import Client

BLOCKING = {"refuse", "escalate", "redirect"}
POLICY = os.environ.get("POLICYC_POLICY", "agent")  # the name `policyc serve` gives it


def fake_model(prompt: str) -> str:
    return f"Done. I also emailed the maintainer at jane.doe@example.com about: {prompt}"


def answer(guard: Client, prompt: str) -> str:
    d = guard.check(text=prompt, context={"direction": "input", "tool_use": False},
                    policy=POLICY)
    if d["action"] in BLOCKING:
        return f"[blocked before the model: {d['action']} by {d['rule']}]"
    reply = fake_model(prompt)
    d = guard.check(text=reply, context={"direction": "output", "tool_use": False},
                    policy=POLICY)
    if d["action"] in BLOCKING:
        return f"[answer withheld: {d['action']} by {d['rule']}]"
    return d.get("redacted", reply) if d["action"] == "redact" else reply


if __name__ == "__main__":
    guard = Client(os.environ.get("POLICYC_URL", "http://127.0.0.1:8321"))
    print(answer(guard, " ".join(sys.argv[1:]) or "hello"))
