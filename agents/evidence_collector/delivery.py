"""Upload the snapshot to MinIO within its own deadline, whatever the store does.

botocore's timeouts are per request and its retries multiply them (a slow store once held a
run for six minutes): the client here has short timeouts and few attempts, and the upload
runs under a wall clock; past it the run fails (exit 5) rather than wait.
"""

from __future__ import annotations

import threading
from pathlib import Path

import boto3
from botocore.config import Config

from pathops_contracts.errors import UpstreamError
from pathops_runtime.artifact_store import ArtifactKind, ArtifactStore, StoredArtifact, StoreSettings


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


def upload_within(settings: StoreSettings, bundle: Path, seconds: float) -> StoredArtifact:
    """Upload the snapshot, or raise UpstreamError once `seconds` have passed."""
    outcome: list[StoredArtifact | BaseException] = []

    def upload() -> None:
        try:
            outcome.append(bounded_store(settings, seconds).put(bundle, ArtifactKind.SNAPSHOT))
        except BaseException as error:  # noqa: BLE001 - not hidden: raised again in the caller's thread
            outcome.append(error)

    worker = threading.Thread(target=upload, name="snapshot-upload", daemon=True)
    worker.start()
    worker.join(seconds)
    if not outcome:  # still running: abandoned (a daemon thread ends with the process)
        raise UpstreamError(f"the artifact store did not take the snapshot within {seconds:g} s "
                            f"(EVIDENCE_UPLOAD_DEADLINE_SECONDS)")
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]
