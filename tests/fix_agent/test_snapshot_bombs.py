"""fix-agent against crafted evidence snapshots: exit 4 with one line, no traceback, nothing uploaded.

A snapshot that cannot be opened (a bomb, a broken manifest) gets no callback: its incident id
is not known. A failure once the manifest is read is announced with a fix callback of status
failed, without a patch. The same reader as mr-creator's refuses the same bombs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from pathops_runtime.artifact_store import ArtifactKind, ArtifactStore, StoreSettings
from tests.bundle_bombs import HEADER_BOMBS, deep_json
from tests.fix_agent import scenarios
from tests.fix_agent.scenarios import SERVED_LOG, snapshot_dir, source_tree
from tests.fix_agent.test_cli import SHA, upload_snapshot


def _run(tmp_path: Path, snapshot_id: str, store_settings: StoreSettings, httpserver: HTTPServer,
         **extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SNAPSHOT_ID": snapshot_id, "SOURCE_DIR": str(source_tree(tmp_path / "source", "plain")),
           "SOURCE_COMMIT_SHA": SHA, "MINIO_ENDPOINT": store_settings.endpoint,
           "MINIO_BUCKET": store_settings.bucket, "CONTROL_PLANE_CALLBACK_URL": httpserver.url_for("/api/fix/callback"),
           "CALLBACK_DEADLINE_SECONDS": "5", "SCRATCH_DIR": str(tmp_path / "scratch"), **extra}
    httpserver.expect_request("/api/fix/callback").respond_with_data("{}", status=202)
    return subprocess.run([str(Path(sys.executable).parent / "fix-agent"), "run"], env=env, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=120, check=False)


def _assert_refused(result: subprocess.CompletedProcess[str], words: str, httpserver: HTTPServer,
                    store: ArtifactStore | None, code: int = 4, failed_callback: bool | None = False) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("fix-agent: error: ") and words in last, last
    assert result.stdout == ""
    callbacks = [json.loads(request.get_data()) for request, _ in httpserver.log]
    assert all(callback["status"] == "failed" and "patch_id" not in callback for callback in callbacks)
    if failed_callback is not None:
        assert len(callbacks) == int(failed_callback)
    if store is not None:
        listing = store._client.list_objects_v2(Bucket=store.bucket, Prefix="patches/")
        assert listing.get("KeyCount", 0) == 0


@pytest.mark.parametrize("bomb", sorted(HEADER_BOMBS))
def test_a_snapshot_bomb_is_refused_with_exit_4(tmp_path: Path, artifact_store: ArtifactStore,
                                                 store_settings: StoreSettings, httpserver: HTTPServer,
                                                 bomb: str) -> None:
    make, words = HEADER_BOMBS[bomb]
    snapshot_id = artifact_store.put(make(tmp_path / "bomb.tar.gz"), ArtifactKind.SNAPSHOT).artifact_id
    _assert_refused(_run(tmp_path, snapshot_id, store_settings, httpserver), words, httpserver, artifact_store)


@pytest.mark.parametrize(("name", "content", "words"), [
    ("manifest.json", deep_json(), "manifest.json of snap-"),
    ("findings.json", deep_json(), "findings.json of snap-"),
    ("findings.json", json.dumps({"findings": {"kind": "oom-killed"}}).encode(), "is not a list of findings"),
    ("findings.json", json.dumps({"findings": [{"kind": "oom-killed"}]}).encode(), "is not a list of findings"),
])
def test_a_broken_json_document_of_the_snapshot_is_exit_4(tmp_path: Path, artifact_store: ArtifactStore,
                                                           store_settings: StoreSettings, httpserver: HTTPServer,
                                                           name: str, content: bytes, words: str) -> None:
    folder = tmp_path / "snap"
    snapshot_dir(folder, [scenarios.configmap_finding()], SERVED_LOG)
    (folder / name).write_bytes(content)
    snapshot_id = upload_snapshot(artifact_store, folder, tmp_path / "snap.tar.gz")
    _assert_refused(_run(tmp_path, snapshot_id, store_settings, httpserver), words, httpserver, artifact_store)


def test_a_broken_document_read_after_the_manifest_is_exit_4_with_a_failed_callback(
        tmp_path: Path, artifact_store: ArtifactStore, store_settings: StoreSettings, httpserver: HTTPServer) -> None:
    folder = tmp_path / "snap"
    snapshot_dir(folder, [scenarios.configmap_finding()], SERVED_LOG)
    (folder / "objects/configmaps.json").write_bytes(deep_json())
    snapshot_id = upload_snapshot(artifact_store, folder, tmp_path / "snap.tar.gz")
    _assert_refused(_run(tmp_path, snapshot_id, store_settings, httpserver), "objects/configmaps.json of snap-",
                    httpserver, artifact_store, failed_callback=True)


def test_a_missing_bucket_is_named_and_is_exit_5(tmp_path: Path, store_settings: StoreSettings,
                                                 httpserver: HTTPServer) -> None:
    result = _run(tmp_path, "snap-" + "0" * 32, store_settings, httpserver, MINIO_BUCKET="pathops-never-provisioned")
    _assert_refused(result, "bucket pathops-never-provisioned does not exist", httpserver, None, code=5)


def test_log_text_reads_no_more_than_its_limit_of_a_huge_log(tmp_path: Path) -> None:
    snapshot = snapshot_dir(tmp_path / "snap", [scenarios.probe_finding()])
    with (snapshot.root / "logs" / "web-1" / "web.log").open("wb") as handle:
        for _ in range(48):
            handle.write(b"GET /health 200\n" * 65536)  # 48 MiB, inside the snapshot's byte cap
    tracemalloc.start()
    try:
        text = snapshot.log_text(limit=1024 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert text == "GET /health 200\n" * 65536
    assert peak < 8 * 1024 * 1024, f"peak Python memory {peak} bytes for a 1 MiB excerpt of a 48 MiB log"
