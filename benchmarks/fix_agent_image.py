"""Benchmark: the per-incident Fix Agent image, cold build + push against reuse of the same SHA.

A source repository of --files files (default 3000, about 12 MB), Debian's docker-registry on
127.0.0.1, a runtime image built FROM scratch, and the real `fix-agent build-image` with buildah.
Prints the cold build+push time, the reuse time for the same SHA (the baseline it must beat by
far), and the bytes pushed (registry storage growth).

    python benchmarks/fix_agent_image.py [--files 3000]
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
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pathops_testbed.git_repos import git, init_bare_repository
from pathops_testbed.oci_registry import oci_registry, push_busybox_image


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=3000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-image-"))
    stack = ExitStack()  # the registry
    try:
        address = stack.enter_context(oci_registry(work))
        push_busybox_image(f"{address}/pathops/runtime:0.1.0", work)

        source = work / "source"
        for index in range(args.files):
            path = source / f"pkg{index % 40:02d}" / f"module_{index:05d}.py"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f'"""Module {index}."""\n\n' + "".join(f"VALUE_{n} = {n * index}\n" for n in range(200)))
        git(source, "init", "-q", "-b", "main")
        git(source, "add", "-A")
        git(source, "commit", "-q", "-m", "a large application")
        sha = git(source, "rev-parse", "HEAD")
        bare = init_bare_repository(work / "repos" / "shop.git")
        git(source, "push", "-q", str(bare), "HEAD:refs/heads/main")
        tree_bytes = folder_size(source) - folder_size(source / ".git")

        env = {**os.environ, "APP_ID": "shop-frontend", "SOURCE_REPO": bare.as_uri(), "SOURCE_COMMIT_SHA": sha,
               "RUNTIME_IMAGE": f"{address}/pathops/runtime:0.1.0", "HARBOR_REPO": f"{address}/pathops/agents",
               "REGISTRY_TLS_VERIFY": "false", "SCRATCH_DIR": str(work / "scratch"), "GIT_CONFIG_GLOBAL": os.devnull}
        command = [str(Path(sys.executable).parent / "fix-agent"), "build-image"]
        before = folder_size(work / "data")
        started = time.perf_counter()
        cold = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        cold_seconds = time.perf_counter() - started
        if cold.returncode != 0:
            raise SystemExit(f"build failed: {cold.stderr[-500:]}")
        pushed = folder_size(work / "data") - before
        started = time.perf_counter()
        reuse = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        reuse_seconds = time.perf_counter() - started
        assert json.loads(reuse.stdout)["reused"] is True, reuse.stdout
        print(f"source tree: {args.files} files, {tree_bytes / 1e6:.1f} MB at {sha[:12]}")
        print(f"cold build + push: {cold_seconds:6.2f} s, {pushed / 1e6:.2f} MB pushed (registry growth)")
        print(f"reuse, same SHA:   {reuse_seconds:6.2f} s ({cold_seconds / reuse_seconds:.1f}x faster)")
    finally:
        stack.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
