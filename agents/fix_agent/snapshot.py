"""The evidence snapshot as the fix agent reads it: verified, safely extracted, validated."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pathops_contracts.artifact_store import ArtifactStore
from pathops_contracts.bundles import ExtractionLimits, extract_bundle
from pathops_contracts.contracts import EVIDENCE_MANIFEST, validate_document
from pathops_contracts.errors import ContractViolation

LIMITS = ExtractionLimits(max_bytes=200 * 1024 * 1024, max_files=50_000)
_REQUEST = re.compile(r'"?(?:GET|HEAD|POST)\s+(/[\w./-]*)[^"\n]*?"?\s+(\d{3})\b')
_LISTEN = re.compile(r"(?i)(?:listening|serving|started|running)\b[^\n]*?(?:on|at)\s+\S*?:(\d{2,5})\b")


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
        """All container logs of the snapshot (redacted by the collector), bounded."""
        parts: list[str] = []
        size = 0
        logs = self.root / "logs"
        for path in sorted(logs.rglob("*.log")) if logs.exists() else []:
            text = path.read_text(encoding="utf-8", errors="replace")
            parts.append(text[: max(limit - size, 0)])
            size += len(text)
            if size >= limit:
                break
        return "".join(parts)

    def served_paths(self) -> dict[str, set[int]]:
        """Request paths the app answered in its logs, with the status codes seen."""
        seen: dict[str, set[int]] = {}
        for path, status in _REQUEST.findall(self.log_text()):
            seen.setdefault(path, set()).add(int(status))
        return seen

    def listen_ports(self) -> set[int]:
        return {int(port) for port in _LISTEN.findall(self.log_text())}

    def json_file(self, name: str) -> Any:
        path = self.root / name
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def open_snapshot(store: ArtifactStore, snapshot_id: str, scratch: Path) -> Snapshot:
    archive = scratch / f"{snapshot_id}.tar.gz"
    store.get(snapshot_id, archive)
    root = scratch / "snapshot"
    extract_bundle(archive, root, LIMITS)
    return load_snapshot(snapshot_id, root)


def load_snapshot(snapshot_id: str, root: Path) -> Snapshot:
    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        raise ContractViolation(f"snapshot {snapshot_id} has no manifest.json")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    validate_document(manifest, EVIDENCE_MANIFEST)
    findings_doc = json.loads((root / "findings.json").read_text(encoding="utf-8")) \
        if (root / "findings.json").exists() else {"findings": []}
    return Snapshot(snapshot_id, root, manifest, list(findings_doc.get("findings", [])))
