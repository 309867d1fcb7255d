"""Command line of mr-creator: parses options and delegates to the core."""

from __future__ import annotations

import importlib
import json
import logging
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mr_creator.verification_command import update_from_verification_command
from pathops_contracts import __version__
from pathops_contracts.errors import InvalidInput, NegativeOutcome, PathOpsError
from pathops_contracts.identifiers import ARTIFACT_ID, CHANGESET_ID, COMMIT_SHA, ENDPOINT_URL, PROJECT_PATH
from pathops_contracts.patch_policy import DEFAULT_PROTECTED, PolicyLimits
from pathops_runtime.cli import (
    IdentifierType,
    at_boundary,
    callback_options,
    env_option,
    store_options,
    tool_group,
)
from pathops_runtime.git_env import GitIdentity, git_environment
from pathops_runtime.logs import mask_secret

# The core (python-gitlab, GitPython, boto3, requests, jsonschema) is imported where `create`
# runs: --help and --version do not pay for it.
if TYPE_CHECKING:
    from mr_creator.core import Outcome
    from pathops_runtime.artifact_store import StoreSettings
    from pathops_runtime.callbacks import CallbackSettings, ControlPlane

log = logging.getLogger("mr_creator")

main = tool_group(
    "mr-creator",
    __version__,
    "Apply a patch bundle at its commit and open or update the GitLab merge request.",
)


_FIELD_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")
MAX_FIELDS = 20
MAX_FIELD_CHARS = 500


class FieldType(click.ParamType[str]):
    """KEY=VALUE; from MR_FIELDS one per line (values may hold spaces)."""

    name = "KEY=VALUE"
    envvar_list_splitter = "\n"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        return str(value)


def _fields(values: tuple[str, ...]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for item in (value for value in values if value.strip()):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not _FIELD_KEY.fullmatch(key):
            raise InvalidInput(f"MR_FIELDS/--field expects KEY=VALUE with a KEY of letters, digits and _, "
                               f"got {item[:60]!r}")
        if len(value) > MAX_FIELD_CHARS:
            raise InvalidInput(f"MR field {key} is longer than {MAX_FIELD_CHARS} characters")
        fields[key] = value.strip()
    if len(fields) > MAX_FIELDS:
        raise InvalidInput(f"at most {MAX_FIELDS} MR fields, got {len(fields)}")
    return fields


@main.command("create")
@at_boundary("mr-creator")
@env_option("--src-repo", envvar="SRC_REPO", required=True, type=IdentifierType(PROJECT_PATH),
            help="GitLab project path of the source, e.g. shop/shop-frontend.")
@env_option("--source-commit-sha", envvar="SOURCE_COMMIT_SHA", default=None, type=IdentifierType(COMMIT_SHA),
            help="Optional check: the commit the patch must have been made against. The bundle's metadata.json "
                 "names its base (source_commit_sha); a different one here is refused (exit 4).")
@env_option("--patch-id", envvar="PATCH_ID", required=True, type=IdentifierType(ARTIFACT_ID),
            help="Patch bundle id in the artifact store.")
@env_option("--changeset-id", envvar="CHANGESET_ID", required=True, type=IdentifierType(CHANGESET_ID),
            help="Change set id from PathOps; names the branch cs-<id>-fix-<slug>.")
@env_option("--gitlab-url", envvar="GITLAB_URL", required=True, type=IdentifierType(ENDPOINT_URL),
            help="GitLab base URL.")
@env_option("--gitlab-token", envvar="GITLAB_TOKEN", required=True, help="GitLab token (api and write_repository).")
@env_option("--git-url", envvar="SRC_REPO_GIT_URL", default=None,
            help="Clone URL of the source; default: the project's http_url_to_repo.")
@env_option("--draft/--ready", envvar="MR_DRAFT", default=True, show_default=True,
            help="Title starts with 'Draft:' until verification passes.")
@env_option("--label", "labels", envvar="MR_LABELS", multiple=True, help="Extra label (repeatable).")
@env_option("--title-prefix", envvar="MR_TITLE_PREFIX", default="", help="Text before the summary in the title.")
@env_option("--template", "template_path", envvar="MR_TEMPLATE", default=None,
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="MR body template (string.Template ${fields}); default: the built-in one.")
@env_option("--field", "fields", envvar="MR_FIELDS", multiple=True, type=FieldType(),
            help="The alert's MR template field KEY=VALUE (repeatable; the variable holds one per line): "
                 "alertname, severity, environment, namespace, workload (kind/name), startsAt (RFC 3339) "
                 "fill 'What fired'; other keys are listed after them.")
@env_option("--callback-url", envvar="CONTROL_PLANE_CALLBACK_URL", required=True, type=IdentifierType(ENDPOINT_URL),
            help="The control plane's Jenkins webhook (/webhooks/jenkins).")
@env_option("--git-author-name", envvar="PATHOPS_GIT_NAME", default=GitIdentity.name, show_default=True,
            help="Committer name of the applied patch.")
@env_option("--git-author-email", envvar="PATHOPS_GIT_EMAIL", default=GitIdentity.email, show_default=True,
            help="Committer email of the applied patch.")
@env_option("--protected-path", "protected_paths", envvar="MR_PROTECTED_PATHS", multiple=True,
            default=DEFAULT_PROTECTED, show_default=True,
            help="Glob a patch may not touch, on top of .git/, .gitlab-ci.yml, .gitlab/ and what the CI "
                 "configuration includes (repeatable; the variable is whitespace-separated). Replaces the default.")
@env_option("--marker-key", envvar="MR_MARKER_KEY", default=None,
            help="HMAC key of the changeset marker that identifies this tool's merge requests; "
                 "default: the callback signing key (CALLBACK_SIGNING_KEY).")
@env_option("--scratch-dir", envvar="SCRATCH_DIR", default=None,
            type=click.Path(file_okay=False, path_type=Path), help="Writable directory for the work tree.")
@store_options
@callback_options
def create(
    *,
    src_repo: str,
    source_commit_sha: str | None,
    patch_id: str,
    changeset_id: str,
    gitlab_url: str,
    gitlab_token: str,
    git_url: str | None,
    draft: bool,
    labels: tuple[str, ...],
    title_prefix: str,
    template_path: Path | None,
    fields: tuple[str, ...],
    callback_url: str,
    git_author_name: str,
    git_author_email: str,
    protected_paths: tuple[str, ...],
    marker_key: str | None,
    scratch_dir: Path | None,
    store: StoreSettings,
    callbacks: CallbackSettings,
) -> None:
    """Apply PATCH_ID at the commit its bundle names, push the branch, open or update the MR, notify PathOps.

    Exit codes: 0 MR created, updated or unchanged; 3 conflict (a person pushed to the
    branch, or the branch's open MR is not this tool's) or the patch no longer applies;
    4 bundle or patch refused, or made against another commit than SOURCE_COMMIT_SHA;
    5 GitLab, git, S3 or the control plane failed; 6 credentials refused.
    """
    from concurrent.futures import wait

    from mr_creator.merge_requests import GitLabProject
    from mr_creator.source_repository import start_fetch
    from pathops_runtime.artifact_reader import StoreOnFirstRead

    mask_secret(gitlab_token)
    mask_secret(marker_key)
    key = marker_key or callbacks.signing_key or ""
    if not key:
        raise InvalidInput("mr-creator needs a key to sign its changeset marker: set MR_MARKER_KEY "
                           "or CALLBACK_SIGNING_KEY")
    extra_fields = _fields(fields)
    template_text = template_path.read_text(encoding="utf-8") if template_path else None
    identity = GitIdentity(git_author_name, git_author_email)

    def env(remote: str) -> dict[str, str]:
        """git's environment for the remote fetched and pushed: the token goes to its origin only."""
        return git_environment(identity, token=gitlab_token, token_url=remote)

    if scratch_dir is not None:
        scratch_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mr-creator-", dir=scratch_dir) as scratch:
        fetching = None
        try:
            gitlab = GitLabProject(gitlab_url, gitlab_token, src_repo)
            if source_commit_sha:
                # Given, the commit is fetched from here on: the rest of the tool loads while git works.
                remote = gitlab.info().source_url(git_url)
                fetching = start_fetch(remote, source_commit_sha, Path(scratch) / "source", env(remote))
            from mr_creator.core import MergeRequestOrder, create_merge_request
            from mr_creator.description import default_template

            order = MergeRequestOrder(
                src_repo=src_repo,
                source_commit_sha=source_commit_sha,
                patch_id=patch_id,
                changeset_id=changeset_id,
                template_text=template_text if template_text is not None else default_template(),
                draft=draft,
                labels=tuple(label for item in labels for label in item.split(",") if label),
                title_prefix=title_prefix,
                extra_fields=extra_fields,
                git_url=git_url,
                marker_key=key.encode(),
                policy=PolicyLimits(protected_paths=tuple(protected_paths)),
            )
            # The callback's client (requests, tenacity: ~0.05 s to import) is imported while git fetches.
            outcome = create_merge_request(order, StoreOnFirstRead(store), gitlab, env, Path(scratch), fetching,
                                           meanwhile=lambda: importlib.import_module("pathops_runtime.callbacks"))
        except PathOpsError as error:
            _announce_failure(_control_plane(callbacks), callback_url, changeset_id, error)
            raise
        finally:
            if fetching is not None:
                wait([fetching])  # git is done with the scratch folder before it goes
    _announce(_control_plane(callbacks), callback_url, changeset_id, outcome)
    click.echo(json.dumps({"status": outcome.status, "mr_url": outcome.mr_url, "branch": outcome.branch,
                           "head": outcome.head, "detail": outcome.detail}))
    if outcome.status == "conflict":
        raise NegativeOutcome(outcome.detail)


def _control_plane(settings: CallbackSettings) -> ControlPlane:
    from pathops_runtime.callbacks import ControlPlane

    return ControlPlane(settings)


def _announce(control_plane: ControlPlane, url: str, changeset_id: str, outcome: Outcome) -> None:
    from pathops_contracts.contracts import JENKINS_WEBHOOK

    payload = {
        "schema_version": JENKINS_WEBHOOK,
        "changeset_id": changeset_id,
        "mr_url": outcome.mr_url,
        "status": outcome.status,
        "branch": outcome.branch,
        "detail": outcome.detail,
    }
    control_plane.post(url, payload, JENKINS_WEBHOOK)


def _announce_failure(control_plane: ControlPlane, url: str, changeset_id: str, error: PathOpsError) -> None:
    """Tell the control plane why no MR came out; the original error stays the one reported."""
    from pathops_contracts.contracts import JENKINS_WEBHOOK

    payload = {
        "schema_version": JENKINS_WEBHOOK,
        "changeset_id": changeset_id,
        "mr_url": None,
        "status": "failed",
        "detail": str(error)[:4000],
    }
    try:
        control_plane.post(url, payload, JENKINS_WEBHOOK)
    except PathOpsError as callback_error:
        log.error("could not report the failure to the control plane", extra={"reason": str(callback_error)})


main.add_command(update_from_verification_command)
