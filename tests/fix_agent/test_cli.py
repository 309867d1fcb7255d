"""fix-agent run as a Job runs it: snapshot from S3, bundle to S3, inline patch, callback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from pathops_contracts.bundles import read_member, write_bundle
from pathops_runtime.artifact_store import ArtifactKind, ArtifactStore, StoreSettings
from tests.fix_agent import scenarios
from tests.fix_agent.scenarios import SERVED_LOG, snapshot_dir, source_tree
from tests.pathops_runtime.log_lines import delivered

SHA = "4f2c1d8e9a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d"


def upload_snapshot(store: ArtifactStore, folder: Path, target: Path) -> str:
    members: dict[str, Path | bytes] = {p.relative_to(folder).as_posix(): p for p in folder.rglob("*") if p.is_file()}
    write_bundle(target, members)
    return store.put(target, ArtifactKind.SNAPSHOT).artifact_id


def test_run_uploads_then_calls_back(tmp_path: Path, artifact_store: ArtifactStore, store_settings: StoreSettings,
                                     httpserver: HTTPServer) -> None:
    snapshot_dir(tmp_path / "snap", [scenarios.probe_finding()], SERVED_LOG, commit=SHA)
    snapshot_id = upload_snapshot(artifact_store, tmp_path / "snap", tmp_path / "snap.tar.gz")
    source = source_tree(tmp_path / "source", "plain")
    received: dict[str, list[dict[str, Any]]] = {"fix": [], "inline": []}

    def receiver(kind: str):  # type: ignore[no-untyped-def]
        def handler(request: Request) -> Response:
            body = json.loads(request.get_data())
            artifact_store.get(body["patch_id"], tmp_path / f"check-{kind}.tar.gz")  # uploaded before announced
            received[kind].append(body)
            return Response("{}", status=202)
        return handler

    httpserver.expect_request("/api/fix/callback").respond_with_handler(receiver("fix"))
    httpserver.expect_request("/api/fix/patch-inline").respond_with_handler(receiver("inline"))
    env = {**os.environ, "SNAPSHOT_ID": snapshot_id, "SOURCE_DIR": str(source), "SOURCE_COMMIT_SHA": SHA,
           "MINIO_ENDPOINT": store_settings.endpoint, "MINIO_BUCKET": store_settings.bucket,
           "CONTROL_PLANE_CALLBACK_URL": httpserver.url_for("/api/fix/callback"),
           "CONTROL_PLANE_PATCH_INLINE_URL": httpserver.url_for("/api/fix/patch-inline"),
           "SCRATCH_DIR": str(tmp_path / "scratch")}
    command = [str(Path(sys.executable).parent / "fix-agent"), "run"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
    assert first.returncode == 0, first.stderr
    out = json.loads(first.stdout)
    assert out["status"] == "patch" and out["files_touched"] == ["deploy/deployment.yaml"]
    (callback,) = received["fix"]
    assert callback["patch_id"] == out["patch_id"] and callback["incident_id"] == "INC-1042"
    assert callback["source_commit_sha"] == SHA and callback["snapshot_id"] == snapshot_id
    assert callback["pointers"]["bundle"].endswith(f"patches/{out['patch_id']}.tar.gz")
    # The human checks stay; the spec the patch brings is pointed at inside the bundle.
    assert callback["recommended_checks"]
    assert callback["pointers"]["verification_spec"] == callback["pointers"]["bundle"] + "#verification.yaml"
    (inline,) = received["inline"]
    bundle = tmp_path / "check-fix.tar.gz"
    assert inline["patch"] == read_member(bundle, "patch.mbox").decode()
    # A retry of the Job: same evidence, same patch, same id; nothing new stored.
    second = subprocess.run(command, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["patch_id"] == out["patch_id"]
    # Both through the shared deliver: upload, then inline patch and fix callback; the retry uploads nothing.
    assert delivered(first.stderr) == [{"artifact_id": out["patch_id"], "uploaded": True, "callbacks": 2}]
    assert delivered(second.stderr) == [{"artifact_id": out["patch_id"], "uploaded": False, "callbacks": 2}]
    keys = [o["Key"] for o in artifact_store._client.list_objects_v2(Bucket=artifact_store.bucket)["Contents"]]
    assert sorted(keys) == sorted([f"snapshots/{snapshot_id}.tar.gz", f"patches/{out['patch_id']}.tar.gz"])


def test_missing_snapshot_is_exit_4(
    tmp_path: Path, artifact_store: ArtifactStore, store_settings: StoreSettings
) -> None:
    env = {**os.environ, "SNAPSHOT_ID": "snap-" + "0" * 32, "SOURCE_DIR": str(tmp_path), "SOURCE_COMMIT_SHA": SHA,
           "MINIO_ENDPOINT": store_settings.endpoint, "MINIO_BUCKET": store_settings.bucket,
           "CONTROL_PLANE_CALLBACK_URL": "http://127.0.0.1:9/api/fix/callback"}
    result = subprocess.run([str(Path(sys.executable).parent / "fix-agent"), "run"], env=env, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 4
    assert result.stderr.strip().splitlines()[-1].startswith("fix-agent: error: artifact snap-")


def _run_fix_agent(tmp_path: Path, store_settings: StoreSettings, httpserver: HTTPServer, snapshot_id: str,
                   source: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SNAPSHOT_ID": snapshot_id, "SOURCE_DIR": str(source), "SOURCE_COMMIT_SHA": SHA,
           "MINIO_ENDPOINT": store_settings.endpoint, "MINIO_BUCKET": store_settings.bucket,
           "CONTROL_PLANE_CALLBACK_URL": httpserver.url_for("/api/fix/callback"),
           "SCRATCH_DIR": str(tmp_path / "scratch")}
    return subprocess.run([str(Path(sys.executable).parent / "fix-agent"), "run"], env=env, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, check=False)


def _record_callbacks(httpserver: HTTPServer) -> list[dict[str, Any]]:
    received: list[dict[str, Any]] = []

    def handler(request: Request) -> Response:
        received.append(json.loads(request.get_data()))
        return Response("{}", status=202)

    httpserver.expect_request("/api/fix/callback").respond_with_handler(handler)
    return received


def test_a_snapshot_of_another_commit_is_refused_with_a_failure_callback(
        tmp_path: Path, artifact_store: ArtifactStore, store_settings: StoreSettings, httpserver: HTTPServer) -> None:
    running = "0a1b2c3d4e5f" + "6" * 28
    snapshot_dir(tmp_path / "snap", [scenarios.probe_finding()], SERVED_LOG, commit=running)
    snapshot_id = upload_snapshot(artifact_store, tmp_path / "snap", tmp_path / "snap.tar.gz")
    received = _record_callbacks(httpserver)
    result = _run_fix_agent(tmp_path, store_settings, httpserver, snapshot_id, source_tree(tmp_path / "src", "plain"))
    assert result.returncode == 4, result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("fix-agent: error:")]
    assert SHA[:12] in line and running[:12] in line and SHA not in line
    (callback,) = received
    assert callback["status"] == "failed" and callback["source_commit_sha"] == SHA
    assert callback["snapshot_id"] == snapshot_id and "patch_id" not in callback and running[:12] in callback["summary"]
    keys = [o["Key"] for o in artifact_store._client.list_objects_v2(Bucket=artifact_store.bucket)["Contents"]]
    assert keys == [f"snapshots/{snapshot_id}.tar.gz"]  # no patch bundle


def test_the_callback_names_the_source_commit_and_a_snapshot_without_one_is_said_in_the_analysis(
        tmp_path: Path, artifact_store: ArtifactStore, store_settings: StoreSettings, httpserver: HTTPServer) -> None:
    snapshot_dir(tmp_path / "snap", [scenarios.probe_finding()], SERVED_LOG, commit=None)
    snapshot_id = upload_snapshot(artifact_store, tmp_path / "snap", tmp_path / "snap.tar.gz")
    received = _record_callbacks(httpserver)
    result = _run_fix_agent(tmp_path, store_settings, httpserver, snapshot_id, source_tree(tmp_path / "src", "plain"))
    assert result.returncode == 0, result.stderr
    (callback,) = received
    assert callback["status"] == "patch" and callback["source_commit_sha"] == SHA
    artifact_store.get(callback["patch_id"], tmp_path / "patch.tar.gz")
    analysis = read_member(tmp_path / "patch.tar.gz", "analysis.md").decode()
    assert "records no source commit" in analysis and SHA[:12] in analysis


def test_no_fix_is_delivered_and_exits_0(tmp_path: Path, artifact_store: ArtifactStore,
                                         store_settings: StoreSettings, httpserver: HTTPServer) -> None:
    # "No fix" is an honest answer, not a failure (pathops_contracts/errors.py, README exit codes).
    snapshot_dir(tmp_path / "snap", [], "", commit=SHA)
    snapshot_id = upload_snapshot(artifact_store, tmp_path / "snap", tmp_path / "snap.tar.gz")
    received = _record_callbacks(httpserver)
    result = _run_fix_agent(tmp_path, store_settings, httpserver, snapshot_id, source_tree(tmp_path / "src", "plain"))
    assert result.returncode == 0, result.stderr
    (callback,) = received
    assert callback["status"] == "no_fix" and json.loads(result.stdout)["status"] == "no_fix"
    artifact_store.get(callback["patch_id"], tmp_path / "no-fix.tar.gz")  # the analysis of why, delivered
