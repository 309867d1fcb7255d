"""The verification report: JSON (contract verification-report/v1) and JUnit XML beside it.

Before a report leaves the pod it passes `sanitize_report`: every secret value the agent holds
is masked, and what the checks observed (messages, measurements: command output, HTTP bodies)
goes through the same shared redactor as the evidence collector's logs. `refuse_leaks` then
scans the serialized files twice, for the known values in any encoding and with the shared
independent secret scan; a hit means nothing is uploaded (exit 4). Then `deliver_report`: the
report and its JUnit XML to the store, then the verification callback (the shared `deliver`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import html
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Collection, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from pathops_contracts import __version__
from pathops_contracts.contracts import VERIFICATION_CALLBACK, VERIFICATION_REPORT, validate_document
from pathops_contracts.errors import ContractViolation
from pathops_contracts.redaction import Redactor
from pathops_contracts.secret_scan import describe, scan_text
from pathops_runtime.artifact_store import ArtifactKind, ArtifactStore, StoredArtifact
from pathops_runtime.callbacks import ControlPlane
from pathops_runtime.delivery import Announcement, deliver
from verification_agent.checks import FAILED, INCONCLUSIVE, CheckResult

MASK = "****"
SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
# Environment variables that hold credentials: any name with a TOKEN, SECRET, PASSWORD or KEY word
# in it (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, CALLBACK_SIGNING_KEY, CONTROL_PLANE_TOKEN, ...).
_SECRET_NAME = re.compile(r"(?:^|_)(?:TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIALS?)(?:_|$)")
_MIN_SECRET = 4  # as in pathops_runtime.logs: shorter values are not masked


class SecretInReport(ContractViolation):
    """A known secret value is still in the report after masking: it is not uploaded."""


def known_secrets(environ: Mapping[str, str], extra: Collection[str | None] = (),
                  token_file: Path = SERVICE_ACCOUNT_TOKEN) -> frozenset[str]:
    """Every credential value the agent holds: credential env vars, option values, its service account token."""
    values = [value for name, value in environ.items() if _SECRET_NAME.search(name.upper())]
    values += [value for value in extra if value]
    with contextlib.suppress(OSError):  # not in a pod, or no token mounted
        values.append(token_file.read_text(encoding="utf-8").strip())
    return frozenset(value for value in values if len(value) >= _MIN_SECRET)


def _mask_text(text: str, secrets: Collection[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def _mask_value(value: Any, secrets: Collection[str]) -> Any:
    if isinstance(value, str):
        return _mask_text(value, secrets)
    if isinstance(value, dict):
        return {_mask_text(str(k), secrets): _mask_value(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_value(v, secrets) for v in value]
    return value


def _encodings(secret: str) -> set[str]:
    """How a secret can appear in the serialized files: as is, JSON-escaped, XML-escaped."""
    return {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
            html.escape(secret, quote=True), html.escape(secret, quote=False)}


def sanitize_report(results: list[CheckResult], secrets: Collection[str],
                    redactor: Redactor | None = None) -> list[CheckResult]:
    """The check results with every known secret value masked, in messages, measurements and names,
    and what the checks observed redacted like logs (the one place a report is cleaned).

    Names come from the spec and are only masked: the MR's checklist finds its checks by name.
    """
    redactor = redactor or Redactor()
    return [dataclasses.replace(result, name=_mask_text(result.name, secrets),
                                message=redactor.redact(_mask_text(result.message, secrets), "report.json"),
                                measurements=redactor.scrub_object(_mask_value(result.measurements, secrets),
                                                                   "report.json"))
            for result in results]


def refuse_leaks(files: Mapping[str, bytes], secrets: Collection[str]) -> None:
    """Fail closed: raise SecretInReport when any serialized file still holds a known secret value."""
    for name, data in files.items():
        text = data.decode("utf-8", errors="replace")
        if any(form in text for secret in secrets for form in _encodings(secret)):
            raise SecretInReport(f"{name} still holds a known secret value after masking; nothing was uploaded")
        hits = scan_text(text)
        if hits:
            raise SecretInReport(f"the final secret scan finds {describe(hits, name)}; nothing was uploaded")


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def report_document(app_id: str, env: str, verification_id: str, namespace: str, expected_sha: str | None,
                    status: str, started: datetime, finished: datetime, results: list[CheckResult]) -> dict[str, Any]:
    document = {
        "schema_version": VERIFICATION_REPORT, "app_id": app_id, "env": env, "verification_id": verification_id,
        "target_namespace": namespace, "expected_commit_sha": expected_sha, "status": status,
        "started_at": _iso(started), "finished_at": _iso(finished), "checks": [r.as_dict() for r in results],
        "verifier": {"name": "verification-agent", "version": __version__},
    }
    return dict(validate_document(document, VERIFICATION_REPORT))


def junit_xml(verification_id: str, results: list[CheckResult], seconds: float) -> bytes:
    """One testsuite, a testcase per check: failures as <failure>, inconclusive as <skipped>."""
    suite = ET.Element("testsuite", {
        "name": f"verification {verification_id}", "tests": str(len(results)),
        "failures": str(sum(r.status == FAILED for r in results)),
        "skipped": str(sum(r.status == INCONCLUSIVE for r in results)), "errors": "0", "time": f"{seconds:.3f}"})
    for result in results:
        case = ET.SubElement(suite, "testcase", {"classname": f"verification.{result.type}", "name": result.name})
        if result.status == FAILED:
            ET.SubElement(case, "failure", {"message": result.message[:500]}).text = result.message
        elif result.status == INCONCLUSIVE:
            ET.SubElement(case, "skipped", {"message": f"inconclusive: {result.message[:480]}"})
    data: bytes = ET.tostring(suite, encoding="utf-8", xml_declaration=True)
    return data


def deliver_report(store: ArtifactStore, report: Path, junit: Path, control_plane: ControlPlane, callback_url: str,
                   callback: Mapping[str, Any]) -> StoredArtifact:
    """Upload report.json (and junit.xml beside it), then post the verification callback: `callback`
    with the report's id and its `pointers.bundle`. Only files `refuse_leaks` passed come here."""
    def announce(stored: StoredArtifact) -> list[Announcement]:
        return [Announcement(callback_url, {"schema_version": VERIFICATION_CALLBACK, **callback,
                                            "report_id": stored.artifact_id, "pointers": {"bundle": stored.uri}},
                             VERIFICATION_CALLBACK)]

    return deliver(store, report, ArtifactKind.REPORT, control_plane, announce,
                   beside={".junit.xml": junit}).artifact
