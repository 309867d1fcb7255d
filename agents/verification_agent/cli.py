"""Command line of verification-agent: parses options and delegates to the checks."""

from __future__ import annotations

import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pathops_contracts import __version__
from pathops_contracts.errors import ExitCode, InvalidInput, NegativeOutcome, PathOpsError
from pathops_contracts.identifiers import APP_ID, COMMIT_SHA, ENDPOINT_URL, NAMESPACE, VERIFICATION_ID
from pathops_runtime.cli import IdentifierType, at_boundary, callback_options, env_option, store_options, tool_group

# The checks (kubernetes, requests, jsonschema) and the store (boto3) are imported where `verify`
# runs: --help and --version do not pay for them.
if TYPE_CHECKING:
    from pathops_runtime.artifact_store import StoreSettings
    from pathops_runtime.callbacks import CallbackSettings

main = tool_group(
    "verification-agent",
    __version__,
    "Verify a preflight deployment: passed, failed or inconclusive, never passed without evidence.",
)


class Inconclusive(PathOpsError):
    exit_code = ExitCode.INCONCLUSIVE


@main.command("verify")
@at_boundary("verification-agent")
@env_option("--app-id", envvar="APP_ID", required=True, type=IdentifierType(APP_ID), help="App id.")
@env_option("--env", "environment", envvar="ENV", type=click.Choice(["preflight"]), default="preflight",
            show_default=True, help="Only preflight is verified.")
@env_option("--verification-id", envvar="VERIFICATION_ID", required=True, type=IdentifierType(VERIFICATION_ID),
            help="Verification id from PathOps.")
@env_option("--target-namespace", envvar="TARGET_NAMESPACE", type=IdentifierType(NAMESPACE), default=None,
            help="Default <app>-preflight.")
@env_option("--spec", envvar="VERIFICATION_SPEC", required=True,
            type=click.Path(dir_okay=False, path_type=Path), help="The verification spec (YAML).")
@env_option("--expected-commit-sha", envvar="EXPECTED_COMMIT_SHA", type=IdentifierType(COMMIT_SHA), default=None,
            help="The commit the pods must run (rollout check).")
@env_option("--prometheus-url", envvar="PROMETHEUS_URL", default=None, type=IdentifierType(ENDPOINT_URL),
            help="Prometheus for prometheus checks.")
@env_option("--kubeconfig", envvar="KUBECONFIG", default=None, help="Kubeconfig when not running in a pod.")
@env_option("--no-kubernetes", envvar="NO_KUBERNETES", is_flag=True,
            help="No Kubernetes access (rollout and restarts checks become inconclusive).")
@env_option("--callback-url", envvar="CONTROL_PLANE_CALLBACK_URL", required=True, type=IdentifierType(ENDPOINT_URL),
            help="The control plane's /api/verification/callback.")
@env_option("--output-dir", envvar="OUTPUT_DIR", default=None, type=click.Path(file_okay=False, path_type=Path),
            help="Keep report.json and junit.xml here too.")
@env_option("--scratch-dir", envvar="SCRATCH_DIR", default=None, type=click.Path(file_okay=False, path_type=Path),
            help="Writable directory.")
@env_option("--allow-job-command", "allowed_job_commands", envvar="VERIFICATION_JOB_COMMANDS", multiple=True,
            help="A command (argv[0], exactly as the spec writes it) that job checks may run; repeat, or "
                 "space-separated in the env var. Job checks of any other command are inconclusive.")
@store_options
@callback_options
def verify(*, app_id: str, environment: str, verification_id: str, target_namespace: str | None, spec: Path,
           expected_commit_sha: str | None, prometheus_url: str | None, kubeconfig: str | None, no_kubernetes: bool,
           callback_url: str, output_dir: Path | None, scratch_dir: Path | None,
           allowed_job_commands: tuple[str, ...], store: StoreSettings, callbacks: CallbackSettings) -> None:
    """Run the spec's checks, upload the report, call back; the exit code is the outcome.

    Exit codes: 0 passed; 3 failed; 7 inconclusive; 2 bad spec or input; 4 a known secret value was still
    in the report after masking (nothing uploaded, no callback); 5 MinIO or the control plane failed.
    """
    from pathops_contracts.redaction import Redactor, token_key
    from pathops_runtime.artifact_store import ArtifactStore
    from pathops_runtime.callbacks import ControlPlane
    from pathops_runtime.kube_reader import KubeReader
    from pathops_runtime.logs import mask_secret
    from pathops_runtime.progress import terminal_progress
    from verification_agent.checks import CHECKS, FAILED, INCONCLUSIVE, PASSED, Context, overall
    from verification_agent.report import (
        deliver_report,
        junit_xml,
        known_secrets,
        refuse_leaks,
        report_document,
        sanitize_report,
    )
    from verification_agent.spec import load_spec

    checks = load_spec(spec)["checks"]
    namespace = target_namespace or f"{app_id}-preflight"
    needs_kube = any(c["type"] in {"rollout", "restarts"} for c in checks) and not no_kubernetes
    kube = KubeReader.connect(kubeconfig, None, 4) if needs_kube else None
    progress = terminal_progress("verification-agent")
    context = Context(namespace, expected_commit_sha, kube, prometheus_url,
                      allowed_job_commands=frozenset(allowed_job_commands), progress=progress)
    secrets = known_secrets(os.environ, (callbacks.signing_key, callbacks.token))
    for secret in secrets:  # the same values stay out of the log lines
        mask_secret(secret)
    started, clock = datetime.now(UTC), time.perf_counter()
    redactor = Redactor(key=token_key(verification_id, callbacks.signing_key))
    measured = []
    for number, check in enumerate(checks, 1):
        progress(f"check {number}/{len(checks)}: {check['name']} ({check['type']})")
        measured.append(CHECKS[check["type"]](check, context))
        progress(f"check {number}/{len(checks)}: {check['name']}: {measured[-1].status}")
    results = sanitize_report(measured, secrets, redactor)
    status = overall(results)
    document = report_document(app_id, environment, verification_id, namespace, expected_commit_sha, status,
                               started, datetime.now(UTC), results)
    report = (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")
    junit = junit_xml(verification_id, results, time.perf_counter() - clock)
    refuse_leaks({"report.json": report, "junit.xml": junit}, secrets)
    if scratch_dir is not None:
        scratch_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="verification-", dir=scratch_dir) as scratch:
        report_file, junit_file = Path(scratch) / "report.json", Path(scratch) / "junit.xml"
        report_file.write_bytes(report)
        junit_file.write_bytes(junit)
        if output_dir is not None:
            output_dir.mkdir(parents=True, exist_ok=True)
            (output_dir / "report.json").write_bytes(report)
            (output_dir / "junit.xml").write_bytes(junit)
        stored = deliver_report(ArtifactStore.from_settings(store), report_file, junit_file, ControlPlane(callbacks),
                                callback_url, {"app_id": app_id, "env": environment,
                                               "verification_id": verification_id, "status": status})
    click.echo(json.dumps({"status": status, "report_id": stored.artifact_id,
                           "checks": {r.name: r.status for r in results}}))
    if status == FAILED:
        raise NegativeOutcome(f"verification {verification_id} failed: "
                              + "; ".join(f"{r.name}: {r.message}" for r in results if r.status == FAILED)[:500])
    if status == INCONCLUSIVE:
        raise Inconclusive(f"verification {verification_id} is inconclusive: "
                           + "; ".join(f"{r.name}: {r.message}" for r in results if r.status != PASSED)[:500])
    if status != PASSED:
        raise InvalidInput(f"unexpected status {status}")
