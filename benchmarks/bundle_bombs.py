"""Benchmark: time and peak RSS of mr-creator and fix-agent refusing bundle bombs, against a legit bundle.

Every bomb of `tests/bundle_bombs.py` (1 GiB PAX header and GNU long name, a 2**80-byte
size field, a sparse map, 200,000 directory entries, 200,000 files, a 1 GiB gzip ratio
bomb, 2,000-deep directories, damaged deflate, a file/directory clash, duplicate names)
plus a 100,000-deep metadata.json / manifest.json is uploaded to a moto S3 server and
handed to the real CLI, a child process; os.wait4 gives its wall time and peak RSS.
Baselines in the same run: mr-creator opening an MR from a legit patch bundle, fix-agent
turning a legit snapshot into a patch, and fix-agent on the largest snapshot it accepts
(its file count cap, ~190 MB of logs).
Target: every bundle accepted or refused within 5 s and 200 MB RSS; refusals exit 4.

    python benchmarks/bundle_bombs.py
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fix_agent.snapshot import LIMITS as SNAPSHOT_LIMITS
from pathops_contracts.bundles import write_bundle
from pathops_runtime.artifact_store import ArtifactKind, ArtifactStore, StoreSettings
from pathops_testbed.control_plane import ControlPlaneReceiver
from pathops_testbed.git_repos import fix_probe_path, make_source_remote
from pathops_testbed.gitlab_api import FakeGitLab
from pathops_testbed.http_server import BackgroundServer
from pathops_testbed.patch_bundles import build_patch_bundle
from pathops_testbed.peak_rss import run_measured
from pathops_testbed.s3 import moto_s3_server
from tests.bundle_bombs import HEADER_BOMBS, deep_json
from tests.fix_agent import scenarios

BIN = Path(sys.executable).parent
TARGET_SECONDS = 5.0
TARGET_RSS_MB = 200.0
SIGNING_KEY = "bench-signing-key"


def run_with_rusage(command: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MB, exit code) of one child (pathops_testbed.peak_rss)."""
    run = run_measured(command, env)
    return run.seconds, run.peak_rss_mb, run.returncode


def report(label: str, figures: tuple[float, float, int], baseline: tuple[float, float, int]) -> None:
    seconds, rss, code = figures
    within = "ok" if seconds <= TARGET_SECONDS and rss <= TARGET_RSS_MB else "OVER TARGET"
    print(f"  {label:<34} exit {code}  {seconds:6.2f} s ({seconds / baseline[0]:4.1f}x)  "
          f"{rss:6.1f} MB RSS ({rss / baseline[1]:4.2f}x)  {within}")


def largest_accepted_snapshot(folder: Path, destination: Path) -> Path:
    """A valid snapshot at the reader's file cap, with ~190 MB of (compressible) logs."""
    scenarios.snapshot_dir(folder, [scenarios.probe_finding()], scenarios.SERVED_LOG)
    existing = sum(1 for p in folder.rglob("*") if p.is_file())
    members: dict[str, Path | bytes] = {p.relative_to(folder).as_posix(): p for p in folder.rglob("*") if p.is_file()}
    for number in range(SNAPSHOT_LIMITS.max_files - existing - 1):
        members[f"logs/pod-{number // 4:04d}/container-{number % 4}.log"] = b"GET /health 200\n"
    big = folder / "big.log"
    with big.open("wb") as handle:
        for _ in range(190):
            handle.write(b"2026-11-27T09:59:00Z GET /health 200\n" * (1024 * 1024 // 38))
    members["logs/web-1/web.previous.log"] = big
    write_bundle(destination, members)
    return destination


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    work = Path(tempfile.mkdtemp(prefix="bench-bombs-"))
    stack = ExitStack()  # the stand-ins
    try:
        endpoint = stack.enter_context(moto_s3_server())
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench-secret")
        store = ArtifactStore.from_settings(StoreSettings(endpoint, "pathops-bench"))
        store.ensure_bucket()
        remote, sha = make_source_remote(work / "repos")
        gitlab = FakeGitLab("bench-token")
        gitlab.add_project("shop/shop-frontend", remote.as_uri(), repository=remote)
        source = scenarios.source_tree(work / "source", "plain")

        with BackgroundServer(gitlab) as gitlab_server, \
                BackgroundServer(ControlPlaneReceiver(SIGNING_KEY)) as control_plane:
            common = {**os.environ, "MINIO_ENDPOINT": endpoint, "MINIO_BUCKET": "pathops-bench",
                      "CALLBACK_DEADLINE_SECONDS": "5", "GIT_CONFIG_GLOBAL": os.devnull,
                      "MR_MARKER_KEY": "bench-marker-key",  # mr-creator signs its changeset marker
                      "CALLBACK_SIGNING_KEY": SIGNING_KEY}
            runs = 0

            def mr_creator(bundle: Path) -> tuple[float, float, int]:
                nonlocal runs
                runs += 1
                env = {**common, "SRC_REPO": "shop/shop-frontend", "SOURCE_COMMIT_SHA": sha,
                       "PATCH_ID": store.put(bundle, ArtifactKind.PATCH).artifact_id, "CHANGESET_ID": f"CS-{runs}",
                       "GITLAB_URL": gitlab_server.url, "GITLAB_TOKEN": "bench-token",
                       "CONTROL_PLANE_CALLBACK_URL": f"{control_plane.url}/webhooks/jenkins",
                       "SCRATCH_DIR": str(work / "scratch-mr")}
                return run_with_rusage([str(BIN / "mr-creator"), "create"], env)

            def fix_agent(bundle: Path) -> tuple[float, float, int]:
                env = {**common, "SNAPSHOT_ID": store.put(bundle, ArtifactKind.SNAPSHOT).artifact_id,
                       "SOURCE_DIR": str(source), "SOURCE_COMMIT_SHA": "4f2c1d8e9a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d",
                       "CONTROL_PLANE_CALLBACK_URL": f"{control_plane.url}/api/fix/callback",
                       "SCRATCH_DIR": str(work / "scratch-fix")}
                return run_with_rusage([str(BIN / "fix-agent"), "run"], env)

            legit_patch = build_patch_bundle(remote, sha, fix_probe_path, work / "legit-patch.tar.gz")
            snapshot_folder = work / "legit-snapshot"
            scenarios.snapshot_dir(snapshot_folder, [scenarios.probe_finding()], scenarios.SERVED_LOG)
            legit_snapshot = work / "legit-snapshot.tar.gz"
            write_bundle(legit_snapshot, {p.relative_to(snapshot_folder).as_posix(): p
                                          for p in snapshot_folder.rglob("*") if p.is_file()})
            bombs: dict[str, Callable[[Path], Path]] = {name: make for name, (make, _) in HEADER_BOMBS.items()}

            for tool, run, legit, json_name in (("mr-creator", mr_creator, legit_patch, "metadata.json"),
                                                ("fix-agent", fix_agent, legit_snapshot, "manifest.json")):
                baseline = run(legit)
                if baseline[2] != 0:
                    raise SystemExit(f"{tool} failed on the legit bundle with exit {baseline[2]}")
                print(f"{tool}: baseline, legit bundle: {baseline[0]:.2f} s, {baseline[1]:.1f} MB RSS")
                if tool == "fix-agent":
                    started = time.perf_counter()
                    largest = largest_accepted_snapshot(work / "largest", work / "largest.tar.gz")
                    print(f"  (largest accepted snapshot: {largest.stat().st_size / 1e6:.1f} MB compressed, "
                          f"made in {time.perf_counter() - started:.1f} s)")
                    report("largest accepted snapshot", run(largest), baseline)
                for name, make in bombs.items():
                    report(name, run(make(work / f"{tool}-{name}.tar.gz")), baseline)
                deep = work / f"{tool}-deep-json.tar.gz"
                write_bundle(deep, {json_name: deep_json(), "patch.mbox": b"From x\n"})
                report(f"{json_name} 100k deep", run(deep), baseline)
        print(f"target: every bundle accepted or refused within {TARGET_SECONDS:g} s and {TARGET_RSS_MB:g} MB RSS "
              f"(load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    finally:
        stack.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
