"""Benchmark: patch bundle to pushed branch with mr-creator, against a full `git clone`.

Generates a source repository with a long history (default 3000 commits, ~300 MB packed;
each commit rewrites one of 20 files, so the tip tree stays small), then in the same run:
- baseline: `git clone` of that repository over file:// (the pack protocol, no hardlinks);
- mr-creator: the real CLI, with moto S3, the GitLab fake and a control-plane receiver.
Prints both wall times and their ratio. Target: mr-creator under 25% of the clone.

    python benchmarks/mr_creation.py [--commits N] [--blob-kib K]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mr_creator.core import MergeRequestOrder, create_merge_request
from mr_creator.description import default_template
from mr_creator.merge_requests import GitLabProject
from pathops_runtime.artifact_store import ArtifactStore, StoreSettings
from pathops_runtime.git_env import GitIdentity, git_environment
from pathops_testbed.control_plane import ControlPlaneReceiver
from pathops_testbed.git_repos import DEPLOYMENT, fix_probe_path, init_bare_repository
from pathops_testbed.gitlab_api import FakeGitLab
from pathops_testbed.http_server import BackgroundServer
from pathops_testbed.patch_bundles import build_patch_bundle, upload_bundle
from pathops_testbed.s3 import moto_s3_server

FILES = 20
SIGNING_KEY = "bench-signing-key"


def generate_history(bare: Path, commits: int, blob_kib: int) -> str:
    """Stream a long history into the bare repository with git fast-import; return the tip sha."""
    process = subprocess.Popen(["git", "-C", str(bare), "fast-import", "--quiet"], stdin=subprocess.PIPE)
    assert process.stdin is not None
    write = process.stdin.write
    stamp = 1_700_000_000
    for number in range(1, commits + 1):
        blob = os.urandom(blob_kib * 1024)
        message = f"change {number}".encode()
        write(b"commit refs/heads/main\n")
        write(b"committer Bench <bench@example.com> %d +0000\n" % (stamp + number))
        write(b"data %d\n%s\n" % (len(message), message))
        if number == 1:
            deployment = DEPLOYMENT.encode()
            write(b"M 100644 inline deploy/deployment.yaml\ndata %d\n%s\n" % (len(deployment), deployment))
        write(b"M 100644 inline data/file-%02d.bin\ndata %d\n" % (number % FILES, len(blob)))
        write(blob + b"\n")
    process.stdin.close()
    if process.wait() != 0:
        raise SystemExit("fast-import failed")
    subprocess.run(["git", "-C", str(bare), "gc", "--quiet"], check=True)
    return subprocess.run(["git", "-C", str(bare), "rev-parse", "main"], capture_output=True, text=True,
                          check=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commits", type=int, default=3000)
    parser.add_argument("--blob-kib", type=int, default=100)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    work = Path(tempfile.mkdtemp(prefix="bench-mr-"))
    stack = ExitStack()  # the stand-ins
    try:
        bare = init_bare_repository(work / "repos" / "shop" / "shop-frontend.git")
        started = time.perf_counter()
        sha = generate_history(bare, args.commits, args.blob_kib)
        packed = sum(p.stat().st_size for p in (bare / "objects" / "pack").iterdir())
        print(f"repository: {args.commits} commits, {packed / 1e6:.0f} MB packed "
              f"(generated in {time.perf_counter() - started:.1f} s)")

        clone_times = []
        for _ in range(3):
            started = time.perf_counter()
            subprocess.run(["git", "clone", "-q", bare.as_uri(), str(work / "clone")], check=True)
            clone_times.append(time.perf_counter() - started)
            shutil.rmtree(work / "clone")
        clone_seconds = statistics.median(clone_times)

        endpoint = stack.enter_context(moto_s3_server())
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench-secret")
        store = ArtifactStore.from_settings(StoreSettings(endpoint, "pathops-bench"))
        store.ensure_bucket()
        bundle = build_patch_bundle(bare, sha, fix_probe_path, work / "patch.tar.gz")
        patch_id = upload_bundle(store, bundle)

        gitlab = FakeGitLab("bench-token")
        gitlab.add_project("shop/shop-frontend", bare.as_uri())

        with BackgroundServer(gitlab) as gitlab_server, \
                BackgroundServer(ControlPlaneReceiver(SIGNING_KEY)) as control_plane:
            env = {
                **os.environ,
                "SRC_REPO": "shop/shop-frontend", "SOURCE_COMMIT_SHA": sha, "PATCH_ID": patch_id,
                "CHANGESET_ID": "CS-BENCH", "GITLAB_URL": gitlab_server.url, "GITLAB_TOKEN": "bench-token",
                "MINIO_ENDPOINT": endpoint, "MINIO_BUCKET": "pathops-bench",
                "CONTROL_PLANE_CALLBACK_URL": f"{control_plane.url}/webhooks/jenkins",
                "SCRATCH_DIR": str(work / "scratch"), "GIT_CONFIG_GLOBAL": os.devnull,
                "CALLBACK_SIGNING_KEY": SIGNING_KEY,
            }
            # The core, in this process: bundle download to pushed branch and opened MR.
            order = MergeRequestOrder("shop/shop-frontend", sha, patch_id, "CS-BENCH", default_template(),
                                      marker_key=SIGNING_KEY.encode())
            git_env = git_environment(GitIdentity(), token="bench-token")
            started = time.perf_counter()
            with tempfile.TemporaryDirectory(dir=work) as scratch:
                outcome = create_merge_request(
                    order, store, GitLabProject(gitlab_server.url, "bench-token", "shop/shop-frontend"), git_env,
                    Path(scratch),
                )
            core_seconds = time.perf_counter() - started
            assert outcome.status == "created", outcome
            # The whole CLI as Jenkins runs it (a second run: same fetch, apply and checks, nothing to push).
            started = time.perf_counter()
            result = subprocess.run([str(Path(sys.executable).parent / "mr-creator"), "create"], env=env,
                                    capture_output=True, text=True, check=False)
            cli_seconds = time.perf_counter() - started
        if result.returncode != 0:
            raise SystemExit(f"mr-creator failed ({result.returncode}): {result.stderr}")
        assert json.loads(result.stdout)["status"] == "unchanged"
        print(f"baseline git clone (median of 3): {clone_seconds:6.2f} s")
        print(f"mr-creator core, bundle -> pushed branch + MR: {core_seconds:6.2f} s  "
              f"ratio {core_seconds / clone_seconds:6.1%}  (target < 25%)")
        print(f"mr-creator whole CLI process (rerun):          {cli_seconds:6.2f} s  "
              f"ratio {cli_seconds / clone_seconds:6.1%}  (includes ~0.5 s of interpreter and imports)")
    finally:
        stack.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
