"""fix-agent's two jobs, callable without click: `run` (snapshot -> patch bundle -> callback) and `build_image`."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fix_agent.fix import find_fix
from fix_agent.image_build import (
    BuildahBuilder,
    Builder,
    BuildResult,
    DirectoryBuilder,
    DockerBuilder,
    ImageOrder,
    Registry,
    build_fix_agent_image,
)
from fix_agent.playbooks import PLAYBOOKS
from fix_agent.proposal import Engine
from fix_agent.settings import ImageSettings, RunSettings
from fix_agent.snapshot import open_snapshot
from pathops_contracts import __version__
from pathops_contracts.bundles import sha256_file
from pathops_contracts.contracts import FIX_CALLBACK, FIX_PATCH_INLINE
from pathops_contracts.errors import InvalidInput, PathOpsError
from pathops_runtime.artifact_store import ArtifactKind, ArtifactStore, StoredArtifact, artifact_id_for
from pathops_runtime.callbacks import ControlPlane
from pathops_runtime.delivery import Announcement, deliver
from pathops_runtime.git_env import GitIdentity, git_environment

log = logging.getLogger("fix_agent")


@dataclass(frozen=True)
class Delivery:
    """What `run` delivered: the bundle in the store (a patch or a no-fix), announced to the control plane."""

    patch_id: str
    status: str  # patch | no_fix
    summary: str
    files_touched: list[str]
    bundle: str  # the bundle's s3:// URI

    def as_json(self) -> dict[str, Any]:
        return {"patch_id": self.patch_id, "status": self.status, "summary": self.summary,
                "files_touched": self.files_touched, "bundle": self.bundle}


def engines(settings: RunSettings) -> list[Engine]:
    """The playbooks in their order, then the LLM engine when it is configured."""
    found: list[Engine] = list(PLAYBOOKS)
    if settings.llm is not None:
        from fix_agent.llm import LlmEngine  # openai: only when a model is configured

        found.append(LlmEngine(settings.llm))
    return found


def run(settings: RunSettings) -> Delivery:
    """Download the snapshot, propose a fix to the source, upload the patch bundle, then call back with its id."""
    chosen = engines(settings)
    artifacts = ArtifactStore.from_settings(settings.store)
    control_plane = ControlPlane(settings.callbacks)
    if settings.scratch_dir is not None:
        settings.scratch_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fix-agent-", dir=settings.scratch_dir) as scratch:
        snapshot = open_snapshot(artifacts, settings.snapshot_id, Path(scratch))
        try:
            outcome = find_fix(snapshot, settings.source_dir, settings.source_commit_sha, chosen, Path(scratch))

            def announce(stored: StoredArtifact) -> list[Announcement]:
                """The small patch inline (when an inline URL is set), then the fix callback."""
                announcements = []
                if (outcome.mbox is not None and settings.inline_url
                        and len(outcome.mbox.encode()) <= settings.inline_max_bytes):
                    announcements.append(Announcement(settings.inline_url, {
                        "schema_version": FIX_PATCH_INLINE, "incident_id": snapshot.incident_id,
                        "patch_id": stored.artifact_id, "patch_sha256": outcome.metadata["patch_sha256"],
                        "patch": outcome.mbox}, FIX_PATCH_INLINE))
                announcements.append(Announcement(settings.callback_url, {
                    "schema_version": FIX_CALLBACK, "incident_id": snapshot.incident_id,
                    "snapshot_id": settings.snapshot_id, "source_commit_sha": settings.source_commit_sha,
                    "patch_id": stored.artifact_id, "status": outcome.status, "summary": outcome.summary,
                    "recommended_checks": outcome.metadata["recommended_checks"],
                    "pointers": {"bundle": stored.uri, **({"verification_spec": f"{stored.uri}#verification.yaml"}
                                                          if "verification_spec" in outcome.metadata else {})},
                }, FIX_CALLBACK))
                return announcements

            patch_id = artifact_id_for(ArtifactKind.PATCH, sha256_file(outcome.bundle))
            if settings.output_dir is not None:
                settings.output_dir.mkdir(parents=True, exist_ok=True)
                (settings.output_dir / f"{patch_id}.tar.gz").write_bytes(outcome.bundle.read_bytes())
            stored = deliver(artifacts, outcome.bundle, ArtifactKind.PATCH, control_plane, announce,
                             expected_id=patch_id).artifact
        except PathOpsError as error:  # the incident is known from here on: say why no bundle comes
            _announce_failure(control_plane, settings, snapshot.incident_id, error)
            raise
    return Delivery(stored.artifact_id, outcome.status, outcome.summary, outcome.metadata["files_touched"], stored.uri)


def _announce_failure(control_plane: ControlPlane, settings: RunSettings, incident_id: str,
                      error: PathOpsError) -> None:
    """The fix callback with status failed; the original error stays the one reported (and its exit code)."""
    payload = {"schema_version": FIX_CALLBACK, "incident_id": incident_id, "snapshot_id": settings.snapshot_id,
               "source_commit_sha": settings.source_commit_sha, "status": "failed",
               "summary": str(error)[:4000] or "failed"}
    try:
        control_plane.post(settings.callback_url, payload, FIX_CALLBACK)
    except PathOpsError as callback_error:
        log.error("could not report the failure to the control plane", extra={"reason": str(callback_error)})


def build_image(settings: ImageSettings) -> BuildResult:
    """Build <harbor-repo>/fix-<app>:<sha12>-<runtime version> with the source at the commit, or reuse it."""
    order = ImageOrder(settings.app, settings.source_repo, settings.source_commit_sha, settings.runtime_image,
                       settings.harbor_repo.rstrip("/"), settings.incident_id)
    registry = Registry(settings.registry_username, settings.registry_password, settings.registry_tls_verify)
    if (settings.builder == "directory") != (settings.output_dir is not None):
        raise InvalidInput("--output-dir (IMAGE_OUTPUT_DIR) goes with --builder directory, and only with it")
    if settings.builder == "directory" and settings.image_ref_file is not None:
        raise InvalidInput("--builder directory pushes no image: there is no reference for --image-ref-file")
    if settings.scratch_dir is not None:
        settings.scratch_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fix-agent-image-", dir=settings.scratch_dir) as scratch:
        builder: Builder = (BuildahBuilder(Path(scratch) / "storage") if settings.builder == "buildah"
                            else DockerBuilder() if settings.builder == "docker"
                            else DirectoryBuilder(settings.output_dir or Path()))
        env = git_environment(GitIdentity(), token=settings.gitlab_token, token_url=settings.source_repo)
        result = build_fix_agent_image(order, builder, registry, Path(scratch), env, __version__, force=settings.force,
                                       max_source_bytes=settings.max_source_bytes)
    if settings.image_ref_file is not None:
        settings.image_ref_file.write_text(result.pinned + "\n", encoding="utf-8")
    return result
