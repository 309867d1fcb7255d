"""A stand-in for the PathOps control plane: checks callbacks as the real one must, and records them.

The contract (see `pathops_runtime.callbacks`): a valid signature over timestamp,
Idempotency-Key and body; a timestamp within 5 minutes of the receiver's clock; a
signature never seen before (no replays); one effect per Idempotency-Key.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from werkzeug import Request, Response

from pathops_contracts.identifiers import VERIFICATION_ID
from pathops_runtime.callbacks import (
    IDEMPOTENCY_HEADER,
    MAX_SKEW_SECONDS,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify_request,
)


def new_verification_id() -> str:
    """A verification run's own id, as the control plane makes one: never derived from the incident."""
    return VERIFICATION_ID.check(f"VER-{secrets.token_hex(8)}")


@dataclass
class ReceivedCallback:
    path: str
    payload: dict[str, Any]
    signature_valid: bool
    idempotency_key: str


@dataclass
class ControlPlaneReceiver:
    """WSGI app: every POST is recorded once per Idempotency-Key.

    Refused with 401: a bad signature or token, a stale or future timestamp; with 409: a
    signature already seen (a replayed request).
    """

    signing_key: str
    token: str | None = None
    clock: Callable[[], float] = time.time
    received: list[ReceivedCallback] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # why each refused request was refused
    _seen: dict[str, float] = field(default_factory=dict)  # signature -> its timestamp
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        return self._handle(request)(environ, start_response)

    def _refuse(self, status: int, reason: str) -> Response:
        self.refused.append(reason)
        return Response(json.dumps({"error": reason}), status=status, content_type="application/json")

    def _handle(self, request: Request) -> Response:
        if request.method != "POST":
            return Response("{}", status=405)
        body = request.get_data()
        key = request.headers.get(IDEMPOTENCY_HEADER, "")
        signature = request.headers.get(SIGNATURE_HEADER, "")
        now = self.clock()
        problem = verify_request(self.signing_key, request.headers.get(TIMESTAMP_HEADER, ""), key, body, signature,
                                 now)
        if problem is None and self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
            problem = "bad token"
        if problem is not None:
            return self._refuse(401, problem)
        with self._lock:
            # Signatures older than the allowed skew are refused by their timestamp anyway.
            self._seen = {seen: at for seen, at in self._seen.items() if now - at <= 2 * MAX_SKEW_SECONDS}
            if signature in self._seen:
                return self._refuse(409, "replayed request")
            self._seen[signature] = now
            if any(r.idempotency_key == key for r in self.received):
                return Response('{"accepted": true, "duplicate": true}', status=200, content_type="application/json")
            self.received.append(ReceivedCallback(request.path, json.loads(body), True, key))
        return Response('{"accepted": true}', status=202, content_type="application/json")

    def last(self, path: str) -> dict[str, Any]:
        matching = [r for r in self.received if r.path == path]
        if not matching:
            raise LookupError(f"no callback on {path}")
        return matching[-1].payload
