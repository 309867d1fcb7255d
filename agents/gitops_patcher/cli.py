"""Command line of gitops-patcher: options -> settings -> `gitops_patcher.core`; the error boundary and nothing else."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import click

from gitops_patcher.settings import (
    EgressSettings,
    PruneSettings,
    RenderSettings,
    RepositorySettings,
    RunSettings,
    ScheduleSettings,
)
from pathops_contracts import __version__
from pathops_contracts.agent_job import agent_names
from pathops_contracts.errors import InvalidInput
from pathops_contracts.identifiers import (
    APP_ID,
    ARTIFACT_ID,
    BUCKET,
    COMMIT_SHA,
    ENDPOINT_URL,
    IMAGE_REF,
    INCIDENT_ID,
    LABEL_SELECTOR,
    NAMESPACE,
    RFC3339_UTC,
    TIME_WINDOW,
    VERIFICATION_ID,
    WORKLOAD,
)
from pathops_runtime.cli import IdentifierType, at_boundary, env_option, tool_group
from pathops_runtime.git_env import GitIdentity
from pathops_runtime.logs import mask_secret

# The core (GitPython; boto3 and jsonschema for a verification spec) is imported where a command
# runs, not for --help and --version.

F = TypeVar("F", bound=Callable[..., Any])

main = tool_group(
    "gitops-patcher",
    __version__,
    "Render agent Jobs with least-privilege RBAC into the GitOps repository that Argo CD applies.",
)


def run_options(command: F) -> F:
    """The Jenkins job parameters of the seed, each also read from its environment variable."""
    options = [
        env_option("--agent", envvar="AGENT", required=True, type=click.Choice(agent_names()), help="Agent to run."),
        env_option("--app", envvar="APP_ID", required=True, type=IdentifierType(APP_ID), help="App id."),
        env_option("--env", "environment", envvar="ENV", type=click.Choice(["preflight", "production"]),
                   default="preflight", show_default=True, help="Environment the agent targets."),
        env_option("--incident-id", envvar="INCIDENT_ID", type=IdentifierType(INCIDENT_ID), default=None,
                   help="Incident id from PathOps (evidence-collector, fix-agent; for verification-agent only "
                        "when the verified change answers one: the run is named after its verification id)."),
        env_option("--image", envvar="AGENT_IMAGE", required=True, type=IdentifierType(IMAGE_REF),
                   help="Agent image, pinned by @sha256 digest when known."),
        env_option("--target-namespace", envvar="TARGET_NAMESPACE", type=IdentifierType(NAMESPACE), default=None,
                   help="Namespace the agent reads; default <app>-<env>."),
        env_option("--agents-namespace", envvar="AGENTS_NAMESPACE", type=IdentifierType(NAMESPACE), default=None,
                   help="Namespace the agent runs in; default <app>-agents."),
        env_option("--time-window", envvar="TIME_WINDOW", type=IdentifierType(TIME_WINDOW), default="30m",
                   show_default=True, help="Evidence window (evidence-collector)."),
        env_option("--workload", envvar="WORKLOAD", type=IdentifierType(WORKLOAD), default=None,
                   help="Focus workload kind/name (evidence-collector)."),
        env_option("--label-selector", envvar="LABEL_SELECTOR", type=IdentifierType(LABEL_SELECTOR), default=None,
                   help="Focus pods by labels (evidence-collector)."),
        env_option("--alert-starts-at", envvar="ALERT_STARTS_AT", type=IdentifierType(RFC3339_UTC), default=None,
                   help="Alert start time anchoring the window (evidence-collector)."),
        env_option("--snapshot-id", envvar="SNAPSHOT_ID", type=IdentifierType(ARTIFACT_ID), default=None,
                   help="Evidence snapshot to fix (fix-agent)."),
        env_option("--verification-id", envvar="VERIFICATION_ID", type=IdentifierType(VERIFICATION_ID), default=None,
                   help="Verification run id (verification-agent)."),
        env_option("--verification-spec", envvar="VERIFICATION_SPEC_FILE", default=None,
                   help="Verification spec YAML, relative to --verification-spec-root; schema-checked, then "
                        "shipped to the Job in a ConfigMap (verification-agent)."),
        env_option("--patch-id", envvar="PATCH_ID", type=IdentifierType(ARTIFACT_ID), default=None,
                   help="Verify this patch with the spec its bundle carries (verification.yaml, read from the "
                        "artifact store, sha256-verified), instead of --verification-spec (verification-agent)."),
        env_option("--patch-store-endpoint", envvar="PATCH_STORE_ENDPOINT", type=IdentifierType(ENDPOINT_URL),
                   default=None, help="S3 endpoint this tool reads the patch bundle from; default --minio-endpoint "
                                      "(credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)."),
        env_option("--verification-spec-root", envvar="VERIFICATION_SPEC_ROOT", default=".", show_default=True,
                   type=click.Path(path_type=Path),
                   help="The only directory a spec may be read from (symlinks are resolved first)."),
        env_option("--expected-commit-sha", envvar="EXPECTED_COMMIT_SHA", type=IdentifierType(COMMIT_SHA),
                   default=None, help="Commit the preflight pods must run (verification-agent)."),
        env_option("--read-node-conditions", envvar="READ_NODE_CONDITIONS", is_flag=True,
                   help="Also grant read-only node conditions (a separate ClusterRole; evidence-collector)."),
        env_option("--minio-endpoint", envvar="MINIO_ENDPOINT", type=IdentifierType(ENDPOINT_URL), required=True,
                   help="MinIO endpoint for the Job."),
        env_option("--minio-bucket", envvar="MINIO_BUCKET", type=IdentifierType(BUCKET), default="pathops-evidence",
                   show_default=True, help="Bucket for the Job."),
        env_option("--control-plane-url", envvar="CONTROL_PLANE_URL", type=IdentifierType(ENDPOINT_URL),
                   required=True, help="Control plane base URL; the agent's callback path is appended."),
    ]

    @functools.wraps(command)
    def collect(*args: Any, agent: str, app: str, environment: str, incident_id: str, image: str,
                target_namespace: str | None, agents_namespace: str | None, time_window: str, workload: str | None,
                label_selector: str | None, alert_starts_at: str | None, snapshot_id: str | None,
                verification_id: str | None, verification_spec: str | None, patch_id: str | None,
                patch_store_endpoint: str | None, verification_spec_root: Path, expected_commit_sha: str | None,
                read_node_conditions: bool, minio_endpoint: str, minio_bucket: str, control_plane_url: str,
                **kwargs: Any) -> Any:
        run = RunSettings(
            agent=agent, app=app, environment=environment, incident_id=incident_id, image=image,
            time_window=time_window, verification_spec_root=verification_spec_root,
            read_node_conditions=read_node_conditions, minio_endpoint=minio_endpoint, minio_bucket=minio_bucket,
            control_plane_url=control_plane_url, target_namespace=target_namespace, agents_namespace=agents_namespace,
            workload=workload, label_selector=label_selector, alert_starts_at=alert_starts_at,
            snapshot_id=snapshot_id, verification_id=verification_id, verification_spec=verification_spec,
            patch_id=patch_id, patch_store_endpoint=patch_store_endpoint, expected_commit_sha=expected_commit_sha)
        return command(*args, run=run, **kwargs)

    for option in reversed(options):
        collect = option(collect)
    return collect  # type: ignore[return-value]


def run_option_names() -> dict[str, str]:
    """Each flag of run_options (`--incident-id`) -> its parameter name (`incident_id`)."""
    def probe() -> None:
        """Carries the options, nothing else."""

    params: list[click.Parameter] = getattr(run_options(probe), "__click_params__", [])
    return {flag: str(param.name) for param in params for flag in param.opts}


def _duration_option(value: str) -> timedelta:
    """Checked while the options are parsed, before the GitOps repository is cloned."""
    from gitops_patcher.lifecycle import parse_duration

    try:
        return parse_duration(value)
    except InvalidInput as error:
        raise click.BadParameter(str(error)) from error


@main.command("render")
@at_boundary("gitops-patcher")
@run_options
@env_option("--output-dir", envvar="OUTPUT_DIR", required=True,
            type=click.Path(file_okay=False, path_type=Path), help="Where to write the run's manifests.")
def render_command(run: RunSettings, output_dir: Path) -> None:
    """Write the manifests of one agent run to --output-dir, and nothing else."""
    from gitops_patcher import core

    click.echo(json.dumps(core.render(RenderSettings(run, output_dir)).__dict__))


def repository_options(command: F) -> F:
    options = [
        env_option("--repo", envvar="GITOPS_REPO_URL", required=True, help="Clone URL of the GitOps repository."),
        env_option("--branch", envvar="GITOPS_BRANCH", default="main", show_default=True, help="Branch."),
        env_option("--git-token", envvar="GITLAB_TOKEN", default=None, help="Token for an HTTP remote."),
        env_option("--scratch-dir", envvar="SCRATCH_DIR", default=None,
                   type=click.Path(file_okay=False, path_type=Path), help="Writable directory for the clone."),
        env_option("--git-author-name", envvar="PATHOPS_GIT_NAME", default=GitIdentity.name, show_default=True,
                   help="Author of the GitOps commits."),
        env_option("--git-author-email", envvar="PATHOPS_GIT_EMAIL", default=GitIdentity.email, show_default=True,
                   help="Author email of the GitOps commits."),
    ]

    @functools.wraps(command)
    def collect(*args: Any, repo: str, branch: str, git_token: str | None, scratch_dir: Path | None,
                git_author_name: str, git_author_email: str, **kwargs: Any) -> Any:
        mask_secret(git_token)
        repository = RepositorySettings(repo, branch, git_author_name, git_author_email, git_token, scratch_dir)
        return command(*args, repository=repository, **kwargs)

    for option in reversed(options):
        collect = option(collect)
    return collect  # type: ignore[return-value]


@main.command("schedule")
@at_boundary("gitops-patcher")
@run_options
@env_option("--minio-egress", envvar="EGRESS_MINIO", default="ns/minio:9000", show_default=True,
            help="Egress to MinIO: CIDR:PORT or ns/NAMESPACE:PORT.")
@env_option("--control-plane-egress", envvar="EGRESS_CONTROL_PLANE", required=True,
            help="Egress to the control plane (required: no default).")
@env_option("--kube-api-egress", envvar="EGRESS_KUBE_API", required=True,
            help="Egress to the Kubernetes API (collector, verifier; required: no default).")
@env_option("--llm-egress", envvar="EGRESS_LLM", default=None,
            help="Egress to the LLM endpoint (fix agent); without it the fix agent gets no LLM egress.")
@env_option("--preflight-port", envvar="EGRESS_PREFLIGHT_PORT", type=click.IntRange(1, 65535), default=8080,
            show_default=True, help="Port of the preflight service (verifier).")
@repository_options
def schedule_command(run: RunSettings, repository: RepositorySettings, minio_egress: str,
                     control_plane_egress: str, kube_api_egress: str, llm_egress: str | None,
                     preflight_port: int) -> None:
    """Commit one agent run to the GitOps repository and push it; a second identical call changes nothing."""
    from gitops_patcher import core

    egress = EgressSettings(minio_egress, control_plane_egress, kube_api_egress, llm_egress, preflight_port)
    click.echo(json.dumps(core.schedule(ScheduleSettings(run, egress, repository)).__dict__))


@main.command("prune")
@at_boundary("gitops-patcher")
@env_option("--older-than", envvar="PRUNE_OLDER_THAN", required=True, help="Age, e.g. 7d, 12h.",
            callback=lambda _context, _parameter, value: _duration_option(value))
@env_option("--app", envvar="APP_ID", type=IdentifierType(APP_ID), default=None, help="Only this app's runs.")
@repository_options
def prune_command(repository: RepositorySettings, older_than: timedelta, app: str | None) -> None:
    """Remove finished runs older than --older-than from Git; Argo CD's prune deletes their Jobs."""
    from gitops_patcher import core

    click.echo(json.dumps(core.prune(PruneSettings(older_than, repository, app)).__dict__))
