"""The artifact store against a real S3 server (moto) over HTTP."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from pathops_contracts.bundles import sha256_file
from pathops_contracts.errors import ContractViolation, ExitCode, Forbidden, InvalidInput, UpstreamError
from pathops_contracts.identifiers import ARTIFACT_ID
from pathops_runtime.artifact_store import (
    ArtifactKind,
    ArtifactStore,
    StoreSettings,
    artifact_id_for,
    artifact_key,
)


def _random_file(path: Path, size: int) -> Path:
    with path.open("wb") as handle:
        remaining = size
        while remaining:
            chunk = min(remaining, 1024 * 1024)
            handle.write(os.urandom(chunk))
            remaining -= chunk
    return path


def test_fifty_megabyte_round_trip_streams_with_small_peak_memory(
    artifact_store: ArtifactStore, tmp_path: Path
) -> None:
    source = _random_file(tmp_path / "snapshot.tar.gz", 50 * 1024 * 1024)
    tracemalloc.start()
    try:
        stored = artifact_store.put(source, ArtifactKind.SNAPSHOT)
        fetched = artifact_store.get(stored.artifact_id, tmp_path / "fetched.tar.gz")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stored.uploaded
    assert fetched.sha256 == sha256_file(source) == sha256_file(tmp_path / "fetched.tar.gz")
    assert peak < 25 * 1024 * 1024, f"peak Python memory {peak} bytes for a 50 MB artifact"
    # multipart was used: S3 ETags of multipart uploads end in -<parts>
    head = artifact_store._client.head_object(Bucket=artifact_store.bucket, Key=stored.key)
    assert head["ETag"].strip('"').endswith("-7")


def test_ids_are_content_addressed_and_keys_follow_the_rule(artifact_store: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "patch.tar.gz"
    source.write_bytes(b"a patch bundle")
    stored = artifact_store.put(source, ArtifactKind.PATCH)
    assert stored.artifact_id == artifact_id_for(ArtifactKind.PATCH, sha256_file(source))
    ARTIFACT_ID.check(stored.artifact_id)
    assert stored.key == f"patches/{stored.artifact_id}.tar.gz"
    assert stored.uri == f"s3://{artifact_store.bucket}/patches/{stored.artifact_id}.tar.gz"
    assert len(stored.artifact_id) <= 63  # also a valid Kubernetes label value


def test_re_upload_of_same_content_is_a_no_op(artifact_store: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "snap.tar.gz"
    source.write_bytes(b"evidence" * 1000)
    first = artifact_store.put(source, ArtifactKind.SNAPSHOT)
    second = artifact_store.put(source, ArtifactKind.SNAPSHOT)
    assert first.uploaded and not second.uploaded
    assert first.artifact_id == second.artifact_id
    listing = artifact_store._client.list_objects_v2(Bucket=artifact_store.bucket)
    assert [item["Key"] for item in listing["Contents"]] == [first.key]


def test_download_refuses_a_checksum_mismatch_and_leaves_no_file(artifact_store: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "snap.tar.gz"
    source.write_bytes(b"original evidence")
    stored = artifact_store.put(source, ArtifactKind.SNAPSHOT)
    # Someone replaces the object behind the store's back, keeping the metadata.
    artifact_store._client.put_object(
        Bucket=artifact_store.bucket, Key=stored.key, Body=b"tampered evidence", Metadata={"sha256": stored.sha256}
    )
    target = tmp_path / "out" / "snap.tar.gz"
    with pytest.raises(ContractViolation, match="sha256 mismatch"):
        artifact_store.get(stored.artifact_id, target)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_download_refuses_content_that_does_not_match_its_id(artifact_store: ArtifactStore, tmp_path: Path) -> None:
    forged_id = "snap-" + "0" * 32
    artifact_store._client.put_object(
        Bucket=artifact_store.bucket, Key=artifact_key(forged_id), Body=b"x",
        Metadata={"sha256": "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"},
    )
    with pytest.raises(ContractViolation, match="does not match its id"):
        artifact_store.get(forged_id, tmp_path / "x")


def test_missing_artifact_and_bad_id_are_clear(artifact_store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(ContractViolation, match="not found"):
        artifact_store.get("patch-" + "a" * 32, tmp_path / "x")
    with pytest.raises(InvalidInput):
        artifact_store.get("../../etc/passwd", tmp_path / "x")


def test_unreachable_store_is_an_upstream_error(tmp_path: Path) -> None:
    store = ArtifactStore.from_settings(StoreSettings(endpoint="http://127.0.0.1:9", bucket="pathops-evidence"))
    source = tmp_path / "snap.tar.gz"
    source.write_bytes(b"x")
    with pytest.raises(UpstreamError, match="unreachable"):
        store.put(source, ArtifactKind.SNAPSHOT)


def test_a_missing_bucket_is_named_as_such_and_is_a_dependency_failure(
    store_settings: StoreSettings, tmp_path: Path
) -> None:
    # No ensure_bucket: the bucket was never provisioned. S3 answers HEAD of a key in it with a bare 404.
    store = ArtifactStore.from_settings(store_settings)
    source = tmp_path / "snap.tar.gz"
    source.write_bytes(b"evidence")
    for action in (lambda: store.get("snap-" + "a" * 32, tmp_path / "x"),
                   lambda: store.put(source, ArtifactKind.SNAPSHOT)):
        with pytest.raises(UpstreamError, match=f"^bucket {store_settings.bucket} does not exist") as raised:
            action()
        assert raised.value.exit_code == ExitCode.UPSTREAM
    assert not (tmp_path / "x").exists()


def test_download_refuses_an_object_larger_than_its_reader_accepts(
    artifact_store: ArtifactStore, tmp_path: Path
) -> None:
    source = _random_file(tmp_path / "patch.tar.gz", 64 * 1024)
    stored = artifact_store.put(source, ArtifactKind.PATCH)
    with pytest.raises(ContractViolation, match=r"is 65536 bytes; at most 65535 accepted"):
        artifact_store.get(stored.artifact_id, tmp_path / "out" / "patch.tar.gz", max_size=65535)
    assert not (tmp_path / "out").exists()
    assert artifact_store.get(stored.artifact_id, tmp_path / "ok.tar.gz", max_size=65536).size == 65536


def _refusing_s3(httpserver: HTTPServer, refuse: str) -> ArtifactStore:
    """An S3 endpoint that refuses the credentials on `refuse` requests (HEAD or PUT); objects are missing."""
    denied = ('<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidAccessKeyId</Code>'
              "<Message>The access key ID you provided does not exist.</Message></Error>")

    def handler(request: Request) -> Response:
        if request.method == refuse:
            return Response(denied if request.method != "HEAD" else "", status=403, content_type="application/xml")
        if request.method == "HEAD" and request.path.count("/") > 1:  # an object: not there yet
            return Response("", status=404)
        return Response("", status=200)

    httpserver.expect_request("").respond_with_handler(handler)
    return ArtifactStore.from_settings(StoreSettings(httpserver.url_for("/").rstrip("/"), "pathops"))


@pytest.mark.parametrize("refuse", ["HEAD", "PUT"])
def test_refused_credentials_name_the_variables_to_set(httpserver: HTTPServer, tmp_path: Path, refuse: str) -> None:
    """moto accepts any credentials: a refusing endpoint shows what a user with a wrong key reads."""
    store = _refusing_s3(httpserver, refuse)
    with pytest.raises(Forbidden) as raised:
        if refuse == "HEAD":
            store.get("patch-" + "0" * 32, tmp_path / "patch.tar.gz")
        else:
            store.put(_random_file(tmp_path / "report.json", 100), ArtifactKind.REPORT)
    assert raised.value.exit_code == ExitCode.FORBIDDEN
    assert "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in str(raised.value)
    assert "pathops-test-secret" not in str(raised.value)
