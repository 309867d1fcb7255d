"""The fix agent's stand-in: patch bundles as the contract defines them, made with git from a real commit."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from pathops_contracts.bundles import sha256_file, write_bundle
from pathops_runtime.artifact_store import ArtifactKind, ArtifactStore
from pathops_runtime.git_env import GitIdentity, git_environment
from pathops_testbed.git_repos import DEVELOPER, git


def build_patch_bundle(
    remote: Path,
    base_sha: str,
    edit: Callable[[Path], None],
    destination: Path,
    *,
    summary: str = "Fix readiness probe path: /healthz -> /health",
    incident_id: str = "INC-1042",
    declared_files: list[str] | None = None,
    analysis: str | None = "Readiness probe fails with 404 on /healthz.",
    verification: bytes | None = None,
) -> Path:
    """A patch bundle as the contract defines it: format-patch --full-index + metadata.json."""
    work = destination.parent / f"patch-work-{time.monotonic_ns()}"
    subprocess.run(["git", "clone", "-q", str(remote), str(work)], check=True, env=git_environment(DEVELOPER))
    git(work, "checkout", "-q", "--detach", base_sha)
    edit(work)
    git(work, "add", "-A")
    agent = GitIdentity("PathOps Fix Agent", "fix-agent@pathops.io")
    git(work, "commit", "-q", "-m", summary, date="2026-11-27T10:00:00Z", identity=agent)
    changed = git(work, "diff", "--name-only", base_sha, "HEAD").splitlines()
    mbox = destination.parent / f"{destination.name}.mbox"
    mbox.write_text(git(work, "format-patch", "--full-index", "--stdout", f"{base_sha}..HEAD") + "\n")
    metadata = {
        "schema_version": "patch-metadata/v1",
        "incident_id": incident_id,
        "snapshot_id": "snap-" + "5" * 32,
        "source_commit_sha": base_sha,
        "status": "patch",
        "files_touched": declared_files if declared_files is not None else changed,
        "summary": summary,
        "rationale": "The app serves /health; the probe asked for /healthz and got 404.",
        "recommended_checks": ["readiness probe passes in preflight"],
        "confidence": 0.9,
        "engine": {"name": "playbook", "playbook": "probe-path", "model": None},
        "patch_sha256": sha256_file(mbox),
        "created_at": "2026-11-27T10:00:00Z",
    }
    if verification is not None:  # the checks the patch brings (verification.yaml)
        metadata["verification_spec"] = {"path": "verification.yaml",
                                         "sha256": hashlib.sha256(verification).hexdigest()}
    members: dict[str, Path | bytes] = {"patch.mbox": mbox, "metadata.json": json.dumps(metadata).encode()}
    if verification is not None:
        members["verification.yaml"] = verification
    if analysis:
        members["analysis.md"] = analysis.encode()
    write_bundle(destination, members)
    return destination


def upload_bundle(store: ArtifactStore, bundle: Path) -> str:
    """Put a patch bundle into the artifact store; its patch id."""
    return store.put(bundle, ArtifactKind.PATCH).artifact_id
