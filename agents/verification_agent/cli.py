"""Command line of verification-agent: options -> settings -> `core.run`; the outcome becomes the exit code."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pathops_contracts import __version__
from pathops_contracts.errors import ExitCode, InvalidInput, NegativeOutcome, PathOpsError
from pathops_contracts.identifiers import APP_ID, COMMIT_SHA, ENDPOINT_URL, NAMESPACE, VERIFICATION_ID
from pathops_runtime.cli import IdentifierType, at_boundary, callback_options, env_option, store_options, tool_group
from verification_agent.settings import VerifySettings

# The core (kubernetes, requests, jsonschema, boto3) is imported where `verify` runs: --help and
# --version do not pay for it.
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
    from verification_agent import core
    from verification_agent.checks import FAILED, INCONCLUSIVE, PASSED

    outcome = core.run(VerifySettings(
        app_id=app_id, environment=environment, verification_id=verification_id, spec=spec, callback_url=callback_url,
        store=store, callbacks=callbacks, target_namespace=target_namespace, expected_commit_sha=expected_commit_sha,
        prometheus_url=prometheus_url, kubeconfig=kubeconfig, no_kubernetes=no_kubernetes,
        allowed_job_commands=frozenset(allowed_job_commands), output_dir=output_dir, scratch_dir=scratch_dir,
        process_environment=dict(os.environ)))
    click.echo(json.dumps(outcome.as_json()))
    status, results = outcome.status, outcome.results
    if status == FAILED:
        raise NegativeOutcome(f"verification {verification_id} failed: "
                              + "; ".join(f"{r.name}: {r.message}" for r in results if r.status == FAILED)[:500])
    if status == INCONCLUSIVE:
        raise Inconclusive(f"verification {verification_id} is inconclusive: "
                           + "; ".join(f"{r.name}: {r.message}" for r in results if r.status != PASSED)[:500])
    if status != PASSED:
        raise InvalidInput(f"unexpected status {status}")
