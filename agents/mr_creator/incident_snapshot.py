"""What the merge request tells of the evidence snapshot the patch bundle names: read, never trusted.

Only three members are read (manifest.json, findings.json, objects/rollout-diffs.jsonl), each
capped, in one pass over the download the shared `fetched_bundle` verified; the logs are never
unpacked, and the manifest is not held to its schema here: the story uses what it can. Every value is checked for
its type where it is used: a snapshot is attacker-influenced (its logs are), and a missing or
unreadable one leaves the story saying so, not the merge request unwritten.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pathops_contracts.errors import ContractViolation, PathOpsError
from pathops_runtime.bundle_open import SNAPSHOT, fetched_bundle

if TYPE_CHECKING:  # the store (boto3) is built where it is first read
    from pathops_runtime.artifact_reader import ArtifactReader

log = logging.getLogger(__name__)

MAX_MEMBER_BYTES = 4 * 1024 * 1024
MAX_FINDINGS = 200
ROLLOUT_DIFFS = "objects/rollout-diffs.jsonl"
MEMBERS = ("manifest.json", "findings.json", ROLLOUT_DIFFS)


@dataclass(frozen=True)
class IncidentSnapshot:
    snapshot_id: str
    manifest: dict[str, Any] = field(default_factory=dict)
    findings: list[dict[str, Any]] = field(default_factory=list)
    rollouts: list[dict[str, Any]] = field(default_factory=list)
    unavailable: str = ""  # why the snapshot could not be read, if it could not

    def rollout_of(self, workload: str | None) -> dict[str, Any] | None:
        """The rollout of the focused deployment, else the only one with a previous ReplicaSet."""
        name = workload.split("/", 1)[-1] if workload else None
        if name:
            for rollout in self.rollouts:
                if rollout.get("deployment") == name:
                    return rollout
        with_previous = [r for r in self.rollouts if r.get("previous")]
        return with_previous[0] if len(with_previous) == 1 else None


def read_incident_snapshot(store: ArtifactReader, snapshot_id: str, scratch: Path) -> IncidentSnapshot:
    try:
        with fetched_bundle(store, snapshot_id, SNAPSHOT, scratch) as snapshot:
            members = snapshot.members(MEMBERS, MAX_MEMBER_BYTES)  # one pass over the archive
        for required in ("manifest.json", "findings.json"):
            if required not in members:
                raise ContractViolation(f"snapshot {snapshot_id} has no {required}")
        manifest = _json(members["manifest.json"])
        findings_doc = _json(members["findings.json"])
        # Absent from an older snapshot, or one whose budget left no room for it.
        diffs = members.get(ROLLOUT_DIFFS, b"")
    except PathOpsError as error:
        log.warning("the evidence snapshot could not be read for the story", extra={"reason": str(error)})
        return IncidentSnapshot(snapshot_id, unavailable=f"snapshot {snapshot_id} could not be read: {error}")
    findings = findings_doc.get("findings") if isinstance(findings_doc, dict) else None
    rollouts = [_json(line) for line in diffs.splitlines() if line.strip()][:100]
    return IncidentSnapshot(
        snapshot_id,
        manifest if isinstance(manifest, dict) else {},
        [f for f in findings if isinstance(f, dict)][:MAX_FINDINGS] if isinstance(findings, list) else [],
        [r for r in rollouts if isinstance(r, dict)],
    )


def _json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None
