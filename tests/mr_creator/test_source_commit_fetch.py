"""mr-creator and `fix-agent build-image` fetch a source commit by the one shared fetch: same error, same exit."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from pathops_testbed.git_repos import make_source_remote
from tests.mr_creator.conftest import BIN, World


def _build_image(source_repo: str, sha: str, root: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **extra, "APP_ID": "shop-frontend", "SOURCE_REPO": source_repo, "SOURCE_COMMIT_SHA": sha,
           "RUNTIME_IMAGE": "harbor.example/pathops/fix-agent-runtime:0.1.0",
           "HARBOR_REPO": "harbor.example/pathops/agents", "SCRATCH_DIR": str(root / "scratch")}
    return subprocess.run([str(BIN / "fix-agent"), "build-image", "--builder", "directory", "--output-dir",
                           str(root / "rootfs")], env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120, check=False)


def test_a_missing_commit_reads_and_exits_the_same_in_both_tools(world: World, tmp_path: Path) -> None:
    # Another repository, which does not hold the commit the patch bundle was made for.
    other, _ = make_source_remote(tmp_path / "other-repos", {"app.py": "ROUTES = []\n"})
    expected = f"commit {world.base_sha} does not exist in {other.as_uri()}"

    mr = world.run(world.bundle(), SRC_REPO_GIT_URL=other.as_uri())
    built = _build_image(other.as_uri(), world.base_sha, tmp_path / "build")

    assert (mr.returncode, built.returncode) == (2, 2), (mr.stderr, built.stderr)
    assert mr.stderr.strip().splitlines()[-1] == f"mr-creator: error: {expected}"
    assert built.stderr.strip().splitlines()[-1] == f"fix-agent: error: {expected}"
    # mr-creator still tells the control plane why no merge request came out.
    assert world.callbacks[-1]["status"] == "failed" and world.callbacks[-1]["detail"] == expected
    assert not (tmp_path / "build" / "rootfs").exists()


def test_a_refused_token_reads_the_same_in_both_tools(http_world: World, tmp_path: Path) -> None:
    patch_id = http_world.bundle()
    http_world.gitlab.token = "glpat-other-token"  # the API accepts it, git over HTTP does not
    mr = http_world.run(patch_id, GITLAB_TOKEN="glpat-other-token")
    clone_url = http_world.project.http_url_to_repo
    built = _build_image(clone_url, http_world.base_sha, tmp_path / "build", GITLAB_TOKEN="glpat-other-token")
    assert (mr.returncode, built.returncode) == (6, 6), (mr.stderr, built.stderr)
    mr_line = mr.stderr.strip().splitlines()[-1].removeprefix("mr-creator: error: ")
    built_line = built.stderr.strip().splitlines()[-1].removeprefix("fix-agent: error: ")
    assert mr_line == built_line
    assert "set GITLAB_TOKEN" in mr_line and "glpat-other-token" not in mr.stderr + built.stderr
