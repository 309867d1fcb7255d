"""Every tool opens bundles through the shared `open_bundle`/`fetched_bundle`: the same mistake reads the same.

mr-creator (patch bundle), gitops-patcher (the spec a patch brings) and fix-agent (the snapshot),
each run as its CLI against the moto S3 server.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from pathops_runtime.artifact_store import StoreSettings
from tests.gitops_patcher.conftest import patcher
from tests.gitops_patcher.test_bundle_spec import args
from tests.mr_creator.conftest import BIN, World

MISSING = "patch-" + "0" * 32


def _fix_agent_run(snapshot_id: str, settings: StoreSettings, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SNAPSHOT_ID": snapshot_id, "SOURCE_DIR": str(tmp_path), "SOURCE_COMMIT_SHA": "c" * 40,
           "MINIO_ENDPOINT": settings.endpoint, "MINIO_BUCKET": settings.bucket,
           "CONTROL_PLANE_CALLBACK_URL": "http://127.0.0.1:9/api/fix/callback", "SCRATCH_DIR": str(tmp_path / "s")}
    return subprocess.run([str(BIN / "fix-agent"), "run"], env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120, check=False)


def test_every_tool_refuses_an_id_of_the_wrong_kind_alike(world: World, tmp_path: Path) -> None:
    # (gitops-patcher's --patch-id already takes patch ids only.)
    snap_id, patch_id = "snap-" + "1" * 32, "patch-" + "2" * 32
    mr = world.run(snap_id)
    fixed = _fix_agent_run(patch_id, world.store_settings, tmp_path)
    assert mr.stderr.strip().splitlines()[-1] == f"mr-creator: error: {snap_id} names a snapshot, not a patch bundle"
    assert fixed.stderr.strip().splitlines()[-1] == f"fix-agent: error: {patch_id} names a patch, not a snapshot"
    assert (mr.returncode, fixed.returncode) == (2, 2)


def test_a_bundle_with_an_off_schema_spec_is_exit_4_in_mr_creator_and_gitops_patcher(world: World,
                                                                                       tmp_path: Path) -> None:
    patch_id = world.bundle(verification=b"checks:\n  - name: x\n    type: rollout\n")
    mr = world.run(patch_id)
    rendered = patcher("render", *args(patch_id, world.store_settings), "--output-dir", str(tmp_path / "out"))
    mr_line = mr.stderr.strip().splitlines()[-1].removeprefix("mr-creator: error: ")
    rendered_line = rendered.stderr.strip().splitlines()[-1].removeprefix("gitops-patcher: error: ")
    assert mr_line == rendered_line and f"verification.yaml of {patch_id}" in mr_line
    assert "'workload' is a required property" in mr_line
    assert (mr.returncode, rendered.returncode) == (4, 4)


def test_every_tool_names_a_missing_artifact_alike(world: World, tmp_path: Path) -> None:
    snap_id = "snap-" + "3" * 32
    mr = world.run(MISSING)
    rendered = patcher("render", *args(MISSING, world.store_settings), "--output-dir", str(tmp_path / "out"))
    fixed = _fix_agent_run(snap_id, world.store_settings, tmp_path)
    where = f"s3://{world.store_settings.bucket}"
    assert mr.stderr.strip().splitlines()[-1] == \
        f"mr-creator: error: artifact {MISSING} not found at {where}/patches/{MISSING}.tar.gz"
    assert rendered.stderr.strip().splitlines()[-1] == \
        f"gitops-patcher: error: artifact {MISSING} not found at {where}/patches/{MISSING}.tar.gz"
    assert fixed.stderr.strip().splitlines()[-1] == \
        f"fix-agent: error: artifact {snap_id} not found at {where}/snapshots/{snap_id}.tar.gz"
    assert (mr.returncode, rendered.returncode, fixed.returncode) == (4, 4, 4)
