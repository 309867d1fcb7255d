"""Fixtures of the mr-creator tests: a source remote, GitLab, S3 and the control plane, all real sockets."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mr_creator.marker import ChangeSetMarker, MarkerScope, verified_marker
from pathops_runtime.artifact_store import ArtifactStore, StoreSettings
from pathops_testbed.control_plane import ControlPlaneReceiver
from pathops_testbed.git_http import GitHttpBackend
from pathops_testbed.git_repos import fix_probe_path, make_source_remote
from pathops_testbed.gitlab_api import FakeGitLab, FakeProject
from pathops_testbed.http_server import BackgroundServer
from pathops_testbed.patch_bundles import build_patch_bundle, upload_bundle

TOKEN = "glpat-test-token-123456"
SIGNING_KEY = "callback-signing-key-for-tests"
BIN = Path(sys.executable).parent


@dataclass
class World:
    root: Path
    remote: Path
    base_sha: str
    gitlab: FakeGitLab
    gitlab_url: str
    project: FakeProject
    store: ArtifactStore
    store_settings: StoreSettings
    callback_url: str
    control_plane: ControlPlaneReceiver
    git_http: GitHttpBackend | None = None

    @property
    def callbacks(self) -> list[dict[str, Any]]:
        """What the control plane accepted (signature checked; once per Idempotency-Key), in order."""
        return [callback.payload for callback in self.control_plane.received]

    def bundle(self, name: str = "patch.tar.gz", **kwargs: object) -> str:
        edit = kwargs.pop("edit", fix_probe_path)
        path = build_patch_bundle(self.remote, self.base_sha, edit, self.root / name, **kwargs)  # type: ignore[arg-type]
        return upload_bundle(self.store, path)

    def run(self, patch_id: str, *extra: str, changeset: str = "CS-17", **env: str) -> subprocess.CompletedProcess[str]:
        variables = {
            **os.environ,
            "SRC_REPO": "shop/shop-frontend",
            "SOURCE_COMMIT_SHA": self.base_sha,
            "PATCH_ID": patch_id,
            "CHANGESET_ID": changeset,
            "GITLAB_URL": self.gitlab_url,
            "GITLAB_TOKEN": TOKEN,
            "MINIO_ENDPOINT": self.store_settings.endpoint,
            "MINIO_BUCKET": self.store_settings.bucket,
            "CONTROL_PLANE_CALLBACK_URL": self.callback_url,
            "CALLBACK_DEADLINE_SECONDS": "5",
            "CALLBACK_SIGNING_KEY": SIGNING_KEY,
            "SCRATCH_DIR": str(self.root / "scratch"),
            **env,
        }
        return subprocess.run(
            [str(BIN / "mr-creator"), "create", *extra], env=variables, capture_output=True, text=True,
            stdin=subprocess.DEVNULL, timeout=120, check=False,
        )

    def remote_head(self, branch: str) -> str | None:
        out = subprocess.run(["git", "-C", str(self.remote), "rev-parse", "--verify", "-q", f"refs/heads/{branch}"],
                             capture_output=True, text=True, check=False).stdout.strip()
        return out or None


@pytest.fixture
def control_plane() -> Iterator[tuple[str, ControlPlaneReceiver]]:
    """The control plane's /webhooks/jenkins: checks each callback's signature as the real one must."""
    receiver = ControlPlaneReceiver(SIGNING_KEY)
    with BackgroundServer(receiver) as server:
        yield f"{server.url}/webhooks/jenkins", receiver


def _world(tmp_path: Path, artifact_store: ArtifactStore, store_settings: StoreSettings,
           control_plane: tuple[str, ControlPlaneReceiver], over_http: bool) -> Iterator[World]:
    remote, sha = make_source_remote(tmp_path / "gitlab-repos")
    gitlab = FakeGitLab(TOKEN)
    servers = [BackgroundServer(gitlab).start()]
    git_http = None
    if over_http:
        git_http = GitHttpBackend(tmp_path / "gitlab-repos", TOKEN)
        git_server = BackgroundServer(git_http).start()
        servers.append(git_server)
        clone_url = f"{git_server.url}/shop/shop-frontend.git"
    else:
        clone_url = remote.as_uri()
    project = gitlab.add_project("shop/shop-frontend", clone_url, repository=remote)
    url, receiver = control_plane
    try:
        yield World(tmp_path, remote, sha, gitlab, servers[0].url, project, artifact_store, store_settings, url,
                    receiver, git_http)
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def world(tmp_path: Path, artifact_store: ArtifactStore, store_settings: StoreSettings,
          control_plane: tuple[str, ControlPlaneReceiver]) -> Iterator[World]:
    yield from _world(tmp_path, artifact_store, store_settings, control_plane, over_http=False)


@pytest.fixture
def http_world(tmp_path: Path, artifact_store: ArtifactStore, store_settings: StoreSettings,
               control_plane: tuple[str, ControlPlaneReceiver]) -> Iterator[World]:
    yield from _world(tmp_path, artifact_store, store_settings, control_plane, over_http=True)


def parse_marker(description: str, branch: str = "cs-17-fix-readiness-probe-path-healthz-health",
                 project: str = "shop/shop-frontend") -> ChangeSetMarker | None:
    """The tool's marker of a description, verified as mr-creator verifies it."""
    return verified_marker(description, MarkerScope(SIGNING_KEY.encode(), project, branch))
