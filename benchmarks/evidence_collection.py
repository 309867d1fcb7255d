"""Benchmark: evidence-collector against `kubectl cluster-info dump` on the same fake API server.

A fake Kubernetes API with 15 ms of latency per request serves a namespace of 300 pods
x 2 containers with 2 MB of logs each, in two shapes:
- "steady": three pods unready, nothing restarted;
- "restarted": every container restarted once (current and previous logs), the whole namespace.
For each, in the same run and against the same server (HTTP/1.1, connections kept alive as
kube-apiserver keeps them; the TCP connections each client opened are printed), with
--concurrency 16 (--concurrency N to compare):
- evidence-collector collect --no-upload (the real CLI, a child process),
- kubectl cluster-info dump --namespaces <ns> --output-directory <dir> (the baseline),
and the floor: the collector's requests x latency / concurrency (the wait no client avoids),
and the replay: a client that makes the very requests the collector made (the median run's),
`concurrency` at a time on kept-alive connections, and only reads the answers (a child process
of its own, `replay_requests.py`, timed from its start to its exit like the collector; its requests
alone are printed too): what any client pays on this server and machine before doing anything with what it reads.
Prints wall time, CPU time (user + sys), peak RSS, requests and the ratios, with the load
average (the machine may be shared: CPU seconds move less with load than wall seconds), and what is
left to gain: the collector's CPU as a share of its wall time (near 100%, only less CPU makes it faster),
and the most 10x allows, against the replay.
The collector and kubectl run --runs times each, one after the other in turn (so that a busy moment
of the machine falls on both alike), and their median runs are compared. The collector's modules run from
bytecode compiled beforehand, as in the image (pip compiles the wheel at install), not compiled
from source at every start as PYTHONDONTWRITEBYTECODE=1 makes a development venv do
(--source-only: as the venv does).
Targets: >= 10x faster than the baseline, within 2x of the floor, peak RSS <= 150 MB.

    python benchmarks/evidence_collection.py [--pods 300] [--log-mb 2] [--latency-ms 15] [--shape both] [--runs 3]
        [--concurrency 16]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pathops_testbed.http_server import BackgroundServer
from pathops_testbed.kube_api import FakeKubernetes, SharedLog, write_kubeconfig
from pathops_testbed.kube_objects import ago, container, deployment, event, pod, replicaset, running, service
from pathops_testbed.peak_rss import run_measured

NAMESPACE = "shop-frontend-production"


CONCURRENCY = 16


def populate(api: FakeKubernetes, pods: int, log_bytes: int, restarted: bool) -> None:
    spec = {"containers": [container("web", "harbor/shop:1"), container("sidecar", "harbor/proxy:1", port=9090,
                                                                        probe_path=None)]}
    crash = {"exitCode": 1, "reason": "Error", "finishedAt": ago(30)}
    restarts = {"restarts": 1, "last_terminated": crash} if restarted else {}
    owner = deployment("shop-frontend", NAMESPACE, spec, replicas=pods, ready=pods - 3)
    rs = replicaset(owner, 1, spec, replicas=pods)
    api.add_all([owner, rs, service("shop-frontend", NAMESPACE, {"app.kubernetes.io/name": "shop-frontend"})])
    shared = SharedLog(log_bytes, datetime.now(UTC))
    for index in range(pods):
        name = f"shop-frontend-{index:04d}"
        api.add(pod(name, rs, [running("web", "harbor/shop:1", ready=index >= 3, **restarts),
                               running("sidecar", "harbor/proxy:1", **restarts)], ready=index >= 3))
        for container_name in ("web", "sidecar"):
            api.set_log(NAMESPACE, name, container_name, shared)
            if restarted:
                api.set_log(NAMESPACE, name, container_name, shared, previous=True)
        if index < 3:
            api.add(event(NAMESPACE, "Pod", name, "Unhealthy",
                          "Readiness probe failed: HTTP probe failed with statuscode: 503", 2, count=40))


def run_with_rusage(command: list[str], env: dict[str, str], stdout_path: Path) -> tuple[float, int, float, int]:
    """(wall seconds, peak RSS KiB, CPU seconds, exit code) of one child (pathops_testbed.peak_rss)."""
    with stdout_path.open("w") as out:
        run = run_measured(command, env, stdout=out)
    return run.seconds, run.peak_rss_kib, run.cpu_seconds, run.returncode


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@dataclass
class Figures:
    seconds: float
    rss_mb: float
    cpu: float
    requests: int
    note: str
    paths: tuple[str, ...] = ()  # what was asked, in order


def run_collector(api: FakeKubernetes, server: BackgroundServer, work: Path, env: dict[str, str],
                  concurrency: int) -> Figures:
    command = [str(Path(sys.executable).parent / "evidence-collector"), "collect", "--no-upload",
               "--incident-id", "INC-BENCH", "--app-id", "shop-frontend", "--target-namespace", NAMESPACE,
               "--output-dir", str(work / "collector"), "--scratch-dir", str(work / "scratch"),
               "--time-window", "1h", "--concurrency", str(concurrency)]
    shutil.rmtree(work / "collector", ignore_errors=True)
    api.requests.clear()
    connections = server.connections
    seconds, rss, cpu, code = run_with_rusage(command, env, work / "collector.json")
    if code != 0:
        raise SystemExit(f"evidence-collector failed with {code}")
    summary = json.loads((work / "collector.json").read_text())
    bundle = next((work / "collector").glob("snap-*.tar.gz"))
    return Figures(seconds, rss / 1024, cpu, len(api.requests),
                   f"{server.connections - connections} connections, bundle {bundle.stat().st_size / 1e6:5.2f} MB, "
                   f"{summary['files']} files, {summary['findings']} findings, {summary['gaps']} gaps",
                   tuple(api.requests))


def run_replay(paths: tuple[str, ...], work: Path, env: dict[str, str], concurrency: int, runs: int
               ) -> tuple[float, float]:
    """(wall seconds of the whole child, seconds of its requests alone) of a child that makes `paths` again,
    `concurrency` at a time, only reading the answers (the median of `runs` children). The whole child is
    timed as the collector is (run_measured: from its start to its exit), so the two compare."""
    listed = work / "replayed-paths.txt"
    listed.write_text("".join(path + "\n" for path in paths))
    timed = []
    for _ in range(runs):
        done = run_measured([sys.executable, str(Path(__file__).with_name("replay_requests.py")), str(listed),
                             "--concurrency", str(concurrency)], env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if done.returncode != 0:
            raise SystemExit(f"the replay failed with {done.returncode}: {done.stderr.strip()[-300:]}")
        timed.append((done.seconds, float(done.stdout.split()[-1])))
    return sorted(timed)[len(timed) // 2]


def run_kubectl(api: FakeKubernetes, server: BackgroundServer, work: Path, env: dict[str, str]) -> Figures:
    shutil.rmtree(work / "kubectl", ignore_errors=True)  # each run writes its dump afresh
    api.requests.clear()
    connections = server.connections
    command = ["kubectl", "cluster-info", "dump", "--namespaces", NAMESPACE, "--output-directory",
               str(work / "kubectl")]
    seconds, rss, cpu, code = run_with_rusage(command, env, work / "kubectl.out")
    if code != 0:
        raise SystemExit(f"kubectl cluster-info dump failed with {code}")
    return Figures(seconds, rss / 1024, cpu, len(api.requests),
                   f"{server.connections - connections} connections, output "
                   f"{folder_size(work / 'kubectl') / 1e6:7.1f} MB")


def load() -> str:
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def bench_shape(shape: str, args: argparse.Namespace) -> tuple[list[Figures], Figures, float, float, float]:
    work = Path(tempfile.mkdtemp(prefix=f"bench-evidence-{shape}-"))
    try:
        api = FakeKubernetes(latency_seconds=args.latency_ms / 1000)
        populate(api, args.pods, int(args.log_mb * 1024 * 1024), restarted=shape == "restarted")
        with BackgroundServer(api) as server:
            kubeconfig = write_kubeconfig(work / "kubeconfig", server.url, NAMESPACE)
            env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(work)}
            if not args.source_only:  # into agents/**/__pycache__ (git ignores it), read despite the variable
                subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "agents")], check=True,
                               stdout=subprocess.DEVNULL)
            ours, theirs_runs = [], []
            for _ in range(args.runs):  # in turn: a busy moment of the machine falls on both
                ours.append(run_collector(api, server, work, env, args.concurrency))
                theirs_runs.append(run_kubectl(api, server, work, env))
            ours.sort(key=lambda figures: figures.seconds)
            theirs_runs.sort(key=lambda figures: figures.seconds)
            theirs = replace(theirs_runs[len(theirs_runs) // 2],
                             note=f"{theirs_runs[len(theirs_runs) // 2].note}  (runs: "
                                  f"{', '.join(f'{run.seconds:.2f}' for run in theirs_runs)} s)")
            replayed, requested = run_replay(ours[len(ours) // 2].paths, work, env, args.concurrency, args.runs)
        floor = ours[len(ours) // 2].requests * args.latency_ms / 1000 / args.concurrency
        return ours, theirs, floor, replayed, requested
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=300)
    parser.add_argument("--log-mb", type=float, default=2.0)
    parser.add_argument("--latency-ms", type=float, default=15.0)
    parser.add_argument("--shape", choices=["steady", "restarted", "both"], default="both")
    parser.add_argument("--runs", type=int, default=3, help="collector and kubectl runs per shape (medians shown)")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY, help="the collector's --concurrency")
    parser.add_argument("--source-only", action="store_true", help="no bytecode compiled beforehand")
    args = parser.parse_args()
    shapes = ["steady", "restarted"] if args.shape == "both" else [args.shape]
    print(f"namespace: {args.pods} pods x 2 containers, {args.log_mb:g} MB of logs each, "
          f"{args.latency_ms:g} ms latency per request, --concurrency {args.concurrency}; "
          f"{os.cpu_count()} CPUs, load average {load()}; "
          f"{'compiled from source at each start' if args.source_only else 'bytecode compiled beforehand'}")
    rows = []
    for shape in shapes:
        runs, theirs, floor, replayed, requested = bench_shape(shape, args)
        ours = replace(runs[len(runs) // 2], rss_mb=max(run.rss_mb for run in runs))  # the highest peak of all runs
        walls = ", ".join(f"{run.seconds:.2f}" for run in runs)
        print(f"[{shape}] evidence-collector: {ours.seconds:6.2f} s  CPU {ours.cpu:5.2f} s  peak RSS "
              f"{ours.rss_mb:6.1f} MB  {ours.requests} requests  {ours.note}  (runs: {walls} s)")
        print(f"[{shape}] kubectl dump:       {theirs.seconds:6.2f} s  CPU {theirs.cpu:5.2f} s  peak RSS "
              f"{theirs.rss_mb:6.1f} MB  {theirs.requests} requests  {theirs.note}")
        print(f"[{shape}] floor {floor:5.2f} s ({ours.requests} requests x {args.latency_ms:g} ms / "
              f"{args.concurrency}); "
              f"speed-up vs kubectl {theirs.seconds / ours.seconds:5.1f}x (target >= 10x); "
              f"{ours.seconds / floor:4.1f}x the floor (target <= 2x); peak RSS {ours.rss_mb:.0f} MB (target <= 150); "
              f"load average {load()}")
        print(f"[{shape}] replay {replayed:5.2f} s (a client process that makes the same {ours.requests} requests and "
              f"only reads the answers, timed from its start to its exit as the collector is; the requests alone "
              f"{requested:.2f} s); the collector takes {ours.seconds / replayed:4.2f}x as long; kubectl is "
              f"{theirs.seconds / replayed:5.1f}x as long as the replay")
        # What is left to gain: a run busy for most of its time (one core: the Job's limit) gains nothing from
        # overlapping its work, only from doing less of it.
        print(f"[{shape}] the collector's CPU is {ours.cpu / ours.seconds:4.0%} of its wall time; 10x needs "
              f"<= {theirs.seconds / 10:.2f} s, {theirs.seconds / 10 - replayed:+.2f} s against the replay")
        rows.append((shape, ours, theirs, floor, replayed))
    print(f"{'shape':10} {'collector s':>11} {'CPU s':>6} {'kubectl s':>9} {'ratio':>6} {'floor s':>7} "
          f"{'x floor':>7} {'replay s':>8} {'x replay':>8} {'RSS MB':>6}")
    for shape, ours, theirs, floor, replayed in rows:
        print(f"{shape:10} {ours.seconds:11.2f} {ours.cpu:6.2f} {theirs.seconds:9.2f} "
              f"{theirs.seconds / ours.seconds:5.1f}x {floor:7.2f} {ours.seconds / floor:6.1f}x "
              f"{replayed:8.2f} {ours.seconds / replayed:7.2f}x {ours.rss_mb:6.0f}")


if __name__ == "__main__":
    main()
