"""Command line of jenkins-notifier: what `notifyControlPlane` runs at the end of every PathOps pipeline."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from pathops_contracts import __version__
from pathops_contracts.identifiers import CHANGESET_ID, ENDPOINT_URL, INCIDENT_ID
from pathops_runtime.cli import IdentifierType, at_boundary, callback_options, env_option, tool_group

if TYPE_CHECKING:  # requests and jsonschema are imported where notify-job runs, not for --help
    from pathops_runtime.callbacks import CallbackSettings

main = tool_group(
    "jenkins-notifier",
    __version__,
    "Tell PathOps how a Jenkins job ended, so that a failed job is never silent.",
)


@main.command("notify-job")
@at_boundary("jenkins-notifier")
@env_option("--job", envvar="JOB_NAME_PATHOPS", required=True, help="The PathOps job, e.g. create-mr-from-patch.")
@env_option("--status", envvar="JOB_STATUS", required=True,
            type=click.Choice(["success", "failure", "unstable", "aborted", "not_built", "unknown"]),
            help="How the build ended.")
@env_option("--build-url", envvar="BUILD_URL_PATHOPS", default="", help="The Jenkins build URL.")
@env_option("--incident-id", envvar="INCIDENT_ID", type=IdentifierType(INCIDENT_ID), default=None, help="Incident.")
@env_option("--changeset-id", envvar="CHANGESET_ID", type=IdentifierType(CHANGESET_ID), default=None,
            help="Change set.")
@env_option("--callback-url", envvar="CONTROL_PLANE_CALLBACK_URL", required=True, type=IdentifierType(ENDPOINT_URL),
            help="The control plane's /webhooks/jenkins.")
@callback_options
def notify_job(job: str, status: str, build_url: str, incident_id: str | None, changeset_id: str | None,
               callback_url: str, callbacks: CallbackSettings) -> None:
    """Post how the job ended to /webhooks/jenkins, signed (run from post { always { } })."""
    from pathops_contracts.contracts import JENKINS_JOB
    from pathops_runtime.callbacks import ControlPlane

    payload: dict[str, str] = {"schema_version": JENKINS_JOB, "job": job, "status": status, "build_url": build_url}
    if incident_id:
        payload["incident_id"] = incident_id
    if changeset_id:
        payload["changeset_id"] = changeset_id
    result = ControlPlane(callbacks).post(callback_url, payload, JENKINS_JOB)
    click.echo(json.dumps({"delivered": True, "status_code": result.status_code, "attempts": result.attempts}))
