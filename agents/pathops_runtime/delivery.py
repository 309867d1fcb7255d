"""Delivering an artifact: upload it, then call back. Written once for every agent.

evidence-collector (snapshot), fix-agent (patch bundle) and verification-agent (report) end the
same way, and the order is the contract: the control plane is told of an artifact only once the
store holds it, and the callbacks are built from what the store answered (its id and URI), so an
announcement can never name an artifact that is not there. A retry of the whole Job is
idempotent end to end: the upload is content-addressed (same bytes, same key, no second write)
and each callback carries the same Idempotency-Key (see `callbacks`).

Errors are the store's and the control plane's own (exit 5 or 6; 4 when the store already holds
other content under the key); nothing is announced when the upload fails. Failure callbacks
(mr-creator's `failed` webhook, notify-job) announce no artifact and do not come through here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pathops_contracts.errors import ContractViolation, UpstreamError
from pathops_runtime.artifact_store import ArtifactKind, ArtifactStore, StoredArtifact
from pathops_runtime.callbacks import CallbackResult, ControlPlane

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Announcement:
    """One callback that announces the stored artifact: where to, what, under which contract."""

    url: str
    payload: Mapping[str, Any]
    contract: str


@dataclass(frozen=True)
class UploadDeadline:
    """A wall clock on the upload, whatever the store does; `setting` names the variable that sets it."""

    seconds: float
    setting: str


@dataclass(frozen=True)
class Delivered:
    artifact: StoredArtifact
    callbacks: tuple[CallbackResult, ...]


def deliver(store: ArtifactStore, path: Path, kind: ArtifactKind, control_plane: ControlPlane,
            announce: Callable[[StoredArtifact], Sequence[Announcement]], *,
            beside: Mapping[str, Path] | None = None, expected_id: str | None = None,
            deadline: UploadDeadline | None = None) -> Delivered:
    """Upload `path` as a `kind` artifact (and `beside` files, suffix -> file, next to it), then post
    the announcements `announce` builds from the stored artifact, in order.

    `expected_id`: the id the caller already computed and may have shown; a store answering another
    one fails the delivery before anything is announced.
    """
    def upload() -> StoredArtifact:
        stored = store.put(path, kind)
        for suffix, side in (beside or {}).items():
            store.put_beside(side, stored.artifact_id, suffix)
        return stored

    stored = _within(deadline, kind, upload) if deadline is not None else upload()
    if expected_id is not None and stored.artifact_id != expected_id:
        raise ContractViolation(f"the store holds {path.name} as {stored.artifact_id}, not {expected_id}; "
                                "nothing was announced")
    results = tuple(control_plane.post(a.url, a.payload, a.contract) for a in announce(stored))
    log.info("artifact delivered", extra={"artifact_id": stored.artifact_id, "uploaded": stored.uploaded,
                                          "callbacks": len(results)})
    return Delivered(stored, results)


def _within(deadline: UploadDeadline, kind: ArtifactKind, upload: Callable[[], StoredArtifact]) -> StoredArtifact:
    """Run the upload, or raise UpstreamError once the deadline has passed (the upload is abandoned)."""
    outcome: list[StoredArtifact | BaseException] = []

    def run() -> None:
        try:
            outcome.append(upload())
        except BaseException as error:  # noqa: BLE001 - not hidden: raised again in the caller's thread
            outcome.append(error)

    worker = threading.Thread(target=run, name=f"{kind.name.lower()}-upload", daemon=True)
    worker.start()
    worker.join(deadline.seconds)
    if not outcome:  # still running: abandoned (a daemon thread ends with the process)
        raise UpstreamError(f"the artifact store did not take the {kind.name.lower()} within {deadline.seconds:g} s "
                            f"({deadline.setting})")
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]
