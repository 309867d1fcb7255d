"""Redaction tokens: the shape of `[REDACTED:<kind>:<hash6>]` and the per-incident key of its hash."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

TOKEN = re.compile(r"\[REDACTED:[a-z0-9-]+:[0-9a-f]{6}\]")
TOKEN_KEY_CONTEXT = b"pathops evidence redaction token key v1\n"


def token_key(incident_id: str, signing_key: str | None) -> bytes:
    """The HMAC key of redaction tokens: derived from the incident under the signing key.

    Stable across runs for one incident (restart-safe snapshots), different across
    incidents, and unguessable while the signing key stays secret. Without a signing key
    there is nothing secret to derive from, so the key is random (tokens then differ per run).
    """
    if not signing_key:
        return secrets.token_bytes(32)
    return hmac.new(signing_key.encode(), TOKEN_KEY_CONTEXT + incident_id.encode(), hashlib.sha256).digest()
