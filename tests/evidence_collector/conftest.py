"""A fake Kubernetes API on a real socket, loaded with the scenarios, and the collector as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pathops_testbed.http_server import BackgroundServer
from pathops_testbed.kube_api import FakeKubernetes, write_kubeconfig
from tests.evidence_collector import scenarios

BIN = Path(sys.executable).parent


@dataclass
class Cluster:
    api: FakeKubernetes
    kubeconfig: Path
    server: BackgroundServer | None = None

    def collect(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        variables = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "INCIDENT_ID": "INC-1042",
                     "APP_ID": "shop-frontend", "TARGET_NAMESPACE": scenarios.NS, **env}
        return subprocess.run([str(BIN / "evidence-collector"), "collect", *args], env=variables,
                              capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120, check=False)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    api = FakeKubernetes()
    scenarios.build(api)
    with BackgroundServer(api) as server:
        yield Cluster(api, write_kubeconfig(tmp_path / "kubeconfig", server.url, scenarios.NS), server)


def unpack(output_dir: Path) -> Path:
    """Extract the snapshot kept in output_dir and return the folder."""
    bundles = list(output_dir.glob("snap-*.tar.gz"))
    assert len(bundles) == 1
    target = output_dir / "unpacked"
    subprocess.run(["tar", "-xzf", str(bundles[0]), "-C", str(output_dir)], check=True)
    target.mkdir(exist_ok=True)
    return output_dir


def load_jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]
