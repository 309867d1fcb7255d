"""Deliver: upload, then call back; against the moto S3 server and a real HTTP receiver."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from pathops_contracts.contracts import EVIDENCE_CALLBACK
from pathops_contracts.errors import ContractViolation, ExitCode, UpstreamError
from pathops_runtime.artifact_store import ArtifactKind, ArtifactStore, StoredArtifact, StoreSettings, artifact_key
from pathops_runtime.callbacks import IDEMPOTENCY_HEADER, CallbackSettings, ControlPlane
from pathops_runtime.delivery import Announcement, UploadDeadline, deliver

CONTROL_PLANE = ControlPlane(CallbackSettings(signing_key="delivery-test-key", deadline_seconds=5))


@pytest.fixture
def receiver(httpserver: HTTPServer, artifact_store: ArtifactStore, tmp_path: Path) -> Iterator[list[dict[str, Any]]]:
    """Records each callback with whether the store held the announced artifact when it arrived."""
    received: list[dict[str, Any]] = []

    def handler(request: Request) -> Response:
        body = json.loads(request.get_data())
        fetched = tmp_path / f"fetched-{len(received)}"
        artifact_store.get(body["snapshot_id"], fetched)  # raises (500 to the caller) when not there yet
        received.append({"body": body, "key": request.headers[IDEMPOTENCY_HEADER], "stored": fetched.read_bytes()})
        return Response("{}", status=202)

    httpserver.expect_request("/api/evidence/callback").respond_with_handler(handler)
    yield received


def snapshot(tmp_path: Path, content: bytes = b"snapshot bytes") -> Path:
    path = tmp_path / "snapshot.tar.gz"
    path.write_bytes(content)
    return path


def announce(url: str) -> Any:
    def build(stored: StoredArtifact) -> list[Announcement]:
        return [Announcement(url, {"schema_version": EVIDENCE_CALLBACK, "incident_id": "INC-1042",
                                   "snapshot_id": stored.artifact_id, "summary": "s", "source_commit_sha": None,
                                   "pointers": {"bundle": stored.uri}}, EVIDENCE_CALLBACK)]
    return build


def test_the_artifact_is_stored_before_the_callback_names_it_and_a_retry_is_idempotent(
        tmp_path: Path, artifact_store: ArtifactStore, httpserver: HTTPServer,
        receiver: list[dict[str, Any]]) -> None:
    url = httpserver.url_for("/api/evidence/callback")
    path = snapshot(tmp_path)
    first = deliver(artifact_store, path, ArtifactKind.SNAPSHOT, CONTROL_PLANE, announce(url))
    assert first.artifact.uploaded is True and first.callbacks[0].status_code == 202
    (got,) = receiver
    assert got["stored"] == b"snapshot bytes"  # the store held it when the callback arrived
    assert got["body"]["pointers"]["bundle"] == f"s3://{artifact_store.bucket}/{artifact_key(first.artifact.artifact_id)}"
    # The whole Job again: no second upload, the same callback under the same Idempotency-Key.
    again = deliver(artifact_store, path, ArtifactKind.SNAPSHOT, CONTROL_PLANE, announce(url))
    assert again.artifact.uploaded is False and again.artifact.artifact_id == first.artifact.artifact_id
    assert receiver[1]["key"] == receiver[0]["key"] and receiver[1]["body"] == receiver[0]["body"]


def test_files_beside_are_stored_before_the_callback(tmp_path: Path, artifact_store: ArtifactStore,
                                                    httpserver: HTTPServer) -> None:
    seen: list[bytes] = []

    def handler(request: Request) -> Response:
        body = json.loads(request.get_data())
        artifact_store.get(body["snapshot_id"], tmp_path / "side", suffix=".junit.xml")
        seen.append((tmp_path / "side").read_bytes())
        return Response("{}", status=202)

    httpserver.expect_request("/api/evidence/callback").respond_with_handler(handler)
    side = tmp_path / "junit.xml"
    side.write_bytes(b"<testsuite/>")
    deliver(artifact_store, snapshot(tmp_path), ArtifactKind.SNAPSHOT, CONTROL_PLANE,
            announce(httpserver.url_for("/api/evidence/callback")), beside={".junit.xml": side})
    assert seen == [b"<testsuite/>"]


def test_a_failed_upload_announces_nothing(tmp_path: Path, httpserver: HTTPServer) -> None:
    nowhere = ArtifactStore.from_settings(StoreSettings("http://127.0.0.1:9", "nowhere"))
    with pytest.raises(UpstreamError):
        deliver(nowhere, snapshot(tmp_path), ArtifactKind.SNAPSHOT, CONTROL_PLANE,
                announce(httpserver.url_for("/api/evidence/callback")))
    assert not httpserver.log


def test_other_content_under_the_key_announces_nothing(tmp_path: Path, artifact_store: ArtifactStore,
                                                       s3_endpoint: str, httpserver: HTTPServer) -> None:
    path = snapshot(tmp_path)
    first = artifact_store.put(path, ArtifactKind.SNAPSHOT)
    client = ArtifactStore.from_settings(StoreSettings(s3_endpoint, artifact_store.bucket))._client
    client.put_object(Bucket=artifact_store.bucket, Key=first.key, Body=b"other", Metadata={"sha256": "0" * 64})
    with pytest.raises(ContractViolation, match="refusing to overwrite") as caught:
        deliver(artifact_store, path, ArtifactKind.SNAPSHOT, CONTROL_PLANE,
                announce(httpserver.url_for("/api/evidence/callback")))
    assert caught.value.exit_code == ExitCode.INTEGRITY and not httpserver.log


def test_an_id_other_than_the_one_shown_announces_nothing(tmp_path: Path, artifact_store: ArtifactStore,
                                                          httpserver: HTTPServer) -> None:
    shown = "snap-" + "f" * 32
    with pytest.raises(ContractViolation, match=f"not {shown}; nothing was announced"):
        deliver(artifact_store, snapshot(tmp_path), ArtifactKind.SNAPSHOT, CONTROL_PLANE,
                announce(httpserver.url_for("/api/evidence/callback")), expected_id=shown)
    assert not httpserver.log


def test_a_store_that_never_answers_fails_at_the_deadline_naming_its_setting(tmp_path: Path, silent_s3: str,
                                                                             httpserver: HTTPServer) -> None:
    silent = ArtifactStore.from_settings(StoreSettings(silent_s3, "evidence"))
    with pytest.raises(UpstreamError) as caught:
        deliver(silent, snapshot(tmp_path), ArtifactKind.SNAPSHOT, CONTROL_PLANE,
                announce(httpserver.url_for("/api/evidence/callback")),
                deadline=UploadDeadline(1, "EVIDENCE_UPLOAD_DEADLINE_SECONDS"))
    assert str(caught.value) == ("the artifact store did not take the snapshot within 1 s "
                                 "(EVIDENCE_UPLOAD_DEADLINE_SECONDS)")
    assert not httpserver.log


def test_a_callback_that_fails_leaves_the_artifact_for_the_retry(tmp_path: Path, artifact_store: ArtifactStore,
                                                                 httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/evidence/callback").respond_with_data("no", status=400)
    path = snapshot(tmp_path)
    with pytest.raises(UpstreamError, match="rejected the callback"):
        deliver(artifact_store, path, ArtifactKind.SNAPSHOT, CONTROL_PLANE,
                announce(httpserver.url_for("/api/evidence/callback")))
    assert artifact_store.put(path, ArtifactKind.SNAPSHOT).uploaded is False  # stored: a retry re-announces only
