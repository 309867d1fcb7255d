"""Assemble the evidence snapshot: findings, redaction report, manifest, one tar.gz.

Before anything is bundled, every staged file is scanned once more for known secret
shapes; a hit fails the run rather than upload it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from evidence_collector.collector import Collected
from evidence_collector.detectors import summarize
from evidence_collector.redaction import Redactor, find_leaks
from evidence_collector.staging import Staging
from evidence_collector.window import TimeWindow
from pathops_contracts import __version__
from pathops_contracts.bundles import sha256_file, write_bundle
from pathops_contracts.contracts import EVIDENCE_MANIFEST, validate_document
from pathops_contracts.errors import ContractViolation

MEDIA_TYPES = {".json": "application/json", ".jsonl": "application/jsonl", ".log": "text/plain",
               ".txt": "text/plain"}


@dataclass(frozen=True)
class SnapshotIdentity:
    incident_id: str
    app_id: str
    target_namespace: str
    agents_namespace: str | None


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def assemble(staging: Staging, identity: SnapshotIdentity, window: TimeWindow, collected: Collected,
             redactor: Redactor, collected_at: datetime, bundle: Path) -> tuple[dict[str, Any], str]:
    """Write the bundle; returns (manifest, summary)."""
    summary = summarize(collected.findings, collected.notes)
    # Findings and the redaction report are what the snapshot is for: always written, outside the budget
    # (they are small: bounded by the number of findings and redaction kinds).
    staging.write_json("findings.json", {"summary": summary, "findings": [f.as_dict() for f in collected.findings]},
                       budgeted=False)
    staging.write_json("redaction-report.json", redactor.report(), budgeted=False)
    leaks = [(path.relative_to(staging.root).as_posix(), kind) for path in staging.files() for kind in find_leaks(path)]
    if leaks:
        listed = ", ".join(f"{kind} in {name}" for name, kind in leaks[:5])
        raise ContractViolation(f"refusing to upload: the final scan still finds {listed}")
    files = []
    members: dict[str, Path | bytes] = {}
    for path in staging.files():
        name = path.relative_to(staging.root).as_posix()
        files.append({"path": name, "sha256": sha256_file(path), "size": path.stat().st_size,
                      "media_type": MEDIA_TYPES.get(path.suffix, "application/octet-stream")})
        members[name] = path
    by_kind = redactor.report()["by_kind"]
    manifest: dict[str, Any] = {
        "schema_version": EVIDENCE_MANIFEST,
        "incident_id": identity.incident_id,
        "app_id": identity.app_id,
        "target_namespace": identity.target_namespace,
        "time_window": {"start": _iso(window.start), "end": _iso(window.end)},
        "collected_at": _iso(collected_at),
        "workload": collected.workload,
        "source": {"commit_sha": collected.source_commit, "image": collected.source_image,
                   "commit_sha_from": collected.source_from},
        "files": files,
        "gaps": [gap.as_dict() for gap in sorted(staging.gaps, key=lambda g: (g.what, g.reason))],
        "redaction": dict(by_kind) if isinstance(by_kind, dict) else {},
        "collector": {"name": "evidence-collector", "version": __version__},
    }
    if identity.agents_namespace:
        manifest["agents_namespace"] = identity.agents_namespace
    validate_document(manifest, EVIDENCE_MANIFEST)
    members["manifest.json"] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    write_bundle(bundle, members)
    return manifest, summary
