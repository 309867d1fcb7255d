"""The evidence snapshot as the fix agent reads it: verified, safely extracted, validated."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pathops_contracts.bundles import read_json_document
from pathops_contracts.errors import ContractViolation
from pathops_runtime.artifact_store import ArtifactStore
from pathops_runtime.bundle_open import SNAPSHOT, bundle_metadata, open_bundle

LIMITS = SNAPSHOT.limits  # the caps of every snapshot reader (benchmarks/bundle_bombs.py builds to them)
_FINDING_TEXT = ("kind", "severity", "title", "detail")


@dataclass
class Snapshot:
    snapshot_id: str
    root: Path
    manifest: dict[str, Any]
    findings: list[dict[str, Any]]

    @property
    def incident_id(self) -> str:
        return str(self.manifest["incident_id"])

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.findings if f["kind"] == kind]

    def log_text(self, limit: int = 4 * 1024 * 1024) -> str:
        """All container logs of the snapshot (redacted by the collector), the first `limit` bytes."""
        parts: list[str] = []
        size = 0
        logs = self.root / "logs"
        for path in sorted(logs.rglob("*.log")) if logs.exists() else []:
            with path.open("rb") as handle:  # never more than the limit in memory, whatever a log's size
                data = handle.read(limit - size)
            parts.append(data.decode("utf-8", errors="replace"))
            size += len(data)
            if size >= limit:
                break
        return "".join(parts)

    def json_file(self, name: str) -> Any:
        path = self.root / name
        return read_json_document(path, f"{name} of {self.snapshot_id}") if path.is_file() else None


def open_snapshot(store: ArtifactStore, snapshot_id: str, scratch: Path) -> Snapshot:
    """The snapshot, opened by the shared `open_bundle` (get, verify, extract capped, manifest valid)."""
    opened = open_bundle(store, snapshot_id, SNAPSHOT, scratch / "snapshot")
    return _snapshot(snapshot_id, opened.root, opened.metadata)


def load_snapshot(snapshot_id: str, root: Path) -> Snapshot:
    """A snapshot already extracted under root (tests, the corpus): its manifest checked as on download."""
    return _snapshot(snapshot_id, root, bundle_metadata(root, SNAPSHOT, snapshot_id))


def _snapshot(snapshot_id: str, root: Path, manifest: dict[str, Any]) -> Snapshot:
    findings_path = root / "findings.json"
    findings_doc = read_json_document(findings_path, f"findings.json of {snapshot_id}") \
        if findings_path.is_file() else {"findings": []}
    return Snapshot(snapshot_id, root, manifest, _findings(snapshot_id, findings_doc))


def _findings(snapshot_id: str, document: Any) -> list[dict[str, Any]]:
    """The findings list, each with the text fields and facts the playbooks and prompts read."""
    findings = document.get("findings", []) if isinstance(document, dict) else None
    if not isinstance(findings, list) or not all(
        isinstance(f, dict) and all(isinstance(f.get(key), str) for key in _FINDING_TEXT)
        and isinstance(f.get("facts"), dict) for f in findings
    ):
        raise ContractViolation(
            f"findings.json of {snapshot_id} is not a list of findings with {', '.join(_FINDING_TEXT)} and facts"
        )
    return findings
