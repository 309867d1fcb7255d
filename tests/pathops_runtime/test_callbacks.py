"""Callbacks against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from pathops_contracts.contracts import EVIDENCE_CALLBACK
from pathops_contracts.errors import ContractViolation, ExitCode, Forbidden, UpstreamError
from pathops_runtime.callbacks import (
    CallbackSettings,
    ControlPlane,
    canonical_body,
    verify_signature,
)
from pathops_testbed.control_plane import ControlPlaneReceiver
from pathops_testbed.http_server import BackgroundServer

PAYLOAD = {
    "schema_version": "evidence-callback/v1",
    "incident_id": "INC-1042",
    "snapshot_id": "snap-" + "ab" * 16,
    "summary": "CrashLoopBackOff: container web exited 1",
    "pointers": {"bundle": "s3://pathops-evidence/snapshots/snap-" + "ab" * 16 + ".tar.gz"},
}


def _recorder(httpserver: HTTPServer, statuses: list[int]) -> list[Request]:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        status = statuses[min(len(seen) - 1, len(statuses) - 1)]
        return Response("{}", status=status, content_type="application/json")

    httpserver.expect_request("/api/evidence/callback", method="POST").respond_with_handler(handler)
    return seen


def test_signed_callback_verifies_with_the_key(httpserver: HTTPServer) -> None:
    seen = _recorder(httpserver, [202])
    result = ControlPlane(CallbackSettings(signing_key="s3cr3t-key", token="tok-123")).post(
        httpserver.url_for("/api/evidence/callback"), PAYLOAD, EVIDENCE_CALLBACK
    )
    assert result.status_code == 202 and result.attempts == 1
    request = seen[0]
    body = request.get_data()
    assert json.loads(body) == PAYLOAD
    assert body == canonical_body(PAYLOAD)
    timestamp = request.headers["X-PathOps-Timestamp"]
    key = request.headers["Idempotency-Key"]
    assert abs(float(timestamp) - time.time()) < 60
    assert verify_signature("s3cr3t-key", timestamp, key, body, request.headers["X-PathOps-Signature"])
    assert not verify_signature("another-key", timestamp, key, body, request.headers["X-PathOps-Signature"])
    # The Idempotency-Key is covered: the same request under another key does not verify.
    assert not verify_signature("s3cr3t-key", timestamp, "0" * 64, body, request.headers["X-PathOps-Signature"])
    assert request.headers["Authorization"] == "Bearer tok-123"
    assert len(request.headers["Idempotency-Key"]) == 64


def test_no_signature_header_without_a_key(httpserver: HTTPServer) -> None:
    seen = _recorder(httpserver, [200])
    ControlPlane(CallbackSettings()).post(httpserver.url_for("/api/evidence/callback"), PAYLOAD, EVIDENCE_CALLBACK)
    assert "X-PathOps-Signature" not in seen[0].headers
    assert "Authorization" not in seen[0].headers


def test_retries_on_503_then_succeeds_with_the_same_idempotency_key(httpserver: HTTPServer) -> None:
    seen = _recorder(httpserver, [503, 503, 429, 200])
    settings = CallbackSettings(signing_key="k3y-value", deadline_seconds=30, backoff_max_seconds=0.05)
    result = ControlPlane(settings).post(httpserver.url_for("/api/evidence/callback"), PAYLOAD, EVIDENCE_CALLBACK)
    assert result.attempts == 4
    keys = {request.headers["Idempotency-Key"] for request in seen}
    assert keys == {result.idempotency_key}
    for request in seen:  # every attempt is signed for its own timestamp
        assert verify_signature(
            "k3y-value", request.headers["X-PathOps-Timestamp"], request.headers["Idempotency-Key"],
            request.get_data(), request.headers["X-PathOps-Signature"],
        )
    # ...and no two attempts share a signature, so a receiver can refuse replays.
    assert len({request.headers["X-PathOps-Signature"] for request in seen}) == len(seen)


def test_idempotency_key_is_stable_across_processes(httpserver: HTTPServer) -> None:
    seen = _recorder(httpserver, [200])
    url = httpserver.url_for("/api/evidence/callback")
    first = ControlPlane(CallbackSettings()).post(url, PAYLOAD, EVIDENCE_CALLBACK)
    second = ControlPlane(CallbackSettings()).post(url, dict(reversed(list(PAYLOAD.items()))), EVIDENCE_CALLBACK)
    assert first.idempotency_key == second.idempotency_key
    assert len(seen) == 2


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_a_4xx_is_a_dependency_failure_without_retry(httpserver: HTTPServer, status: int) -> None:
    seen = _recorder(httpserver, [status])
    with pytest.raises(UpstreamError, match=f"HTTP {status}") as raised:
        ControlPlane(CallbackSettings(backoff_max_seconds=0.01)).post(
            httpserver.url_for("/api/evidence/callback"), PAYLOAD, EVIDENCE_CALLBACK
        )
    assert raised.value.exit_code == ExitCode.UPSTREAM  # 5: the payload was checked against its contract
    assert len(seen) == 1


def test_401_is_forbidden_without_retry(httpserver: HTTPServer) -> None:
    seen = _recorder(httpserver, [401])
    with pytest.raises(Forbidden) as raised:
        ControlPlane(CallbackSettings()).post(httpserver.url_for("/api/evidence/callback"), PAYLOAD, EVIDENCE_CALLBACK)
    assert raised.value.exit_code == ExitCode.FORBIDDEN
    assert "check CALLBACK_SIGNING_KEY and CONTROL_PLANE_TOKEN" in str(raised.value)  # what to set
    assert len(seen) == 1


def test_total_time_is_bounded_when_the_receiver_keeps_failing(httpserver: HTTPServer) -> None:
    seen = _recorder(httpserver, [503])
    started = time.monotonic()
    with pytest.raises(UpstreamError, match="failed after"):
        ControlPlane(CallbackSettings(deadline_seconds=1.5, backoff_max_seconds=0.3)).post(
            httpserver.url_for("/api/evidence/callback"), PAYLOAD, EVIDENCE_CALLBACK
        )
    elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 3.0
    assert len(seen) >= 3


def test_connection_refused_is_retried_then_reported() -> None:
    with pytest.raises(UpstreamError, match="ConnectionError"):
        ControlPlane(CallbackSettings(deadline_seconds=0.5, backoff_max_seconds=0.1)).post(
            "http://127.0.0.1:9/api/evidence/callback", PAYLOAD, EVIDENCE_CALLBACK
        )


def test_an_invalid_payload_is_never_sent(httpserver: HTTPServer) -> None:
    seen = _recorder(httpserver, [200])
    broken = {**PAYLOAD, "snapshot_id": "../../etc"}
    with pytest.raises(ContractViolation, match="snapshot_id"):
        ControlPlane(CallbackSettings()).post(httpserver.url_for("/api/evidence/callback"), broken, EVIDENCE_CALLBACK)
    assert seen == []


class _Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def receiver() -> Iterator[tuple[ControlPlaneReceiver, str, _Clock]]:
    """The demo's control plane on a real socket, with a clock the test can move."""
    clock = _Clock()
    control_plane = ControlPlaneReceiver("k3y-value", clock=clock)
    with BackgroundServer(control_plane) as server:
        yield control_plane, f"{server.url}/api/evidence/callback", clock


def _capture(url: str) -> requests.PreparedRequest:
    """Post once through a session that keeps the prepared request, as an eavesdropper would."""
    captured: list[requests.PreparedRequest] = []
    session = requests.Session()
    session.hooks["response"].append(lambda response, *_, **__: captured.append(response.request))
    ControlPlane(CallbackSettings(signing_key="k3y-value"), session=session).post(url, PAYLOAD, EVIDENCE_CALLBACK)
    return captured[0]


def test_the_demo_receiver_refuses_a_replayed_request(receiver: tuple[ControlPlaneReceiver, str, _Clock]) -> None:
    control_plane, url, _ = receiver
    original = _capture(url)
    replay = requests.post(url, data=original.body, headers=dict(original.headers), timeout=5)
    assert replay.status_code == 409
    assert len(control_plane.received) == 1 and control_plane.refused == ["replayed request"]


def test_the_demo_receiver_refuses_a_stale_timestamp(receiver: tuple[ControlPlaneReceiver, str, _Clock]) -> None:
    control_plane, url, clock = receiver
    clock.offset = 301.0  # the receiver's clock is 5 minutes and a second ahead of the sender's
    with pytest.raises(Forbidden, match="HTTP 401"):
        ControlPlane(CallbackSettings(signing_key="k3y-value")).post(url, PAYLOAD, EVIDENCE_CALLBACK)
    assert control_plane.received == [] and "timestamp" in control_plane.refused[0]


def test_the_demo_receiver_refuses_another_idempotency_key(receiver: tuple[ControlPlaneReceiver, str, _Clock]) -> None:
    control_plane, url, _ = receiver
    original = _capture(url)
    headers = {**dict(original.headers), "Idempotency-Key": "f" * 64}
    assert requests.post(url, data=original.body, headers=headers, timeout=5).status_code == 401
    assert len(control_plane.received) == 1 and control_plane.refused == ["bad signature"]


def test_the_demo_receiver_acts_once_per_idempotency_key(receiver: tuple[ControlPlaneReceiver, str, _Clock]) -> None:
    control_plane, url, _ = receiver
    first = ControlPlane(CallbackSettings(signing_key="k3y-value")).post(url, PAYLOAD, EVIDENCE_CALLBACK)
    again = ControlPlane(CallbackSettings(signing_key="k3y-value")).post(url, PAYLOAD, EVIDENCE_CALLBACK)
    assert (first.status_code, again.status_code) == (202, 200)
    assert len(control_plane.received) == 1 and control_plane.refused == []
