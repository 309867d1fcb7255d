"""The spec that verifies a patch comes from its content-addressed bundle, verified, never from the change."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from pathops_contracts.bundles import write_bundle
from pathops_runtime.artifact_store import ArtifactKind, ArtifactStore, StoreSettings
from tests.gitops_patcher.conftest import IMAGES, patcher

SPEC = (Path(__file__).parent / "verification-spec.yaml").read_text()
SHA = "4f2c1d8e9a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d"


def metadata(spec: bytes | None, status: str = "patch", sha: str | None = None) -> dict[str, object]:
    document: dict[str, object] = {
        "schema_version": "patch-metadata/v1", "incident_id": "INC-1042", "snapshot_id": "snap-" + "5" * 32,
        "source_commit_sha": SHA, "status": status, "files_touched": ["deploy/deployment.yaml"] if status == "patch"
        else [], "summary": "Fix readiness probe path", "rationale": "why", "recommended_checks": ["probe succeeds"],
        "engine": {"name": "playbook", "playbook": "probe-path", "model": None},
        "patch_sha256": "a" * 64 if status == "patch" else None, "created_at": "2026-11-27T10:00:00Z"}
    if spec is not None:
        document["verification_spec"] = {"path": "verification.yaml",
                                         "sha256": sha or hashlib.sha256(spec).hexdigest()}
    return document


def upload(store: ArtifactStore, folder: Path, members: dict[str, bytes]) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    write_bundle(folder / "patch.tar.gz", dict(members))
    return store.put(folder / "patch.tar.gz", ArtifactKind.PATCH).artifact_id


def args(patch_id: str, settings: StoreSettings) -> list[str]:
    return ["--agent", "verification-agent", "--app", "shop-frontend", "--incident-id", "INC-1042",
            "--image", IMAGES["verification-agent"], "--verification-id", "VER-7", "--patch-id", patch_id,
            "--minio-endpoint", settings.endpoint, "--minio-bucket", settings.bucket,
            "--expected-commit-sha", "c" * 40]


def test_the_job_gets_the_spec_the_bundle_carries(tmp_path: Path, artifact_store: ArtifactStore,
                                                   store_settings: StoreSettings) -> None:
    spec = SPEC.encode()
    patch_id = upload(artifact_store, tmp_path / "b", {
        "metadata.json": json.dumps(metadata(spec)).encode(), "patch.mbox": b"From x\n", "verification.yaml": spec})
    rendered = patcher("render", *args(patch_id, store_settings), "--output-dir", str(tmp_path / "out"))
    assert rendered.returncode == 0, rendered.stderr
    run = json.loads(rendered.stdout)["run"]
    configmap = YAML(typ="safe").load((tmp_path / "out" / run / "configmap.yaml").read_text())
    assert configmap["data"]["spec.yaml"] == SPEC


@pytest.mark.parametrize(("case", "reason"), [
    ("tampered", "does not match the sha256 metadata.json records"),
    ("no spec", "carries no verification spec"),
    ("no fix", "carries no patch"),
    ("invalid spec", "'workload' is a required property"),
    ("missing", "not found"),
])
def test_a_bundle_without_a_trustworthy_spec_renders_nothing(tmp_path: Path, artifact_store: ArtifactStore,
                                                              store_settings: StoreSettings, case: str,
                                                              reason: str) -> None:
    spec = SPEC.encode()
    members = {"metadata.json": json.dumps(metadata(spec)).encode(), "patch.mbox": b"From x\n",
               "verification.yaml": spec}
    if case == "tampered":  # the spec in the bundle is not the one metadata.json names
        members["verification.yaml"] = spec.replace(b"count: 5", b"count: 1")
    elif case == "no spec":
        members = {"metadata.json": json.dumps(metadata(None)).encode(), "patch.mbox": b"From x\n"}
    elif case == "no fix":
        members = {"metadata.json": json.dumps(metadata(None, status="no_fix")).encode()}
    elif case == "invalid spec":
        bad = b"checks:\n  - name: x\n    type: rollout\n"
        members = {"metadata.json": json.dumps(metadata(bad)).encode(), "patch.mbox": b"", "verification.yaml": bad}
    patch_id = upload(artifact_store, tmp_path / "b", members) if case != "missing" else "patch-" + "0" * 32
    rendered = patcher("render", *args(patch_id, store_settings), "--output-dir", str(tmp_path / "out"))
    assert rendered.returncode in {2, 4}, rendered.stderr
    assert reason in rendered.stderr
    assert not (tmp_path / "out").exists()


def test_spec_file_and_patch_id_are_exclusive(tmp_path: Path, store_settings: StoreSettings) -> None:
    both = patcher("render", *args("patch-" + "1" * 32, store_settings), "--verification-spec", "x.yaml",
                   "--output-dir", str(tmp_path / "out"))
    assert both.returncode == 2 and "one of --verification-spec" in both.stderr
