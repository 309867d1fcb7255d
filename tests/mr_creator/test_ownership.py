"""mr-creator changes only merge requests it opened: signed marker and, when known, its own account."""

from __future__ import annotations

import subprocess
from pathlib import Path

import gitlab

from mr_creator.marker import ChangeSetMarker, MarkerScope, render_marker
from pathops_testbed.git_repos import DEVELOPER, git
from tests.mr_creator.conftest import World

BRANCH = "cs-17-fix-readiness-probe-path-healthz-health"
PERSON_TOKEN = "glpat-person-token-987654"


def _open_as_person(world: World, description: str, title: str = "My own work") -> dict[str, object]:
    """A person opens an MR on the change set's branch, through the API with their own token."""
    world.gitlab.add_user(PERSON_TOKEN, "dana")
    project = gitlab.Gitlab(world.gitlab_url, private_token=PERSON_TOKEN).projects.get("shop/shop-frontend")
    project.mergerequests.create({"source_branch": BRANCH, "target_branch": "main", "title": title,
                                  "description": description, "labels": "team::web"})
    mr = world.project.merge_requests[-1]
    return {key: mr[key] for key in ("title", "description", "labels", "notes")}


def _push_as_person(world: World, tmp_path: Path) -> str:
    work = tmp_path / "person"
    subprocess.run(["git", "clone", "-q", str(world.remote), str(work)], check=True)
    (work / "NOTES.md").write_text("my notes\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "Notes", identity=DEVELOPER)
    git(work, "push", "-q", "origin", f"HEAD:refs/heads/{BRANCH}")
    head = world.remote_head(BRANCH)
    assert head is not None
    return head


def _assert_left_alone(world: World, result: subprocess.CompletedProcess[str], before: dict[str, object]) -> None:
    assert result.returncode == 3, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "merge request !1" in last and "is not the PathOps autopilot's" in last
    mr = world.project.merge_requests[-1]
    assert {key: mr[key] for key in before} == before  # title, description, labels, no note
    assert world.callbacks[-1]["status"] == "conflict"


def test_a_persons_mr_on_the_branch_is_not_taken_over(world: World) -> None:
    before = _open_as_person(world, "Work in progress, please wait.")  # its branch was deleted meanwhile
    result = world.run(world.bundle())
    _assert_left_alone(world, result, before)
    assert world.remote_head(BRANCH) is None  # nothing pushed either


def test_a_forged_marker_does_not_buy_a_force_push(world: World, tmp_path: Path) -> None:
    person_head = _push_as_person(world, tmp_path)
    forged = render_marker(
        ChangeSetMarker("CS-17", "INC-1042", "snap-" + "5" * 32, "patch-" + "0" * 32, world.base_sha, "0" * 64,
                        person_head, "0.1.0"), MarkerScope(b"not-the-key", "shop/shop-frontend", BRANCH))
    before = _open_as_person(world, "Mine.\n\n" + forged + "\n")
    result = world.run(world.bundle())
    _assert_left_alone(world, result, before)
    assert world.remote_head(BRANCH) == person_head


def test_a_copied_genuine_marker_on_a_persons_mr_is_not_enough(world: World) -> None:
    """The tool's own description, copied into a new MR by another account: the author decides."""
    assert world.run(world.bundle()).returncode == 0
    ours = world.project.merge_requests[0]
    ours["state"] = "closed"
    before = _open_as_person(world, ours["description"], title=ours["title"])
    result = world.run(world.bundle("newer.tar.gz", analysis="A newer analysis."))
    assert result.returncode == 3, result.stderr
    assert "merge request !2" in result.stderr.strip().splitlines()[-1]
    assert "another account opened it" in result.stderr.strip().splitlines()[-1]
    mr = world.project.merge_requests[-1]
    assert {key: mr[key] for key in before} == before


def test_the_tools_own_mr_is_still_updated(world: World) -> None:
    assert world.run(world.bundle()).returncode == 0
    second = world.run(world.bundle("second.tar.gz", analysis="Second look."))
    assert second.returncode == 0, second.stderr
    assert world.project.merge_requests[0]["author"]["username"] == "pathops-autopilot"
    assert "Second look." in world.project.merge_requests[0]["description"]


def test_a_marker_signed_with_another_key_is_not_ours(world: World) -> None:
    """Rotating MR_MARKER_KEY (or a second installation) makes old MRs foreign, not writable."""
    assert world.run(world.bundle()).returncode == 0
    before = {key: world.project.merge_requests[0][key] for key in ("title", "description", "labels", "notes")}
    result = world.run(world.bundle("second.tar.gz", analysis="Second look."), MR_MARKER_KEY="another-key")
    _assert_left_alone(world, result, before)


def test_no_marker_key_is_exit_2(world: World) -> None:
    result = world.run(world.bundle(), CALLBACK_SIGNING_KEY="")
    assert result.returncode == 2
    assert "MR_MARKER_KEY" in result.stderr.strip().splitlines()[-1]
    assert world.project.merge_requests == [] and world.callbacks == []


def test_without_get_user_the_signed_marker_alone_decides(world: World) -> None:
    assert world.run(world.bundle()).returncode == 0
    world.gitlab.user_lookup_forbidden = True
    second = world.run(world.bundle("second.tar.gz", analysis="Second look."))
    assert second.returncode == 0, second.stderr
    assert "Second look." in world.project.merge_requests[0]["description"]
    assert ("GET", "/api/v4/user") in world.gitlab.requests


def test_a_forks_mr_with_the_same_branch_name_is_neither_ours_nor_in_the_way(world: World) -> None:
    world.project.merge_requests.append({
        "id": 999, "iid": 1, "project_id": 1, "source_project_id": 42, "target_project_id": 1, "state": "opened",
        "source_branch": BRANCH, "target_branch": "main", "title": "From my fork", "description": "mine",
        "labels": [], "web_url": f"{world.project.web_url}/-/merge_requests/1", "notes": [],
        "author": {"id": 7, "username": "dana"},
    })
    fork_mr = dict(world.project.merge_requests[0])
    result = world.run(world.bundle())
    assert result.returncode == 0, result.stderr
    assert world.project.merge_requests[0] == fork_mr
    assert world.project.merge_requests[1]["source_project_id"] == 1


def test_a_deeply_nested_planted_marker_is_someone_elses_not_a_crash(world: World) -> None:
    bomb = "<!-- pathops:changeset {" + '"a":' + "[" * 100_000 + "]" * 100_000 + "} -->"
    before = _open_as_person(world, "Notes\n" + bomb)
    result = world.run(world.bundle())
    _assert_left_alone(world, result, before)
