"""update-from-verification: carry a preflight verification report into the merge request it judged.

Only a merge request that carries this tool's verified marker (and, when GitLab says who the
token is, was opened by the tool's account) is touched; the checks come from the patch bundle
the marker names, the report from the artifact store (content-addressed, sha256 verified).
Rerunning with the same report changes nothing and adds no second note.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from mr_creator.marker import MarkerScope, verified_marker
from mr_creator.merge_requests import MergeRequest, Note
from mr_creator.patch_bundle import open_patch_bundle
from mr_creator.verification_outcome import NOTE_MARKER, judge, update_for
from pathops_contracts.bundles import read_json_document
from pathops_contracts.contracts import VERIFICATION_REPORT, validate_document
from pathops_contracts.errors import ContractViolation, InvalidInput, NegativeOutcome
from pathops_contracts.verification_spec import parse_spec
from pathops_runtime.artifact_store import ArtifactStore

log = logging.getLogger(__name__)
MAX_REPORT_BYTES = 4 * 1024 * 1024


class VerifiedMergeRequests(Protocol):
    """What this needs of GitLab (GitLabProject in production)."""

    def tool_user_id(self) -> int | None: ...
    def get(self, iid: int) -> MergeRequest | None: ...
    def notes(self, iid: int) -> list[Note]: ...
    def update(self, iid: int, title: str, description: str, labels: list[str]) -> None: ...
    def comment(self, iid: int, body: str) -> None: ...


class NotOurs(NegativeOutcome):
    """The merge request is not this tool's: nothing was changed (exit 3)."""


@dataclass(frozen=True)
class VerificationOrder:
    src_repo: str
    mr_iid: int
    report_id: str
    marker_key: bytes
    verification_id: str | None = None  # when given, the report must be of this verification


@dataclass(frozen=True)
class VerificationResult:
    status: str  # passed | failed | inconclusive, as judged for this MR
    report_status: str  # what the report itself says
    mr_url: str
    draft: bool
    changed: bool  # title, body or labels were updated
    note_added: bool
    verification_id: str
    reasons: tuple[str, ...]


def load_report(store: ArtifactStore, report_id: str, scratch: Path) -> dict[str, Any]:
    """The verification report, downloaded and verified, schema-valid."""
    if not report_id.startswith("report-"):
        raise InvalidInput(f"{report_id} is not a verification report id (report-<32 hex>)")
    path = scratch / f"{report_id}.json"
    store.get(report_id, path, max_size=MAX_REPORT_BYTES)
    report = read_json_document(path, f"verification report {report_id}", MAX_REPORT_BYTES)
    if not isinstance(report, dict):
        raise ContractViolation(f"verification report {report_id} is not an object")
    validate_document(report, VERIFICATION_REPORT)
    if report["env"] != "preflight":
        raise ContractViolation(f"verification report {report_id} is of {report['env']}, not preflight")
    return report


def update_from_verification(order: VerificationOrder, store: ArtifactStore, gitlab: VerifiedMergeRequests,
                             scratch: Path) -> VerificationResult:
    mr = gitlab.get(order.mr_iid)
    if mr is None:
        raise NotOurs(f"merge request !{order.mr_iid} of {order.src_repo} does not exist; nothing changed")
    marker = verified_marker(mr.description, MarkerScope(order.marker_key, order.src_repo, mr.source_branch))
    if marker is None:
        raise NotOurs(f"merge request !{mr.iid} ({mr.web_url}) does not end with the PathOps autopilot's signed "
                      "marker: it is not the autopilot's, nothing changed")
    tool_user = gitlab.tool_user_id()
    if tool_user is not None and mr.author_id != tool_user:
        raise NotOurs(f"merge request !{mr.iid} ({mr.web_url}) was opened by another account; nothing changed")
    if mr.state != "opened":
        raise NotOurs(f"merge request !{mr.iid} is {mr.state}; nothing changed")
    report = load_report(store, order.report_id, scratch)
    if order.verification_id is not None and report["verification_id"] != order.verification_id:
        raise ContractViolation(f"report {order.report_id} is of verification {report['verification_id']}, "
                                f"not {order.verification_id}")
    bundle = open_patch_bundle(store, marker.patch_id, marker.base_sha, scratch)
    spec_checks = parse_spec(bundle.verification_spec, "verification.yaml")["checks"] \
        if bundle.verification_spec else []
    verdict = judge(report, marker.last_pushed_head, spec_checks)
    update = update_for(verdict, mr.title, mr.description, mr.labels, spec_checks, order.report_id,
                        str(report["verification_id"]), marker.last_pushed_head)
    changed = (update.title, update.description, update.labels) != (mr.title, mr.description, sorted(mr.labels))
    if changed:
        gitlab.update(mr.iid, update.title, update.description, update.labels)
    seen = NOTE_MARKER.format(report_id=order.report_id)
    noted = any(seen in note.body and (tool_user is None or note.author_id == tool_user)
                for note in gitlab.notes(mr.iid))
    if not noted:
        gitlab.comment(mr.iid, update.note)
    log.info("merge request updated from verification",
             extra={"iid": mr.iid, "status": verdict.status, "changed": changed, "note_added": not noted})
    return VerificationResult(verdict.status, str(report["status"]), mr.web_url,
                              update.title.startswith("Draft:"), changed, not noted,
                              str(report["verification_id"]), verdict.reasons)
