"""Callbacks to the PathOps control plane: signed, idempotent, retried within a deadline.

Headers on every POST:
- `Idempotency-Key`: sha256 of the URL and the canonical body, so it is the same on
  every retry, including a retry of the whole Job.
- `X-PathOps-Timestamp`: unix time of this attempt, in seconds with milliseconds
  (`1764590000.123`), so that no two attempts carry the same signature.
- `X-PathOps-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<idempotency key>.<body>">`
  when a signing key is configured (`CALLBACK_SIGNING_KEY`): the key is signed too, so a
  captured request cannot be re-sent under another key.
- `Authorization: Bearer <token>` when `CONTROL_PLANE_TOKEN` is set.

A receiver (see `verify_request`) refuses a bad signature, a timestamp more than
`MAX_SKEW_SECONDS` (5 minutes) away from its clock, and a signature it has already seen
(a replay); it answers a new attempt of an Idempotency-Key it has already accepted as a
success without acting twice.

Connection errors, timeouts, 429 and 5xx are retried with exponential backoff and full
jitter until `deadline_seconds` is spent; any other 4xx is final: 401/403 are refused
credentials (exit 6), the rest a failure of the control plane (exit 5).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_random_exponential,
)

from pathops_contracts.errors import Forbidden, UpstreamError

# Re-exported: the settings live apart so that reading a command's options does not import requests.
from pathops_runtime.callback_settings import CallbackSettings as CallbackSettings

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-PathOps-Signature"
TIMESTAMP_HEADER = "X-PathOps-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def canonical_body(payload: Mapping[str, Any]) -> bytes:
    """The exact bytes that are sent and signed: sorted keys, no insignificant spaces."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def idempotency_key(url: str, body: bytes) -> str:
    return hashlib.sha256(url.encode() + b"\n" + body).hexdigest()


MAX_SKEW_SECONDS = 300


def sign(signing_key: str, timestamp: str, key: str, body: bytes) -> str:
    """`sha256=<hex>` HMAC-SHA256 of '<timestamp>.<idempotency key>.<body>'."""
    message = timestamp.encode() + b"." + key.encode() + b"." + body
    return "sha256=" + hmac.new(signing_key.encode(), message, hashlib.sha256).hexdigest()


def verify_signature(signing_key: str, timestamp: str, key: str, body: bytes, header: str) -> bool:
    """Constant-time comparison of the expected signature."""
    return hmac.compare_digest(sign(signing_key, timestamp, key, body), header)


def verify_request(signing_key: str, timestamp: str, key: str, body: bytes, header: str, now: float) -> str | None:
    """What a receiver checks before anything else; returns why it refuses, or None.

    (Replays, a signature seen before, need the receiver's memory: see pathops_testbed.control_plane.)
    """
    if not verify_signature(signing_key, timestamp, key, body, header):
        return "bad signature"
    try:
        moment = float(timestamp)
    except ValueError:
        return "bad timestamp"
    if not abs(now - moment) <= MAX_SKEW_SECONDS:
        return f"timestamp more than {MAX_SKEW_SECONDS}s away from the receiver's clock"
    return None


class _Retryable(Exception):
    """An attempt failed in a way worth trying again."""


@dataclass(frozen=True)
class CallbackResult:
    status_code: int
    attempts: int
    idempotency_key: str


class ControlPlane:
    """Posts contract-checked documents to control-plane endpoints."""

    def __init__(
        self,
        settings: CallbackSettings,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = settings
        self._session = session or requests.Session()
        self._sleep = sleep

    def post(self, url: str, payload: Mapping[str, Any], contract: str) -> CallbackResult:
        """Validate payload against contract, then deliver it or raise once the deadline is spent."""
        # jsonschema (~0.05 s to import) is imported by the first post, not by every tool that may post.
        from pathops_contracts.contracts import validate_document

        validate_document(payload, contract)
        body = canonical_body(payload)
        key = idempotency_key(url, body)
        attempts = 0

        def attempt() -> int:
            nonlocal attempts
            attempts += 1
            return self._attempt(url, body, key)

        retrying = Retrying(
            retry=retry_if_exception_type(_Retryable),
            stop=stop_after_delay(self._settings.deadline_seconds),
            wait=wait_random_exponential(multiplier=0.5, max=self._settings.backoff_max_seconds),
            sleep=self._sleep,
            before_sleep=_log_retry,
            reraise=True,
        )
        try:
            status = retrying(attempt)
        except _Retryable as error:
            raise UpstreamError(
                f"callback to {url} failed after {attempts} attempts in {self._settings.deadline_seconds:g}s: {error}"
            ) from error
        log.info("callback delivered", extra={"url": url, "status": status, "attempts": attempts})
        return CallbackResult(status, attempts, key)

    def _attempt(self, url: str, body: bytes, key: str) -> int:
        timestamp = f"{time.time():.3f}"
        headers = {
            "Content-Type": "application/json",
            IDEMPOTENCY_HEADER: key,
            TIMESTAMP_HEADER: timestamp,
        }
        if self._settings.signing_key:
            headers[SIGNATURE_HEADER] = sign(self._settings.signing_key, timestamp, key, body)
        if self._settings.token:
            headers["Authorization"] = f"Bearer {self._settings.token}"
        try:
            response = self._session.post(
                url, data=body, headers=headers, timeout=self._settings.attempt_timeout_seconds
            )
        except (requests.ConnectionError, requests.Timeout) as error:
            raise _Retryable(f"{type(error).__name__}: {error}") from error
        code = response.status_code
        if code == 429 or code >= 500:
            raise _Retryable(f"HTTP {code}")
        if code in (401, 403):
            raise Forbidden(f"control plane refused the callback to {url}: HTTP {code} (check CALLBACK_SIGNING_KEY "
                            "and CONTROL_PLANE_TOKEN)")
        if code >= 400:
            # Our payload was validated against its contract before sending: a 4xx is the control
            # plane's failure to take it (or its refusal of a replay), a dependency failure.
            raise UpstreamError(f"control plane rejected the callback to {url}: HTTP {code} {_excerpt(response.text)}")
        return code


def _excerpt(text: str) -> str:
    """A short, redacted excerpt of a response body for an error message."""
    # Imported here: the redactor's detectors (detect_secrets) cost a tenth of a second to import,
    # which only a refused callback needs to pay.
    from pathops_contracts.redaction import Redactor

    return repr(Redactor().redact(text[:200], "callback response"))


def _log_retry(state: RetryCallState) -> None:
    outcome = state.outcome
    reason = str(outcome.exception()) if outcome is not None else "unknown"
    wait = state.next_action.sleep if state.next_action is not None else 0.0
    log.warning(
        "callback attempt failed; retrying",
        extra={"attempt": state.attempt_number, "reason": reason, "wait_s": round(wait, 2)},
    )
