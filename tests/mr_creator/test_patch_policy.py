"""The patch policy on the MR side: every commit of the mbox, what CI runs, the operator's list, identities."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from pathops_contracts.bundles import sha256_file, write_bundle
from pathops_runtime.git_env import GitIdentity
from pathops_testbed.git_repos import fix_probe_path, git
from pathops_testbed.patch_bundles import build_patch_bundle, upload_bundle
from tests.mr_creator.conftest import World
from tests.mr_creator.test_untrusted_text import CLOSING, MENTION, QUICK_ACTION

BRANCH = "cs-17-fix-readiness-probe-path-healthz-health"
SUMMARY = "Fix readiness probe path: /healthz -> /health"

CI_FILES = {
    ".gitlab-ci.yml": """\
include:
  - local: /ci/build.yml
  - 'ci/templates/*.yml'
  - project: shop/shop-frontend
    file: [tools/lint.yml]
  - project: other/templates
    file: elsewhere.yml
  - remote: https://example.com/ci.yml
  - remote: https://gitlab.example.com/shop/shop-frontend/-/raw/main/ci/remote.yml
  - component: $CI_SERVER_FQDN/shop/shop-frontend/scan@1.0
.base:
  script: [make test]
test:
  script: !reference [.base, script]
deploy-child:
  trigger:
    include: child/pipeline.yml
""",
    "ci/build.yml": "include: {local: ci/deep.yml}\nbuild:\n  script: make\n",
    "ci/deep.yml": "deep:\n  script: echo deep\n",
    "ci/templates/lint.yml": "lint:\n  script: ruff\n",
    "child/pipeline.yml": "child:\n  script: echo child\n",
}


def _new_base(world: World, files: dict[str, str]) -> str:
    """A commit on main adding `files` (what the project's repository holds when the incident happens)."""
    work = world.root / "base-work"
    if not work.exists():
        subprocess.run(["git", "clone", "-q", str(world.remote), str(work)], check=True)
    for name, text in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "Add CI", date="2026-11-02T10:00:00Z")
    git(work, "push", "-q", "origin", "HEAD:main")
    return git(work, "rev-parse", "HEAD")


def _series_bundle(world: World, base: str, steps: list[tuple[str, Callable[[Path], None]]], declared: list[str],
                   name: str = "series.tar.gz", sender: GitIdentity | None = None) -> str:
    """A patch bundle whose mbox holds one mail per step (git format-patch of a commit series)."""
    work = world.root / f"series-{name}"
    subprocess.run(["git", "clone", "-q", str(world.remote), str(work)], check=True)
    git(work, "checkout", "-q", "--detach", base)
    for message, edit in steps:
        edit(work)
        git(work, "add", "-A")
        git(work, "commit", "-q", "-m", message, date="2026-11-27T10:00:00Z",
            identity=sender or GitIdentity("PathOps Fix Agent", "fix-agent@pathops.io"))
    mbox = world.root / f"{name}.mbox"
    mbox.write_text(git(work, "format-patch", "--full-index", "--stdout", f"{base}..HEAD") + "\n")
    metadata = {
        "schema_version": "patch-metadata/v1", "incident_id": "INC-1042", "snapshot_id": "snap-" + "5" * 32,
        "source_commit_sha": base, "status": "patch", "files_touched": declared, "summary": SUMMARY,
        "rationale": "The app serves /health.", "recommended_checks": [], "confidence": 0.9,
        "engine": {"name": "playbook", "playbook": "probe-path", "model": None},
        "patch_sha256": sha256_file(mbox), "created_at": "2026-11-27T10:00:00Z",
    }
    write_bundle(world.root / name, {"patch.mbox": mbox, "metadata.json": json.dumps(metadata).encode()})
    return upload_bundle(world.store, world.root / name)


def _write(path: str, text: str) -> Callable[[Path], None]:
    def edit(work: Path) -> None:
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_text(text)
    return edit


def _refused(world: World, result: subprocess.CompletedProcess[str], reason: str) -> None:
    assert result.returncode == 4, result.stderr
    assert reason in result.stderr.strip().splitlines()[-1]
    assert world.remote_head(BRANCH) is None and world.project.merge_requests == []
    assert world.callbacks[-1]["status"] == "failed"


def test_a_ci_edit_reverted_by_a_later_commit_is_refused(world: World) -> None:
    base = _new_base(world, {".gitlab-ci.yml": "test:\n  script: make test\n"})
    patch_id = _series_bundle(world, base, [
        ("Fix readiness probe path", lambda work: (fix_probe_path(work),
                                                   _write(".gitlab-ci.yml", "steal:\n  script: env\n")(work))),
        ("Tidy up", _write(".gitlab-ci.yml", "test:\n  script: make test\n")),
    ], declared=["deploy/deployment.yaml"])
    result = world.run(patch_id, SOURCE_COMMIT_SHA=base)
    _refused(world, result, ": .gitlab-ci.yml: CI definitions and repository plumbing are off limits")
    assert "commit " in result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("path", ["ci/build.yml", "ci/deep.yml", "ci/templates/new.yml", "tools/lint.yml",
                                  "child/pipeline.yml", "ci/remote.yml", "templates/scan/template.yml"],
                         ids=["local", "nested", "glob", "same-project", "trigger-child", "own-raw-url",
                              "own-component"])
def test_files_the_ci_configuration_runs_are_refused(world: World, path: str) -> None:
    base = _new_base(world, CI_FILES)
    patch_id = _series_bundle(world, base, [("Fix it", _write(path, "steal:\n  script: env\n"))], declared=[path])
    result = world.run(patch_id, SOURCE_COMMIT_SHA=base)
    _refused(world, result, f"{path}: CI definitions are off limits (the project's CI configuration runs it)")


def test_other_files_still_pass_with_that_ci_configuration(world: World) -> None:
    base = _new_base(world, {**CI_FILES, "elsewhere.yml": "not: ci\n"})
    patch_id = _series_bundle(world, base, [("Fix it", fix_probe_path), ("And this", _write("elsewhere.yml", "x\n"))],
                              declared=["deploy/deployment.yaml", "elsewhere.yml"])
    result = world.run(patch_id, SOURCE_COMMIT_SHA=base)
    assert result.returncode == 0, result.stderr
    head = world.remote_head(BRANCH)
    assert head is not None and git(world.remote, "rev-list", "--count", f"{base}..{head}") == "2"


def test_the_projects_ci_config_path_is_protected(world: World) -> None:
    world.project.ci_config_path = "pipelines/main.yml"
    base = _new_base(world, {"pipelines/main.yml": "include: pipelines/extra.yml\n",
                             "pipelines/extra.yml": "x:\n  script: true\n"})
    for name, path in (("a.tar.gz", "pipelines/main.yml"), ("b.tar.gz", "pipelines/extra.yml")):
        patch_id = _series_bundle(world, base, [("Fix it", _write(path, "y: 1\n"))], declared=[path], name=name)
        _refused(world, world.run(patch_id, SOURCE_COMMIT_SHA=base), f"{path}: CI definitions are off limits")


def test_an_unreadable_ci_configuration_refuses_the_patch(world: World) -> None:
    base = _new_base(world, {".gitlab-ci.yml": "include: [unclosed\n"})
    patch_id = _series_bundle(world, base, [("Fix it", fix_probe_path)], declared=["deploy/deployment.yaml"])
    _refused(world, world.run(patch_id, SOURCE_COMMIT_SHA=base), "cannot be parsed")


def test_the_operators_list_adds_and_replaces_but_never_unprotects_ci(world: World) -> None:
    patch_id = world.bundle()
    _refused(world, world.run(patch_id, MR_PROTECTED_PATHS="docs/* deploy/*"),
             "deploy/deployment.yaml: CI definitions and repository plumbing are off limits")
    base = _new_base(world, {".gitlab-ci.yml": "test:\n  script: make\n", "Jenkinsfile": "node {}\n"})
    ci = _series_bundle(world, base, [("x", _write(".gitlab-ci.yml", "y: 1\n"))], [".gitlab-ci.yml"], "ci.tar.gz")
    _refused(world, world.run(ci, SOURCE_COMMIT_SHA=base, MR_PROTECTED_PATHS="docs/*"), ".gitlab-ci.yml")
    jenkins = _series_bundle(world, base, [("x", _write("Jenkinsfile", "node { sh 'env' }\n"))], ["Jenkinsfile"],
                             "jenkins.tar.gz")
    _refused(world, world.run(jenkins, SOURCE_COMMIT_SHA=base), "Jenkinsfile: CI definitions")  # the default list
    assert world.run(jenkins, SOURCE_COMMIT_SHA=base, MR_PROTECTED_PATHS="docs/*").returncode == 0


def test_pushed_commits_are_the_autopilots_and_their_messages_inert(world: World) -> None:
    mallory = GitIdentity("Mallory @all", "mallory@evil.example")
    message = "Fix readiness probe path\n\nCloses #1, Fixes group/proj#2, cc @boss\nPatch-From: CEO <ceo@corp.example>"
    patch_id = _series_bundle(world, world.base_sha, [(message, fix_probe_path)], ["deploy/deployment.yaml"],
                              sender=mallory)
    result = world.run(patch_id)
    assert result.returncode == 0, result.stderr
    head = world.remote_head(BRANCH)
    assert head is not None
    who = git(world.remote, "log", "-1", "--format=%an <%ae>|%cn <%ce>", head)
    assert who == "PathOps Autopilot <autopilot@pathops.io>|PathOps Autopilot <autopilot@pathops.io>"
    body = git(world.remote, "log", "-1", "--format=%B", head)
    assert CLOSING.findall(body) == [] and MENTION.findall(body) == [] and QUICK_ACTION.findall(body) == []
    # git mailinfo reads this sender as "@all <@all>"; as a trailer it mentions no one.
    trailer = git(world.remote, "log", "-1", "--format=%(trailers:key=Patch-From,valueonly)", head)
    assert trailer and "\n" not in trailer and MENTION.findall(trailer) == [] and "@\u200ball" in trailer
    assert "CEO" not in body
    assert "Closes\u200b #\u200b1" in body  # still readable


def test_a_rerun_pushes_the_same_rewritten_commit(world: World) -> None:
    patch_id = world.bundle()
    first = world.run(patch_id)
    head = world.remote_head(BRANCH)
    world.project.merge_requests.clear()  # forget the MR: the rerun must still find nothing new to push
    subprocess.run(["git", "-C", str(world.remote), "update-ref", "-d", f"refs/heads/{BRANCH}"], check=True)
    second = world.run(patch_id)
    assert first.returncode == second.returncode == 0, second.stderr
    assert world.remote_head(BRANCH) == head


def test_the_fix_agents_single_commit_bundle_still_passes(world: World) -> None:
    bundle = build_patch_bundle(world.remote, world.base_sha, fix_probe_path, world.root / "plain.tar.gz")
    assert world.run(upload_bundle(world.store, bundle)).returncode == 0


def test_the_readme_states_the_default_protected_list() -> None:
    from pathops_contracts.patch_policy import ALWAYS_PROTECTED, DEFAULT_PROTECTED

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### mr-creator"):]
    for pattern in (*ALWAYS_PROTECTED, *DEFAULT_PROTECTED):
        assert f"`{pattern.removesuffix('*')}" in section, pattern


def test_ci_patterns_with_variables_and_limits() -> None:
    from pathops_contracts.errors import ContractViolation
    from pathops_contracts.patch_policy import ci_protected_patterns

    files = {".gitlab-ci.yml": b"include:\n  - local: ci/$CI_ENV.yml\n  - ${CI_PROJECT_DIR}/root.yml\n"}
    patterns = ci_protected_patterns(None, "shop/app", files.get, lambda: ["ci/prod.yml", "root.yml"])
    assert patterns == (".gitlab-ci.yml", "ci/*.yml", "*/root.yml", "root.yml")
    # An include of everything (a variable alone) protects everything: what it runs is unknown.
    assert "*" in ci_protected_patterns(None, "shop/app", {".gitlab-ci.yml": b"include: $X\n"}.get, list)
    # A configuration kept in another project protects nothing here; a looping include ends.
    assert ci_protected_patterns("ci.yml@other/project", "shop/app", files.get, list) == ()
    loop = {".gitlab-ci.yml": b"include: a.yml\n", "a.yml": b"include: .gitlab-ci.yml\n"}
    assert ci_protected_patterns(None, "shop/app", loop.get, list) == (".gitlab-ci.yml", "a.yml")
    many = {".gitlab-ci.yml": b"include: 'f/*.yml'\n"}
    with pytest.raises(ContractViolation, match="more than 150"):
        ci_protected_patterns(None, "shop/app", many.get, lambda: [f"f/{n}.yml" for n in range(200)])


def test_a_local_include_written_with_dot_segments_is_protected_as_the_path_a_diff_shows() -> None:
    from pathops_contracts.patch_policy import ci_protected_patterns

    files = {".gitlab-ci.yml": b"include:\n  - local: ./ci/x.yml\n  - local: ci/../ci/y.yml\n"}
    patterns = ci_protected_patterns(None, "shop/shop-frontend", files.get, lambda: sorted(files))
    assert {"ci/x.yml", "ci/y.yml"} <= set(patterns), patterns
