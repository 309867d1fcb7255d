"""mr-creator against crafted patch bundles: refused with exit 4 and a failure callback, nothing pushed.

Each bomb goes through the real CLI, the moto S3 server and the webhook receiver. How fast and
how small the refusal is, is measured by `benchmarks/bundle_bombs.py`.
"""

from __future__ import annotations

import subprocess
import tracemalloc
from pathlib import Path

import pytest

from mr_creator.patch_bundle import open_patch_bundle
from pathops_contracts.bundles import write_bundle
from pathops_testbed.git_repos import fix_probe_path
from pathops_testbed.patch_bundles import build_patch_bundle, upload_bundle
from tests.bundle_bombs import HEADER_BOMBS, deep_json
from tests.mr_creator.conftest import World


def _assert_refused(world: World, result: subprocess.CompletedProcess[str], words: str, code: int = 4) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("mr-creator: error: ") and words in last, last
    (callback,) = world.callbacks
    assert callback["status"] == "failed" and callback["mr_url"] is None and callback["changeset_id"] == "CS-17"
    assert words in str(callback["detail"])
    assert world.project.merge_requests == []
    listed = subprocess.run(["git", "-C", str(world.remote), "branch", "--list", "cs-*"], capture_output=True,
                            text=True, check=True)
    assert listed.stdout == ""


@pytest.mark.parametrize("bomb", sorted(HEADER_BOMBS))
def test_a_bundle_bomb_is_refused_with_exit_4_and_a_failure_callback(world: World, bomb: str) -> None:
    make, words = HEADER_BOMBS[bomb]
    patch_id = upload_bundle(world.store, make(world.root / "bomb.tar.gz"))
    _assert_refused(world, world.run(patch_id), words)


@pytest.mark.parametrize("depth", [100_000, 200])
def test_deeply_nested_metadata_is_refused_not_a_traceback(world: World, tmp_path: Path, depth: int) -> None:
    bundle = tmp_path / "deep.tar.gz"
    write_bundle(bundle, {"metadata.json": deep_json(depth), "patch.mbox": b"From x\n"})
    _assert_refused(world, world.run(upload_bundle(world.store, bundle)), "nests deeper than 64 levels")


def test_a_missing_bucket_is_named_and_is_a_dependency_failure(world: World) -> None:
    result = world.run("patch-" + "a" * 32, MINIO_BUCKET="pathops-never-provisioned")
    _assert_refused(world, result, "bucket pathops-never-provisioned does not exist", code=5)


def test_a_huge_analysis_is_read_only_as_far_as_the_mr_shows_it(world: World, tmp_path: Path) -> None:
    # 30 MB of four-byte characters: inside the bundle's byte cap, 120 MB as a Python string if read whole.
    bundle = build_patch_bundle(world.remote, world.base_sha, fix_probe_path, tmp_path / "patch.tar.gz",
                                analysis="\U0001f4a5" * (30 * 1024 * 1024 // 4))
    patch_id = upload_bundle(world.store, bundle)
    tracemalloc.start()
    try:
        opened = open_patch_bundle(world.store, patch_id, world.base_sha, tmp_path / "scratch")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert opened.analysis is not None and opened.analysis.startswith("\U0001f4a5" * 1000)
    assert peak < 8 * 1024 * 1024, f"peak Python memory {peak} bytes"
