"""Benchmark: evidence-collector against `kubectl cluster-info dump` on the same fake API server.

A fake Kubernetes API with 15 ms of latency per request serves a namespace of 300 pods
x 2 containers with 2 MB of logs each. In the same run, against the same server:
- evidence-collector collect --no-upload (the real CLI, a child process),
- kubectl cluster-info dump --namespaces <ns> --output-directory <dir> (the baseline).
Prints wall time, peak RSS and output size of each, and the ratios.
Targets: at least 5x faster than the baseline, peak RSS under 200 MB, bundle within the caps.

    python benchmarks/evidence_collection.py [--pods 300] [--log-mb 2] [--latency-ms 15]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from golden_path.stand_ins.http_server import BackgroundServer
from golden_path.stand_ins.kube_api import FakeKubernetes, SharedLog, write_kubeconfig
from golden_path.stand_ins.kube_objects import container, deployment, event, pod, replicaset, running, service

NAMESPACE = "shop-frontend-production"


def populate(api: FakeKubernetes, pods: int, log_bytes: int) -> None:
    spec = {"containers": [container("web", "harbor/shop:1"), container("sidecar", "harbor/proxy:1", port=9090,
                                                                        probe_path=None)]}
    owner = deployment("shop-frontend", NAMESPACE, spec, replicas=pods, ready=pods - 3)
    rs = replicaset(owner, 1, spec, replicas=pods)
    api.add_all([owner, rs, service("shop-frontend", NAMESPACE, {"app.kubernetes.io/name": "shop-frontend"})])
    shared = SharedLog(log_bytes, datetime.now(UTC))
    for index in range(pods):
        name = f"shop-frontend-{index:04d}"
        api.add(pod(name, rs, [running("web", "harbor/shop:1", ready=index >= 3), running("sidecar", "harbor/proxy:1")],
                    ready=index >= 3))
        for container_name in ("web", "sidecar"):
            api.set_log(NAMESPACE, name, container_name, shared)
        if index < 3:
            api.add(event(NAMESPACE, "Pod", name, "Unhealthy",
                          "Readiness probe failed: HTTP probe failed with statuscode: 503", 2, count=40))


def run_with_rusage(command: list[str], env: dict[str, str], stdout_path: Path) -> tuple[float, int, int]:
    """(wall seconds, peak RSS KiB, exit code) of one child, measured with os.wait4."""
    with stdout_path.open("w") as out, Path(os.devnull).open("w") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return elapsed, usage.ru_maxrss, process.returncode


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=300)
    parser.add_argument("--log-mb", type=float, default=2.0)
    parser.add_argument("--latency-ms", type=float, default=15.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-evidence-"))
    try:
        api = FakeKubernetes(latency_seconds=args.latency_ms / 1000)
        populate(api, args.pods, int(args.log_mb * 1024 * 1024))
        with BackgroundServer(api) as server:
            kubeconfig = write_kubeconfig(work / "kubeconfig", server.url, NAMESPACE)
            env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(work)}
            collector = [str(Path(sys.executable).parent / "evidence-collector"), "collect", "--no-upload",
                         "--incident-id", "INC-BENCH", "--app-id", "shop-frontend", "--target-namespace", NAMESPACE,
                         "--output-dir", str(work / "collector"), "--scratch-dir", str(work / "scratch"),
                         "--time-window", "1h", "--concurrency", "16"]
            api.requests.clear()
            ours, our_rss, code = run_with_rusage(collector, env, work / "collector.json")
            if code != 0:
                raise SystemExit(f"evidence-collector failed with {code}")
            our_requests = len(api.requests)
            summary = json.loads((work / "collector.json").read_text())
            bundle = next((work / "collector").glob("snap-*.tar.gz"))
            api.requests.clear()
            kubectl = ["kubectl", "cluster-info", "dump", "--namespaces", NAMESPACE, "--output-directory",
                       str(work / "kubectl")]
            theirs, their_rss, code = run_with_rusage(kubectl, env, work / "kubectl.out")
            if code != 0:
                raise SystemExit(f"kubectl cluster-info dump failed with {code}")
            their_requests = len(api.requests)
        print(f"namespace: {args.pods} pods x 2 containers, {args.log_mb:g} MB of logs each, "
              f"{args.latency_ms:g} ms latency per request")
        print(f"evidence-collector: {ours:7.2f} s  peak RSS {our_rss / 1024:6.1f} MB  bundle "
              f"{bundle.stat().st_size / 1e6:6.2f} MB (cap 50 MB)  {our_requests} requests  "
              f"{summary['findings']} findings, {summary['gaps']} gaps")
        print(f"kubectl dump:       {theirs:7.2f} s  peak RSS {their_rss / 1024:6.1f} MB  output "
              f"{folder_size(work / 'kubectl') / 1e6:7.2f} MB  {their_requests} requests")
        print(f"speed-up: {theirs / ours:5.1f}x (target >= 5x); peak RSS {our_rss / 1024:.0f} MB (target < 200 MB)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
