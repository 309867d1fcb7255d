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
from pathops_testbed.peak_rss import run_measured
from tests.evidence_collector import scenarios

BIN = Path(sys.executable).parent
RSS_LIMIT_MB = 150  # the Job's memory limit is 256 Mi; Python and the client take about 60 of it


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


def collect_measured(kubeconfig: Path, out: Path, *args: str, namespace: str = scenarios.NS,
                     **variables: str) -> tuple[float, str]:
    """Run the collector; (its own peak RSS in MB, stdout), not this process's (pathops_testbed.peak_rss)."""
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "INCIDENT_ID": "INC-1042", "APP_ID": "shop-frontend",
           "TARGET_NAMESPACE": namespace, **variables}
    run = run_measured([str(BIN / "evidence-collector"), "collect", "--no-upload", "--output-dir", str(out), *args],
                       env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    assert run.returncode == 0, (run.stderr or "")[-2000:]
    return run.peak_rss_mb, run.stdout or ""


def served_peak(api: FakeKubernetes, tmp_path: Path, **variables: str) -> float:
    """Serve `api` and run the collector on it (output in tmp_path/out); its peak RSS in MB."""
    with BackgroundServer(api) as server:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server.url, scenarios.NS)
        return collect_measured(kubeconfig, tmp_path / "out", **variables)[0]


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
