"""Opening a bundle (get, verify, extract, validate) against the moto S3 server."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pathops_contracts.bundles import write_bundle
from pathops_contracts.errors import ContractViolation, ExitCode, InvalidInput, UpstreamError
from pathops_runtime.artifact_store import ArtifactKind, ArtifactMissing, ArtifactStore, StoreSettings, artifact_key
from pathops_runtime.bundle_open import PATCH_BUNDLE, SNAPSHOT, fetched_bundle, open_bundle, verification_spec_of
from tests.gitops_patcher.test_bundle_spec import SPEC, metadata

MISSING = "patch-" + "0" * 32


def upload(store: ArtifactStore, folder: Path, members: dict[str, bytes], kind: ArtifactKind) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    write_bundle(folder / "bundle.tar.gz", dict(members))
    return store.put(folder / "bundle.tar.gz", kind).artifact_id


def patch_members(spec: bytes | None = SPEC.encode()) -> dict[str, bytes]:
    members = {"metadata.json": json.dumps(metadata(spec)).encode(), "patch.mbox": b"From x\n"}
    if spec is not None:
        members["verification.yaml"] = spec
    return members


def test_open_extracts_verifies_and_validates(tmp_path: Path, artifact_store: ArtifactStore) -> None:
    patch_id = upload(artifact_store, tmp_path / "b", patch_members(), ArtifactKind.PATCH)
    opened = open_bundle(artifact_store, patch_id, PATCH_BUNDLE, tmp_path / "scratch" / "bundle")
    assert opened.metadata["status"] == "patch" and opened.root == tmp_path / "scratch" / "bundle"
    assert sorted(p.name for p in opened.root.iterdir()) == ["metadata.json", "patch.mbox", "verification.yaml"]
    assert opened.sha256 == hashlib.sha256((tmp_path / "b" / "bundle.tar.gz").read_bytes()).hexdigest()
    assert [p.name for p in (tmp_path / "scratch").iterdir()] == ["bundle"]  # the download is gone
    assert verification_spec_of(opened, opened.metadata) == SPEC


def test_a_missing_artifact_is_named(tmp_path: Path, artifact_store: ArtifactStore) -> None:
    with pytest.raises(ArtifactMissing) as caught:
        open_bundle(artifact_store, MISSING, PATCH_BUNDLE, tmp_path / "bundle")
    assert str(caught.value) == f"artifact {MISSING} not found at s3://{artifact_store.bucket}/patches/{MISSING}.tar.gz"
    assert caught.value.exit_code == ExitCode.INTEGRITY
    assert not (tmp_path / "bundle").exists()


def test_an_id_of_another_kind_is_refused_before_the_store_is_asked(tmp_path: Path) -> None:
    unreachable = ArtifactStore.from_settings(StoreSettings("http://127.0.0.1:9", "nowhere"))
    with pytest.raises(InvalidInput, match=f"^snap-{'1' * 32} names a snapshot, not a patch bundle$"):
        open_bundle(unreachable, "snap-" + "1" * 32, PATCH_BUNDLE, tmp_path / "bundle")


def test_an_unreachable_store_is_an_upstream_failure(tmp_path: Path) -> None:
    unreachable = ArtifactStore.from_settings(StoreSettings("http://127.0.0.1:9", "nowhere"))
    with pytest.raises(UpstreamError):
        open_bundle(unreachable, MISSING, PATCH_BUNDLE, tmp_path / "bundle")


def test_content_that_does_not_match_its_recorded_sha256_is_refused(tmp_path: Path, artifact_store: ArtifactStore,
                                                                     s3_endpoint: str) -> None:
    patch_id = upload(artifact_store, tmp_path / "b", patch_members(), ArtifactKind.PATCH)
    other = tmp_path / "other.tar.gz"
    write_bundle(other, {"metadata.json": b"{}"})
    client = ArtifactStore.from_settings(StoreSettings(s3_endpoint, artifact_store.bucket))._client
    client.put_object(Bucket=artifact_store.bucket, Key=artifact_key(patch_id), Body=other.read_bytes(),
                      Metadata={"sha256": hashlib.sha256((tmp_path / "b" / "bundle.tar.gz").read_bytes()).hexdigest()})
    with pytest.raises(ContractViolation, match="sha256 mismatch"):
        open_bundle(artifact_store, patch_id, PATCH_BUNDLE, tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists() and list(tmp_path.glob(".download-*")) == []


@pytest.mark.parametrize(("members", "reason"), [
    ({"patch.mbox": b"From x\n"}, "has no metadata.json"),
    ({"metadata.json": b"[1, 2"}, "metadata.json of patch-.* is not JSON"),
    ({"metadata.json": b"[]"}, "metadata.json of patch-.* is not an object"),
    ({"metadata.json": b'{"schema_version": "patch-metadata/v1"}'}, "patch-metadata/v1 document is invalid"),
])
def test_a_bundle_off_its_contract_is_exit_4(tmp_path: Path, artifact_store: ArtifactStore,
                                             members: dict[str, bytes], reason: str) -> None:
    patch_id = upload(artifact_store, tmp_path / "b", members, ArtifactKind.PATCH)
    for read in (lambda: open_bundle(artifact_store, patch_id, PATCH_BUNDLE, tmp_path / "bundle").metadata,
                 lambda: _fetched_metadata(artifact_store, patch_id, tmp_path)):
        with pytest.raises(ContractViolation, match=reason) as caught:
            read()
        assert caught.value.exit_code == ExitCode.INTEGRITY


def _fetched_metadata(store: ArtifactStore, patch_id: str, scratch: Path) -> object:
    with fetched_bundle(store, patch_id, PATCH_BUNDLE, scratch) as bundle:
        return bundle.metadata()


def test_fetched_reads_members_without_extracting_and_leaves_nothing(tmp_path: Path,
                                                                      artifact_store: ArtifactStore) -> None:
    patch_id = upload(artifact_store, tmp_path / "b", patch_members(), ArtifactKind.PATCH)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with fetched_bundle(artifact_store, patch_id, PATCH_BUNDLE, scratch) as bundle:
        document = bundle.metadata()
        assert bundle.member("patch.mbox", 100) == b"From x\n"
        assert verification_spec_of(bundle, document) == SPEC
        with pytest.raises(ContractViolation, match=r"has no analysis\.md"):
            bundle.member("analysis.md", 100)
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize(("spec", "recorded", "reason"), [
    (SPEC.encode().replace(b"count: 5", b"count: 1"), SPEC.encode(), "does not match the sha256"),
    (b"checks:\n  - name: x\n    type: rollout\n", None, "'workload' is a required property"),
    (b"\xff\xfe", None, "is not UTF-8"),
])
def test_a_verification_spec_off_its_contract_is_the_bundles_fault(tmp_path: Path, artifact_store: ArtifactStore,
                                                                    spec: bytes, recorded: bytes | None,
                                                                    reason: str) -> None:
    document = metadata(recorded or spec)
    members = {"metadata.json": json.dumps(document).encode(), "patch.mbox": b"", "verification.yaml": spec}
    patch_id = upload(artifact_store, tmp_path / "b", members, ArtifactKind.PATCH)
    opened = open_bundle(artifact_store, patch_id, PATCH_BUNDLE, tmp_path / "bundle")
    with pytest.raises(ContractViolation, match=reason) as caught:
        verification_spec_of(opened, opened.metadata)
    assert caught.value.exit_code == ExitCode.INTEGRITY


def test_a_snapshot_opens_with_its_own_caps_and_schema(tmp_path: Path, artifact_store: ArtifactStore) -> None:
    snap_id = upload(artifact_store, tmp_path / "s", {"manifest.json": b'{"incident_id": "INC-1"}'},
                     ArtifactKind.SNAPSHOT)
    with pytest.raises(ContractViolation, match="evidence-manifest/v1 document is invalid"):
        open_bundle(artifact_store, snap_id, SNAPSHOT, tmp_path / "snapshot")
    assert SNAPSHOT.limits.max_files == 4_000 and PATCH_BUNDLE.limits.max_files == 16
