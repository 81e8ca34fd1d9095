"""The small chat policy the check tests decide with: one of each action kind, a
locked floor, a detector and a default."""

POLICY = """policy acme.chat version "2.3.0" {
  context audience: enum { adult, teen, child }
  context verified: bool = false
  categories { self_harm { intent, support } pii { email } }
  detector pii.email = regex "[a-z]+@[a-z]+\\\\.com"
  resolve most-restrictive
  default allow
  locked rule no_intent: refuse when self_harm.intent and audience == child
  rule teen_sensitive: redirect("crisis_resources")
      when any { self_harm } and audience in { teen, child }
  rule pii_redact: redact("pii") when pii.email
  rule note: warn("w") when self_harm.support
}
"""
