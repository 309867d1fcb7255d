"""Fixtures of the gitops-patcher tests: the CLI as a subprocess, a bare GitOps repository."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pathops_testbed.git_repos import git, init_bare_repository

BIN = Path(sys.executable).parent
DIGEST = "sha256:" + "3" * 64
IMAGES = {
    "evidence-collector": f"harbor.demo.pathops.io/pathops/evidence-collector:0.1.0@{DIGEST}",
    "fix-agent": f"harbor.demo.pathops.io/pathops/agents/fix-shop-frontend:4f2c1d8e9a7b-0.1.0@{DIGEST}",
    "verification-agent": f"harbor.demo.pathops.io/pathops/verification-agent:0.1.0@{DIGEST}",
}


def agent_args(agent: str, incident: str = "INC-1042") -> list[str]:
    args = ["--agent", agent, "--app", "shop-frontend", "--incident-id", incident, "--image", IMAGES[agent]]
    if agent == "fix-agent":
        args += ["--snapshot-id", "snap-" + "ab" * 16]
    if agent == "verification-agent":
        args += ["--verification-id", "VER-7", "--verification-spec-root", str(Path(__file__).parent),
                 "--verification-spec", "verification-spec.yaml", "--expected-commit-sha", "c" * 40]
    if agent == "evidence-collector":
        args += ["--workload", "deployment/shop-frontend", "--time-window", "45m"]
    return args


# Every endpoint is passed explicitly, as Jenkins does: gitops-patcher has no default for any,
# nor for the egress to the control plane and the Kubernetes API (the LLM egress is optional).
ENDPOINTS = {"MINIO_ENDPOINT": "https://minio.pathops.example", "CONTROL_PLANE_URL": "https://control-plane.pathops.example",
             "EGRESS_CONTROL_PLANE": "10.40.0.7/32:8443", "EGRESS_KUBE_API": "10.43.0.1/32:443"}


def patcher(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "gitops-patcher"), *args], env={**os.environ, **ENDPOINTS, **env},
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120, check=False)


@pytest.fixture
def gitops_remote(tmp_path: Path) -> Path:
    """shop/shop-frontend-gitops with one commit holding the app's own manifests."""
    bare = init_bare_repository(tmp_path / "remotes" / "shop-frontend-gitops.git")
    work = tmp_path / "seed"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "apps" / "shop-frontend").mkdir(parents=True)
    (work / "apps" / "shop-frontend" / "kustomization.yaml").write_text("resources: []\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "GitOps repository of shop-frontend")
    git(work, "push", "-q", str(bare), "HEAD:refs/heads/main")
    return bare
