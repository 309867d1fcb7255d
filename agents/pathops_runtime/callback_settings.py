"""How control-plane callbacks are sent: signing key, token, deadlines.

Kept apart from `callbacks` (requests, tenacity, jsonschema, the redactor) so a command can
read its options at start without importing what only sending a callback needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class CallbackSettings:
    # Credentials: never in a repr (the tools' settings carry these, and a repr can reach a log line).
    signing_key: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    deadline_seconds: float = 120.0
    attempt_timeout_seconds: float = 10.0
    backoff_max_seconds: float = 10.0
