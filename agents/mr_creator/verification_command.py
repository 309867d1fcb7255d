"""`mr-creator update-from-verification`: parses options and delegates to verification_update."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pathops_contracts.errors import InvalidInput
from pathops_contracts.identifiers import ARTIFACT_ID, ENDPOINT_URL, PROJECT_PATH, VERIFICATION_ID
from pathops_runtime.cli import IdentifierType, at_boundary, env_option, store_options
from pathops_runtime.logs import mask_secret

if TYPE_CHECKING:  # gitlab and boto3 are imported where the command runs, not for --help
    from pathops_runtime.artifact_store import StoreSettings


@click.command("update-from-verification")
@at_boundary("mr-creator")
@env_option("--src-repo", envvar="SRC_REPO", required=True, type=IdentifierType(PROJECT_PATH),
            help="GitLab project path of the merge request, e.g. shop/shop-frontend.")
@env_option("--mr-iid", envvar="MR_IID", required=True, type=click.IntRange(min=1),
            help="The merge request's number (!iid) in that project.")
@env_option("--report-id", envvar="REPORT_ID", required=True, type=IdentifierType(ARTIFACT_ID),
            help="The verification report (report-<32 hex>) in the artifact store.")
@env_option("--verification-id", envvar="VERIFICATION_ID", type=IdentifierType(VERIFICATION_ID), default=None,
            help="When given, the report must be of this verification.")
@env_option("--gitlab-url", envvar="GITLAB_URL", required=True, type=IdentifierType(ENDPOINT_URL),
            help="GitLab base URL.")
@env_option("--gitlab-token", envvar="GITLAB_TOKEN", required=True, help="GitLab token (api).")
@env_option("--marker-key", envvar="MR_MARKER_KEY", default=None,
            help="HMAC key of the changeset marker; default: CALLBACK_SIGNING_KEY.")
@env_option("--callback-signing-key", envvar="CALLBACK_SIGNING_KEY", default=None,
            help="The callback signing key (the marker key's default).")
@env_option("--scratch-dir", envvar="SCRATCH_DIR", default=None,
            type=click.Path(file_okay=False, path_type=Path), help="Writable directory.")
@store_options
def update_from_verification_command(*, src_repo: str, mr_iid: int, report_id: str, verification_id: str | None,
                                     gitlab_url: str, gitlab_token: str, marker_key: str | None,
                                     callback_signing_key: str | None, scratch_dir: Path | None,
                                     store: StoreSettings) -> None:
    """Carry REPORT_ID into merge request !MR_IID: passed leaves Draft, failed and inconclusive stay Draft.

    Exit codes: 0 the merge request reflects the report (rerun: nothing new); 2 bad input;
    3 the merge request is not the autopilot's, or not open (nothing changed); 4 the report or
    patch bundle broke its contract; 5 GitLab or S3 failed; 6 credentials refused.
    """
    from mr_creator.merge_requests import GitLabProject
    from mr_creator.verification_update import VerificationOrder, update_from_verification
    from pathops_runtime.artifact_store import ArtifactStore

    mask_secret(gitlab_token)
    mask_secret(marker_key)
    mask_secret(callback_signing_key)
    key = marker_key or callback_signing_key or ""
    if not key:
        raise InvalidInput("mr-creator needs the changeset marker's key: set MR_MARKER_KEY or CALLBACK_SIGNING_KEY")
    order = VerificationOrder(src_repo, mr_iid, report_id, key.encode(), verification_id)
    if scratch_dir is not None:
        scratch_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mr-creator-verification-", dir=scratch_dir) as scratch:
        gitlab = GitLabProject(gitlab_url, gitlab_token, src_repo)
        result = update_from_verification(order, ArtifactStore.from_settings(store), gitlab, Path(scratch))
    click.echo(json.dumps({"status": result.status, "report_status": result.report_status,
                           "verification_id": result.verification_id, "report_id": report_id,
                           "mr_url": result.mr_url, "draft": result.draft, "changed": result.changed,
                           "note_added": result.note_added, "reasons": list(result.reasons)}))
