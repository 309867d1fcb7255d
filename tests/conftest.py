"""Shared fixtures: real servers on 127.0.0.1 (S3 via moto, HTTP receivers, bare git repos)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests

from pathops_runtime.artifact_store import ArtifactStore, StoreSettings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_http(url: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            requests.get(url, timeout=5)
            return
        except (requests.ConnectionError, requests.Timeout):  # a loaded machine answers late
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server in its own process, speaking the real S3 wire protocol over HTTP.

    Its own process, so that what it stores never counts against the memory of the
    code under test.
    """
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(endpoint)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(autouse=True)
def _agent_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Run every test as an agent Job runs: no git identity, an unwritable HOME, fake S3 credentials."""
    for name in list(os.environ):
        if name.startswith(("GIT_", "AWS_", "MINIO_", "GITLAB_", "OPENAI_")) or name in {
            "CONTROL_PLANE_CALLBACK_URL", "CALLBACK_SIGNING_KEY", "CONTROL_PLANE_TOKEN", "KUBECONFIG",
        }:
            monkeypatch.delenv(name, raising=False)
    home = tmp_path_factory.mktemp("home-readonly")
    home.chmod(0o555)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_TERMINAL_PROMPT", "0")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "pathops-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "pathops-test-secret")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def bucket_name(request: pytest.FixtureRequest) -> str:
    """A bucket per test so tests never see each other's artifacts."""
    digest = abs(hash(request.node.nodeid)) % 10**10
    return f"pathops-test-{digest}"


@pytest.fixture
def store_settings(s3_endpoint: str, bucket_name: str) -> StoreSettings:
    return StoreSettings(endpoint=s3_endpoint, bucket=bucket_name)


@pytest.fixture
def artifact_store(store_settings: StoreSettings) -> ArtifactStore:
    store = ArtifactStore.from_settings(store_settings)
    store.ensure_bucket()
    return store
