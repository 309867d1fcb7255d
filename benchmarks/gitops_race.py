"""Benchmark: N concurrent `gitops-patcher schedule` runs for different incidents on one repository.

Prints the wall time, the time per landed commit, the retries (pushes rejected because
the branch moved) and checks that every run landed in a linear history. The baseline in
the same run is the same N schedules one after another (no contention).

    python benchmarks/gitops_race.py [--runs 20]
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pathops_testbed.git_repos import git, init_bare_repository

IMAGE = "harbor.demo.pathops.io/pathops/evidence-collector:0.1.0@sha256:" + "3" * 64


def make_remote(root: Path) -> Path:
    bare = init_bare_repository(root / "gitops.git")
    work = root / "seed"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / "README.md").write_text("gitops\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "init")
    git(work, "push", "-q", str(bare), "HEAD:refs/heads/main")
    return bare


def schedule(remote: Path, incident: str, scratch: Path) -> dict[str, object]:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "gitops-patcher"), "schedule", "--agent", "evidence-collector",
         "--app", "shop-frontend", "--incident-id", incident, "--image", IMAGE, "--repo", remote.as_uri(),
         "--scratch-dir", str(scratch), "--minio-endpoint", "https://minio.pathops.example",
         "--control-plane-url", "https://control-plane.pathops.example",
         "--control-plane-egress", "10.40.0.7/32:8443", "--kube-api-egress", "10.43.0.1/32:443"],
        capture_output=True, text=True, check=False, env={**os.environ, "GIT_CONFIG_GLOBAL": os.devnull},
    )
    if result.returncode != 0:
        raise SystemExit(f"schedule {incident} failed: {result.stderr}")
    parsed: dict[str, object] = json.loads(result.stdout)
    return parsed


def measure(remote: Path, runs: int, concurrent: bool, scratch: Path, prefix: str) -> tuple[float, int]:
    incidents = [f"{prefix}-{n}" for n in range(runs)]
    started = time.perf_counter()
    if concurrent:
        with ThreadPoolExecutor(max_workers=runs) as pool:
            results = list(pool.map(lambda i: schedule(remote, i, scratch / i), incidents))
    else:
        results = [schedule(remote, i, scratch / i) for i in incidents]
    elapsed = time.perf_counter() - started
    retries = sum(int(str(r["retries"])) for r in results)
    return elapsed, retries


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-gitops-"))
    try:
        remote = make_remote(root)
        serial, _ = measure(remote, args.runs, False, root / "serial", "SER")
        racing, retries = measure(remote, args.runs, True, root / "race", "RACE")
        commits = int(git(remote, "rev-list", "--count", "main"))
        merges = git(remote, "rev-list", "--merges", "main")
        assert commits == 1 + 2 * args.runs, commits
        assert merges == "", "history is not linear"
        print(f"{args.runs} schedules one after another: {serial:6.2f} s, {serial / args.runs:5.2f} s per commit")
        print(f"{args.runs} schedules at once:          {racing:6.2f} s, "
              f"{racing / args.runs:5.2f} s per landed commit, {retries} retries ({retries / args.runs:.1f} per run)")
        print(f"all {2 * args.runs} runs landed, history linear ({commits} commits, no merges); "
              f"concurrent/serial wall time ratio {racing / serial:.2f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
