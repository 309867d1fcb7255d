"""The verification report: JSON (contract verification-report/v1) and JUnit XML beside it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any

from pathops_contracts import __version__
from pathops_contracts.contracts import VERIFICATION_REPORT, validate_document
from verification_agent.checks import FAILED, INCONCLUSIVE, CheckResult


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
