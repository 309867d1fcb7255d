"""One verification run, callable without click: run the spec's checks, upload the report, call back.

The outcome is returned, never raised: the CLI turns failed and inconclusive into their exit codes.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pathops_contracts.redaction import Redactor, token_key
from pathops_runtime.artifact_store import ArtifactStore
from pathops_runtime.callbacks import ControlPlane
from pathops_runtime.kube_reader import KubeReader
from pathops_runtime.logs import mask_secret
from pathops_runtime.progress import terminal_progress
from verification_agent.checks import CHECKS, CheckResult, Context, overall
from verification_agent.report import (
    deliver_report,
    junit_xml,
    known_secrets,
    refuse_leaks,
    report_document,
    sanitize_report,
)
from verification_agent.settings import VerifySettings
from verification_agent.spec import load_spec


@dataclass(frozen=True)
class Verification:
    """The run's outcome: passed, failed or inconclusive, with the stored report and each check's result."""

    status: str
    report_id: str
    results: list[CheckResult]

    def as_json(self) -> dict[str, object]:
        return {"status": self.status, "report_id": self.report_id,
                "checks": {r.name: r.status for r in self.results}}


def run(settings: VerifySettings) -> Verification:
    """Check, then store report.json and junit.xml (after a last leak check), then call back; in that order."""
    checks = load_spec(settings.spec)["checks"]
    needs_kube = any(c["type"] in {"rollout", "restarts"} for c in checks) and not settings.no_kubernetes
    kube = KubeReader.connect(settings.kubeconfig, None, 4) if needs_kube else None
    progress = terminal_progress("verification-agent")  # on a terminal only; a Job's log is unchanged
    context = Context(settings.namespace, settings.expected_commit_sha, kube, settings.prometheus_url,
                      allowed_job_commands=settings.allowed_job_commands, progress=progress)
    callbacks = settings.callbacks
    secrets = known_secrets(settings.process_environment, (callbacks.signing_key, callbacks.token))
    for secret in secrets:  # the same values stay out of the log lines
        mask_secret(secret)
    started, clock = datetime.now(UTC), time.perf_counter()
    redactor = Redactor(key=token_key(settings.verification_id, callbacks.signing_key))
    measured = []
    for number, check in enumerate(checks, 1):
        progress(f"check {number}/{len(checks)}: {check['name']} ({check['type']})")
        measured.append(CHECKS[check["type"]](check, context))
        progress(f"check {number}/{len(checks)}: {check['name']}: {measured[-1].status}")
    results = sanitize_report(measured, secrets, redactor)
    status = overall(results)
    document = report_document(settings.app_id, settings.environment, settings.verification_id, settings.namespace,
                               settings.expected_commit_sha, status, started, datetime.now(UTC), results)
    report = (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")
    junit = junit_xml(settings.verification_id, results, time.perf_counter() - clock)
    refuse_leaks({"report.json": report, "junit.xml": junit}, secrets)
    if settings.scratch_dir is not None:
        settings.scratch_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="verification-", dir=settings.scratch_dir) as scratch:
        report_file, junit_file = Path(scratch) / "report.json", Path(scratch) / "junit.xml"
        report_file.write_bytes(report)
        junit_file.write_bytes(junit)
        if settings.output_dir is not None:
            settings.output_dir.mkdir(parents=True, exist_ok=True)
            (settings.output_dir / "report.json").write_bytes(report)
            (settings.output_dir / "junit.xml").write_bytes(junit)
        stored = deliver_report(ArtifactStore.from_settings(settings.store), report_file, junit_file,
                                ControlPlane(callbacks), settings.callback_url,
                                {"app_id": settings.app_id, "env": settings.environment,
                                 "verification_id": settings.verification_id, "status": status})
    return Verification(status, stored.artifact_id, results)
