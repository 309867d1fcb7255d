"""A verification spec comes from inside its root and is schema-valid, or nothing reaches the GitOps repository."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from pathops_testbed.git_repos import git
from tests.gitops_patcher.conftest import BIN, ENDPOINTS, IMAGES, patcher

VALID_SPEC = (Path(__file__).parent / "verification-spec.yaml").read_text()
PLANTED = "glpat-PLANTEDsecretVALUE0123"


def verifier_args(root: Path | None, spec: str) -> list[str]:
    where = ["--verification-spec-root", str(root)] if root else []
    return ["--agent", "verification-agent", "--app", "shop-frontend", "--incident-id", "INC-1042",
            "--image", IMAGES["verification-agent"], "--verification-id", "VER-7", *where,
            "--verification-spec", spec]


def refs(remote: Path) -> str:
    return git(remote, "for-each-ref", "--format=%(refname) %(objectname)")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A Jenkins workspace: the spec checkout below it, a valid spec (with a planted token) beside it."""
    (tmp_path / "outside.yaml").write_text(VALID_SPEC + f"# {PLANTED}\n")
    root = tmp_path / "workspace" / "verification-spec"
    (root / "deploy").mkdir(parents=True)
    (root / "deploy" / "verification.yaml").write_text(VALID_SPEC)
    (root / "deploy" / "link.yaml").symlink_to(tmp_path / "outside.yaml")
    (root / "deploy" / "invalid.yaml").write_text("checks:\n  - name: x\n    type: rollout\n")
    (root / "deploy" / "notes.yaml").write_text(f"token: {PLANTED}\n")
    return root


@pytest.mark.parametrize(("spec", "reason"), [
    ("/proc/self/environ", "not absolute"),
    ("OUTSIDE", "not absolute"),
    ("../../outside.yaml", "'..'"),
    ("deploy/../../../outside.yaml", "'..'"),
    ("deploy/link.yaml", "resolves outside"),
    ("deploy/invalid.yaml", "'workload' is a required property"),
    ("deploy/notes.yaml", "'checks' is a required property"),
    ("deploy/missing.yaml", "does not exist"),
])
def test_a_refused_spec_writes_and_commits_nothing(gitops_remote: Path, workspace: Path, tmp_path: Path,
                                                   spec: str, reason: str) -> None:
    spec = spec.replace("OUTSIDE", str(tmp_path / "outside.yaml"))
    before = refs(gitops_remote)
    scheduled = patcher("schedule", *verifier_args(workspace, spec), "--repo", gitops_remote.as_uri())
    assert scheduled.returncode == 2, scheduled.stderr
    assert reason in scheduled.stderr
    assert PLANTED not in scheduled.stderr + scheduled.stdout
    assert refs(gitops_remote) == before
    rendered = patcher("render", *verifier_args(workspace, spec), "--output-dir", str(tmp_path / "out"))
    assert rendered.returncode == 2
    assert not (tmp_path / "out").exists()


def test_the_spec_root_defaults_to_the_working_directory(gitops_remote: Path, workspace: Path,
                                                        tmp_path: Path) -> None:
    args = verifier_args(None, "deploy/verification.yaml")
    scheduled = subprocess.run([str(BIN / "gitops-patcher"), "schedule", *args, "--repo", gitops_remote.as_uri()],
                               cwd=workspace, env={**os.environ, **ENDPOINTS}, capture_output=True, text=True,
                               timeout=120, check=False)
    assert scheduled.returncode == 0, scheduled.stderr
    run = json.loads(scheduled.stdout)["run"]
    work = tmp_path / "check"
    subprocess.run(["git", "clone", "-q", gitops_remote.as_uri(), str(work)], check=True)
    configmap = (work / "agents" / "shop-frontend" / "runs" / run / "configmap.yaml").read_text()
    assert "deployment/shop-frontend" in configmap
