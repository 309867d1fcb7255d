"""Deliver the snapshot: upload to MinIO within its own deadline, whatever the store does, then call back.

botocore's timeouts are per request and its retries multiply them (a slow store once held a
run for six minutes): the client here has short timeouts and few attempts, and the upload
runs under a wall clock (the shared `deliver`); past it the run fails (exit 5) rather than
wait, and nothing is announced.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from pathops_contracts.contracts import EVIDENCE_CALLBACK
from pathops_runtime.artifact_store import ArtifactKind, ArtifactStore, StoredArtifact, StoreSettings
from pathops_runtime.callbacks import ControlPlane
from pathops_runtime.delivery import Announcement, UploadDeadline, deliver


def bounded_store(settings: StoreSettings, seconds: float) -> ArtifactStore:
    """The artifact store behind a client whose every request gives up well within `seconds`."""
    config = Config(
        s3={"addressing_style": "path"},
        retries={"total_max_attempts": 3, "mode": "standard"},
        connect_timeout=min(5.0, seconds / 3),
        read_timeout=min(30.0, seconds / 3),
        signature_version="s3v4",
    )
    client = boto3.client("s3", endpoint_url=settings.endpoint, region_name=settings.region, config=config)
    return ArtifactStore(client, settings.bucket)


def deliver_snapshot(settings: StoreSettings, bundle: Path, snapshot_id: str, seconds: float,
                     control_plane: ControlPlane, callback_url: str, callback: Mapping[str, Any]) -> StoredArtifact:
    """Upload the snapshot (or raise UpstreamError once `seconds` have passed), then post the evidence
    callback: `callback` with the snapshot's id and its `pointers.bundle`."""
    def announce(stored: StoredArtifact) -> list[Announcement]:
        return [Announcement(callback_url, {"schema_version": EVIDENCE_CALLBACK, **callback,
                                            "snapshot_id": stored.artifact_id, "pointers": {"bundle": stored.uri}},
                             EVIDENCE_CALLBACK)]

    return deliver(bounded_store(settings, seconds), bundle, ArtifactKind.SNAPSHOT, control_plane, announce,
                   expected_id=snapshot_id,
                   deadline=UploadDeadline(seconds, "EVIDENCE_UPLOAD_DEADLINE_SECONDS")).artifact
