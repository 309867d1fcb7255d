"""A stand-in for the PathOps control plane: records callbacks and checks their signatures."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from werkzeug import Request, Response

from pathops_contracts.callbacks import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature


@dataclass
class ReceivedCallback:
    path: str
    payload: dict[str, Any]
    signature_valid: bool
    idempotency_key: str


@dataclass
class ControlPlaneReceiver:
    """WSGI app: every POST is recorded once per Idempotency-Key; a bad signature is refused with 401."""

    signing_key: str
    token: str | None = None
    received: list[ReceivedCallback] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        return self._handle(request)(environ, start_response)

    def _handle(self, request: Request) -> Response:
        if request.method != "POST":
            return Response("{}", status=405)
        body = request.get_data()
        valid = verify_signature(self.signing_key, request.headers.get(TIMESTAMP_HEADER, ""), body,
                                 request.headers.get(SIGNATURE_HEADER, ""))
        if not valid or (self.token and request.headers.get("Authorization") != f"Bearer {self.token}"):
            return Response('{"error": "bad signature or token"}', status=401, content_type="application/json")
        key = request.headers.get(IDEMPOTENCY_HEADER, "")
        with self._lock:
            if not any(r.idempotency_key == key for r in self.received):
                self.received.append(ReceivedCallback(request.path, json.loads(body), valid, key))
        return Response('{"accepted": true}', status=202, content_type="application/json")

    def last(self, path: str) -> dict[str, Any]:
        matching = [r for r in self.received if r.path == path]
        if not matching:
            raise LookupError(f"no callback on {path}")
        return matching[-1].payload
