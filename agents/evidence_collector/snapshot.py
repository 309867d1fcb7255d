"""Assemble the evidence snapshot: findings, redaction report, manifest, one tar.gz.

Before anything is bundled, every staged file and the manifest are scanned once more by
an independent detector (`pathops_contracts.secret_scan`). What it refuses in a file is
replaced whole, line or JSON value (`evidence_collector.refusals`), and the result scanned
again; a hit that replacing does not clear, or one in the summary or the manifest, fails the
run rather than upload it. Nothing the scan refuses leaves either way.

A file the staging area scanned as it wrote it (logs, excerpts, JSON documents) is not
scanned twice: it is bundled from the very bytes that scan read (packed from the same buffer,
same sha256), never read back from the staging area. Anything else is read, hashed and
scanned here.

The bundle is content-stable: the same cluster state, window and incident give the same
bytes and so the same snapshot id (a restarted Job re-announces what its first run did).
No run clock goes into it: `collected_at` is the end of the evidence window.
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from evidence_collector.collector import Collected
from evidence_collector.detectors import summarize
from evidence_collector.redaction import Redactor, leaks_in, leaks_in_lines
from evidence_collector.refusals import without_refused_lines, without_refused_values
from evidence_collector.staging import Staging
from evidence_collector.window import TimeWindow
from pathops_contracts import __version__
from pathops_contracts.bundle_writer import Member, PackedMember, write_bundle
from pathops_contracts.contracts import EVIDENCE_MANIFEST, validate_document
from pathops_contracts.errors import ContractViolation
from pathops_contracts.redaction import SCAN_REFUSED
from pathops_contracts.secret_scan import describe, scan_text

log = logging.getLogger(__name__)

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


def _checked(staging: Staging, name: str) -> tuple[str, int, bytes | None]:
    """(sha256, size, the content when what the scan refused was replaced) of a staged file the final scan
    passes, read once; raises ContractViolation when it still refuses it."""
    content = staging.read(name)
    replaced = None
    scan = leaks_in_lines if name.endswith(".jsonl") else leaks_in
    if scan(content):
        replaced = content = staging.without_refused(name, content)
    hits = scan(content) if replaced is not None else []
    if hits:
        raise ContractViolation(f"refusing to upload: the final scan still finds {describe(hits, name)}")
    return hashlib.sha256(content).hexdigest(), len(content), replaced


# Between two items of a list laid out a line each: a control character, which the JSON encoder writes
# escaped inside strings, so each raw one in its output is a separator it wrote.
_ITEM_BREAK = "\x00"


def manifest_text(manifest: dict[str, Any]) -> str:
    """The manifest as sorted JSON, a key a line, and a list's items (files, gaps) a line each.

    Written by the C encoder, a list in one call: `indent` makes the json module fall back to its
    pure-Python encoder (15 ms on the restarted benchmark's 1,815 files and 1,200 gaps, 596 KB),
    and one call per item cost nearly as much in calls. An item a line is as readable and smaller
    (513 KB), so its final scan is cheaper too.
    """
    def value(item: Any) -> str:
        if not (isinstance(item, list) and item):
            return json.dumps(item, sort_keys=True, separators=(", ", ": "))
        items = json.dumps(item, sort_keys=True, separators=("," + _ITEM_BREAK, ": "))
        # A break between two objects (`}` before it ends one: a string ends in its quote) starts a line:
        # the files' and gaps' entries are flat objects, one a line. The others are `, ` again.
        lines = items[1:-1].replace("}," + _ITEM_BREAK + "{", "},\n    {").replace("," + _ITEM_BREAK, ", ")
        return "[\n    " + lines + "\n  ]"

    fields = [f"  {json.dumps(key)}: {value(manifest[key])}" for key in sorted(manifest)]
    return "{\n" + ",\n".join(fields) + "\n}\n"


def assemble(staging: Staging, identity: SnapshotIdentity, window: TimeWindow, collected: Collected,
             redactor: Redactor, bundle: Path) -> tuple[dict[str, Any], str, str]:
    """Write the bundle; returns (manifest, summary, the bundle's sha256)."""
    # The summary travels in the callback, outside the snapshot: findings quote API messages and object
    # fields (`cannot pull harbor/auth_backend:ldap`), so it is redacted and scanned like the files, a line
    # the scan refuses replaced whole as in them (`refusals`), not the snapshot refused.
    summary = redactor.redact(summarize(collected.findings, collected.notes), "callback summary")
    hits = scan_text(summary)
    if hits:
        summary = without_refused_lines(summary.encode(), lambda line: redactor.refused(
            line, "callback summary")).decode()
        hits = scan_text(summary)
    if hits:
        raise ContractViolation(f"refusing to upload: the final scan still finds {describe(hits, 'the summary')}")
    # Files written page by page (object lists) were not scanned as they were written: scanned now, what the
    # scan refuses in them replaced (`refusals`), before the redaction report counts the replacements and
    # the gaps are taken (a replacement the budget cannot hold is one).
    scanned = staging.scanned_packed()
    checked = {name: _checked(staging, name) for name in staging.members() if name not in scanned}
    # Gap details carry API error texts: untrusted, redacted as each gap was recorded (Staging.gap), so
    # before the redaction report is written and counted there; the manifest's final scan reads them too.
    # They and the workload's image (an object field) have what the scan refuses replaced here, so that
    # the redaction report counts it.
    def in_manifest(value: str) -> str:
        return redactor.refused(value, "manifest.json")

    gaps = [gap.as_dict() for gap in sorted(staging.gaps, key=lambda g: (g.what, g.reason, g.detail))]
    gaps = without_refused_values(gaps, in_manifest)
    source = without_refused_values({"commit_sha": collected.source_commit, "image": collected.source_image,
                                     "commit_sha_from": collected.source_from}, in_manifest)
    # Findings and the redaction report are what the snapshot is for: always written, outside the budget
    # (they are small: bounded by the number of findings and redaction kinds).
    staging.write_json("findings.json", {"summary": summary, "findings": [f.as_dict() for f in collected.findings]},
                       budgeted=False)
    staging.write_json("redaction-report.json", redactor.report(), budgeted=False)
    files = []
    members: dict[str, Member] = staging.members()
    scanned = staging.scanned_packed()
    ready: dict[str, PackedMember] = {}  # bundled from the very bytes the final scan found clean
    for name in members:
        known = scanned.get(name)
        if known is not None:
            # Packed from the buffer that was scanned as it was written: those bytes are what is bundled,
            # whatever became of the staged copy since, so it is neither read nor scanned again.
            ready[name] = known
            digest, size = known.sha256, known.size
        else:
            digest, size, replaced = checked[name] if name in checked else _checked(staging, name)
            if replaced is not None:
                members[name] = replaced  # bundled as scanned here
        files.append({"path": name, "sha256": digest, "size": size,
                      "media_type": MEDIA_TYPES.get(posixpath.splitext(name)[1], "application/octet-stream")})
    by_kind = redactor.report()["by_kind"]
    refused = by_kind.get(SCAN_REFUSED, 0) if isinstance(by_kind, dict) else 0
    if refused:  # the redactor and the scan disagreed: worth a look at the redactor's rules
        log.warning("the final scan refused %d value(s) the redactor left; each was replaced whole "
                    "(redaction report: %s)", refused, SCAN_REFUSED)
    manifest: dict[str, Any] = {
        "schema_version": EVIDENCE_MANIFEST,
        "incident_id": identity.incident_id,
        "app_id": identity.app_id,
        "target_namespace": identity.target_namespace,
        "time_window": {"start": _iso(window.start), "end": _iso(window.end)},
        "collected_at": _iso(window.end),
        "workload": collected.workload,
        "source": source,
        "files": files,
        "gaps": gaps,
        "redaction": dict(by_kind) if isinstance(by_kind, dict) else {},
        "collector": {"name": "evidence-collector", "version": __version__},
    }
    if identity.agents_namespace:
        manifest["agents_namespace"] = identity.agents_namespace
    validate_document(manifest, EVIDENCE_MANIFEST)
    text = manifest_text(manifest)
    hits = scan_text(text)
    if hits:
        raise ContractViolation(f"refusing to upload: the final scan still finds {describe(hits, 'manifest.json')}")
    members["manifest.json"] = text.encode()
    return manifest, summary, write_bundle(bundle, members, packed=ready)
