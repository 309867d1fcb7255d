"""Memory and byte bounds: large namespaces and hostile logs fit 150 MB, and the budget cuts, never drops."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pathops_testbed.http_server import BackgroundServer
from pathops_testbed.kube_api import EndlessLog, FakeKubernetes, SharedLog, StaticLog, write_kubeconfig
from pathops_testbed.kube_objects import ago, container, deployment, event, pod, replicaset, running
from tests.evidence_collector import scenarios
from tests.evidence_collector.conftest import RSS_LIMIT_MB, Cluster, collect_measured, unpack


def _manifest(folder: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((folder / "manifest.json").read_text())
    return manifest


def _pointers_are_kept(folder: Path) -> None:
    for finding in json.loads((folder / "findings.json").read_text())["findings"]:
        for pointer in finding["pointers"]:
            lines = (folder / pointer["file"]).read_text().count("\n")
            assert 1 <= pointer["lines"][0] <= pointer["lines"][1] <= lines, (finding["kind"], pointer)


def test_sixty_thousand_events_fit_150_mb_and_the_newest_are_kept(cluster: Cluster, tmp_path: Path) -> None:
    padding = "x" * 600
    for index in range(60_000):
        cluster.api.add(event(scenarios.NS, "Pod", f"batch-{index % 300}", "BackOff",
                              f"Back-off restarting failed container {index} {padding}", 20 - index * 19.5 / 60_000))
    peak, _ = collect_measured(cluster.kubeconfig, tmp_path / "out")
    assert peak <= RSS_LIMIT_MB, f"peak RSS {peak:.0f} MB"
    folder = unpack(tmp_path / "out")
    events = (folder / "objects/events.jsonl").read_text().splitlines()
    assert 1000 < len(events) < 60_000
    assert "container 59999 " in events[-1]  # the newest event is the one the budget keeps
    gap = next(g for g in _manifest(folder)["gaps"] if g["what"] == "objects/events.jsonl")
    assert gap["reason"] == "truncated" and "newest" in gap["detail"]
    _pointers_are_kept(folder)


def test_one_endless_line_from_a_server_ignoring_limit_bytes_fits_150_mb(cluster: Cluster, tmp_path: Path) -> None:
    cluster.api.ignore_limit_bytes = True
    cluster.api.set_log(scenarios.NS, "catalog-1", "catalog", EndlessLog(newlines=False))
    peak, _ = collect_measured(cluster.kubeconfig, tmp_path / "out", "--deadline", "30")
    assert peak <= RSS_LIMIT_MB, f"peak RSS {peak:.0f} MB"
    folder = unpack(tmp_path / "out")
    kept = (folder / "logs/catalog-1/catalog.log").read_text()
    assert kept.endswith("[line cut]\n") and len(kept) < 64 * 1024
    gap = next(g for g in _manifest(folder)["gaps"] if g["what"] == "logs/catalog-1/catalog.log")
    assert gap["reason"] == "truncated" and "more than limitBytes" in gap["detail"]


def test_a_one_line_log_larger_than_its_share_keeps_the_start_of_the_line(cluster: Cluster, tmp_path: Path) -> None:
    big = "GET /checkout " + "y" * 10 * 1024 * 1024
    start = datetime.now(UTC) - timedelta(minutes=3)
    cluster.api.set_log(scenarios.NS, "payments-abc", "api", StaticLog([(start, big)]))
    result = cluster.collect("--no-upload", "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    kept = (unpack(tmp_path / "out") / "logs/payments-abc/api.log").read_text()
    assert "GET /checkout yyyy" in kept and kept.endswith("[line cut]\n")


def test_the_budget_truncates_object_files_and_findings_point_only_at_kept_lines(cluster: Cluster,
                                                                                tmp_path: Path) -> None:
    result = cluster.collect("--no-upload", "--output-dir", str(tmp_path / "out"), "--max-bytes", "24000")
    assert result.returncode == 0, result.stderr
    folder = unpack(tmp_path / "out")
    pods = (folder / "objects/pods.jsonl").read_text().splitlines()
    assert 0 < len(pods) < 7  # cut, not dropped
    gap = next(g for g in _manifest(folder)["gaps"] if g["what"] == "objects/pods.jsonl")
    assert gap["reason"] == "truncated" and "kept the head" in gap["detail"]
    _pointers_are_kept(folder)


def test_restarted_containers_previous_logs_and_excerpts_fit_their_shares(tmp_path: Path) -> None:
    namespace = "shop-frontend-production"
    api = FakeKubernetes()
    spec = {"containers": [container("web", "harbor/shop:1", probe_path=None)]}
    owner = deployment("shop-frontend", namespace, spec, replicas=40, ready=40)
    rs = replicaset(owner, 1, spec, replicas=40)
    api.add_all([owner, rs])
    shared = SharedLog(300 * 1024, datetime.now(UTC), span=timedelta(minutes=20))
    crash = {"exitCode": 1, "reason": "Error", "finishedAt": ago(1)}
    for index in range(40):
        name = f"shop-frontend-{index:04d}"
        api.add(pod(name, rs, [running("web", "harbor/shop:1", restarts=1, last_terminated=crash)], ready=True))
        api.set_log(namespace, name, "web", shared)
        api.set_log(namespace, name, "web", shared, previous=True)
    max_bytes = 2 * 1024 * 1024
    with BackgroundServer(api) as server:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server.url, namespace)
        collect_measured(kubeconfig, tmp_path / "out", "--max-bytes", str(max_bytes), namespace=namespace)
    folder = unpack(tmp_path / "out")
    manifest = _manifest(folder)
    assert not [g for g in manifest["gaps"] if g["reason"] == "budget_exhausted"]
    files = {f["path"] for f in manifest["files"]}
    for index in range(40):
        for suffix in ("log", "previous.log", "previous.excerpt.txt"):  # the crash is in the previous log
            assert f"logs/shop-frontend-{index:04d}/web.{suffix}" in files
    assert sum(f["size"] for f in manifest["files"]
               if f["path"] not in {"findings.json", "redaction-report.json"}) <= max_bytes


def test_a_crash_log_larger_than_its_share_keeps_its_newest_lines(cluster: Cluster, tmp_path: Path) -> None:
    start = datetime.now(UTC) - timedelta(minutes=10)
    lines = [(start + timedelta(milliseconds=n), f"INFO worker handled job {n} in {n % 97} ms") for n in range(3000)]
    lines.append((start + timedelta(seconds=5), "fatal: configuration incomplete, PAYMENTS_URL unset"))
    cluster.api.set_log(scenarios.NS, "payments-abc", "api", StaticLog(lines), previous=True)
    result = cluster.collect("--no-upload", "--output-dir", str(tmp_path / "out"), "--log-bytes", "40000")
    assert result.returncode == 0, result.stderr
    folder = unpack(tmp_path / "out")
    kept = (folder / "logs/payments-abc/api.previous.log").read_text().splitlines()
    assert kept[-1].endswith("fatal: configuration incomplete, PAYMENTS_URL unset")
    crash = next(f for f in json.loads((folder / "findings.json").read_text())["findings"] if f["kind"] == "crash-loop")
    assert "PAYMENTS_URL unset" in crash["detail"]
    gap = next(g for g in _manifest(folder)["gaps"] if g["what"] == "logs/payments-abc/api.previous.log")
    assert gap["reason"] == "truncated" and "kept the tail" in gap["detail"]
