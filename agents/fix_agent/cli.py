"""Command line of fix-agent: options -> settings -> `fix_agent.core`; the error boundary and nothing else."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from fix_agent.settings import ImageSettings, RunSettings
from pathops_contracts import __version__
from pathops_contracts.errors import PathOpsError
from pathops_contracts.identifiers import APP_ID, ARTIFACT_ID, COMMIT_SHA, ENDPOINT_URL, IMAGE_REF, INCIDENT_ID
from pathops_runtime.cli import IdentifierType, at_boundary, callback_options, env_option, store_options, tool_group
from pathops_runtime.logs import mask_secret

# The core is imported where a command runs: --help and --version do not pay for boto3,
# requests, GitPython and ruamel.yaml.
if TYPE_CHECKING:
    from pathops_runtime.artifact_store import StoreSettings
    from pathops_runtime.callbacks import CallbackSettings, ControlPlane

log = logging.getLogger("fix_agent")

main = tool_group(
    "fix-agent",
    __version__,
    "Turn an evidence snapshot and the embedded source into a patch bundle.",
)


@main.command("run")
@at_boundary("fix-agent")
@env_option("--snapshot-id", envvar="SNAPSHOT_ID", required=True, type=IdentifierType(ARTIFACT_ID),
            help="Evidence snapshot to fix.")
@env_option("--source-dir", envvar="SOURCE_DIR", default="/workspace/source", show_default=True,
            type=click.Path(file_okay=False, path_type=Path), help="The source at the commit (embedded in the image).")
@env_option("--source-commit-sha", envvar="SOURCE_COMMIT_SHA", required=True, type=IdentifierType(COMMIT_SHA),
            help="The commit the source is at.")
@env_option("--callback-url", envvar="CONTROL_PLANE_CALLBACK_URL", required=True, type=IdentifierType(ENDPOINT_URL),
            help="The control plane's /api/fix/callback.")
@env_option("--inline-url", envvar="CONTROL_PLANE_PATCH_INLINE_URL", default=None, type=IdentifierType(ENDPOINT_URL),
            help="The control plane's /api/fix/patch-inline; small patches are posted there too.")
@env_option("--inline-max-bytes", envvar="PATCH_INLINE_MAX_BYTES", type=click.IntRange(min=0), default=8192,
            show_default=True, help="Largest patch posted inline.")
@env_option("--openai-base-url", envvar="OPENAI_BASE_URL", default=None, type=IdentifierType(ENDPOINT_URL),
            help="OpenAI-compatible endpoint; the LLM engine runs only when set (key: OPENAI_API_KEY).")
@env_option("--model", envvar="FIX_AGENT_MODEL", default="gpt-4o-mini", show_default=True, help="Model name.")
@env_option("--max-turns", envvar="FIX_AGENT_MAX_TURNS", type=click.IntRange(1, 100), default=12, show_default=True,
            help="LLM engine: most model turns.")
@env_option("--token-budget", envvar="FIX_AGENT_TOKEN_BUDGET", type=click.IntRange(min=1000), default=60000,
            show_default=True, help="LLM engine: most tokens, prompt and completion.")
@env_option("--time-budget", envvar="FIX_AGENT_TIME_BUDGET_SECONDS", type=click.FloatRange(min=1), default=300.0,
            show_default=True, help="LLM engine: most seconds.")
@env_option("--output-dir", envvar="OUTPUT_DIR", default=None, type=click.Path(file_okay=False, path_type=Path),
            help="Keep a local copy of the bundle here.")
@env_option("--scratch-dir", envvar="SCRATCH_DIR", default=None, type=click.Path(file_okay=False, path_type=Path),
            help="Writable directory for the work tree.")
@store_options
@callback_options
def run(*, snapshot_id: str, source_dir: Path, source_commit_sha: str, callback_url: str, inline_url: str | None,
        inline_max_bytes: int, openai_base_url: str | None, model: str, max_turns: int, token_budget: int,
        time_budget: float, output_dir: Path | None, scratch_dir: Path | None, store: StoreSettings,
        callbacks: CallbackSettings) -> None:
    """Download SNAPSHOT_ID, propose a fix to the source, upload the patch bundle, call back with its patch_id.

    Exit codes: 0 a patch or a no-fix bundle was delivered (the callback's status says
    which); 2 bad input; 4 the snapshot broke its contract, or it says another commit runs than
    the embedded SOURCE_COMMIT_SHA; 5 MinIO or the control plane failed. Once the snapshot is
    read, a failure is also reported with a callback of status failed.
    """
    from fix_agent import core

    llm = None
    if openai_base_url:
        from fix_agent.llm import LlmSettings  # openai: only when the LLM engine runs

        api_key = os.environ.get("OPENAI_API_KEY", "")
        mask_secret(api_key)
        llm = LlmSettings(openai_base_url, api_key, model, max_turns, token_budget, time_budget)
    settings = RunSettings(snapshot_id=snapshot_id, source_dir=source_dir, source_commit_sha=source_commit_sha,
                           callback_url=callback_url, inline_max_bytes=inline_max_bytes, store=store,
                           callbacks=callbacks, inline_url=inline_url, llm=llm, output_dir=output_dir,
                           scratch_dir=scratch_dir)
    click.echo(json.dumps(core.run(settings).as_json()))


def _announce_failure(control_plane: ControlPlane, url: str, incident_id: str, snapshot_id: str,
                      source_commit_sha: str, error: PathOpsError) -> None:
    """The fix callback with status failed; the original error stays the one reported (and its exit code)."""
    from pathops_contracts.contracts import FIX_CALLBACK

    payload = {"schema_version": FIX_CALLBACK, "incident_id": incident_id, "snapshot_id": snapshot_id,
               "source_commit_sha": source_commit_sha, "status": "failed", "summary": str(error)[:4000] or "failed"}
    try:
        control_plane.post(url, payload, FIX_CALLBACK)
    except PathOpsError as callback_error:
        log.error("could not report the failure to the control plane", extra={"reason": str(callback_error)})


@main.command("build-image")
@at_boundary("fix-agent")
@env_option("--app", envvar="APP_ID", required=True, type=IdentifierType(APP_ID), help="App id, e.g. shop-frontend.")
@env_option("--source-repo", envvar="SOURCE_REPO", required=True, help="Clone URL of the application's repository.")
@env_option("--source-commit-sha", envvar="SOURCE_COMMIT_SHA", required=True, type=IdentifierType(COMMIT_SHA),
            help="The exact commit to embed.")
@env_option("--runtime-image", envvar="RUNTIME_IMAGE", required=True, type=IdentifierType(IMAGE_REF),
            help="The fix-agent runtime image to build on.")
@env_option("--harbor-repo", envvar="HARBOR_REPO", required=True, type=IdentifierType(IMAGE_REF),
            help="Where to push, e.g. harbor.demo.pathops.io/pathops/agents.")
@env_option("--incident-id", envvar="INCIDENT_ID", type=IdentifierType(INCIDENT_ID), default=None,
            help="Recorded as a label.")
@env_option("--builder", envvar="IMAGE_BUILDER", type=click.Choice(["buildah", "docker", "directory"]),
            default="buildah", show_default=True,
            help="buildah (daemonless), the Docker Engine (docker SDK), or directory: no image, the files it "
                 "would add (workspace/source) written to --output-dir (demo, local runs).")
@env_option("--registry-tls-verify/--no-registry-tls-verify", envvar="REGISTRY_TLS_VERIFY", default=True,
            show_default=True, help="Verify the registry's TLS certificate.")
@env_option("--force", envvar="FORCE_BUILD", is_flag=True, help="Build even when the tag already exists.")
@env_option("--max-source-bytes", envvar="MAX_SOURCE_BYTES", type=click.IntRange(min=1), default=200 * 1024 * 1024,
            show_default=True, help="Refuse source trees larger than this.")
@env_option("--image-ref-file", envvar="IMAGE_REF_FILE", default=None, type=click.Path(dir_okay=False, path_type=Path),
            help="Also write the pushed name@sha256:digest here (for the Jenkins step).")
@env_option("--scratch-dir", envvar="SCRATCH_DIR", default=None, type=click.Path(file_okay=False, path_type=Path),
            help="Writable directory for the fetch and the build storage.")
@env_option("--output-dir", envvar="IMAGE_OUTPUT_DIR", default=None,
            type=click.Path(file_okay=False, path_type=Path),
            help="--builder directory: the empty directory the image's files are written to.")
def build_image(*, app: str, source_repo: str, source_commit_sha: str, runtime_image: str, harbor_repo: str,
                incident_id: str | None, builder: str, registry_tls_verify: bool, force: bool, max_source_bytes: int,
                image_ref_file: Path | None, scratch_dir: Path | None, output_dir: Path | None) -> None:
    """Build <harbor-repo>/fix-<app>:<sha12>-<runtime version> with the source at the commit; print name@digest.

    Credentials: REGISTRY_USERNAME/REGISTRY_PASSWORD (registry), GITLAB_TOKEN (fetch over HTTP).
    Exit codes: 0 pushed or reused; 2 bad input or a commit that does not exist; 4 source tree over
    the size cap; 5 registry, git remote or builder failed; 6 credentials refused (git or registry).
    """
    from fix_agent import core

    token, password = os.environ.get("GITLAB_TOKEN"), os.environ.get("REGISTRY_PASSWORD")
    mask_secret(token)
    mask_secret(password)
    result = core.build_image(ImageSettings(
        app=app, source_repo=source_repo, source_commit_sha=source_commit_sha, runtime_image=runtime_image,
        harbor_repo=harbor_repo, builder=builder, registry_tls_verify=registry_tls_verify, force=force,
        max_source_bytes=max_source_bytes, incident_id=incident_id, image_ref_file=image_ref_file,
        scratch_dir=scratch_dir, output_dir=output_dir, gitlab_token=token,
        registry_username=os.environ.get("REGISTRY_USERNAME"), registry_password=password))
    if output_dir is not None:
        click.echo(json.dumps({"image": None, "tag": result.reference, "digest": None, "reused": False,
                               "directory": str(output_dir)}))
        return
    click.echo(json.dumps({"image": result.pinned, "tag": result.reference, "digest": result.digest,
                           "reused": result.reused}))
