"""Shared fixtures: the agent Job's environment, and a bucket per test on the S3 stand-in (pathops_testbed)."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator

import pytest

from pathops_runtime.artifact_store import ArtifactStore, StoreSettings
from pathops_testbed.s3 import moto_s3_server


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """MinIO's stand-in for the whole session: a moto S3 server in its own process (pathops_testbed.s3)."""
    with moto_s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def silent_s3() -> Iterator[str]:
    """An S3 endpoint that accepts connections and never answers (a store that hangs)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    server.close()


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
