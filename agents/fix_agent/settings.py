"""What a fix-agent command runs with: frozen settings built from its options, the core's only input.

The CLI builds them from the options and environment variables; a test builds them directly and
calls `fix_agent.core` without click.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

# boto3, requests and openai come with these: the settings name them, the core imports them.
if TYPE_CHECKING:
    from fix_agent.llm import LlmSettings
    from pathops_runtime.artifact_store import StoreSettings
    from pathops_runtime.callbacks import CallbackSettings


@dataclass(frozen=True)
class RunSettings:
    """`fix-agent run`: the snapshot to fix, the source at its commit, where the bundle and callbacks go."""

    snapshot_id: str
    source_dir: Path
    source_commit_sha: str
    callback_url: str
    inline_max_bytes: int  # the largest patch also posted to inline_url
    store: StoreSettings
    callbacks: CallbackSettings
    inline_url: str | None = None
    llm: LlmSettings | None = None  # the LLM engine runs after the playbooks only when given
    output_dir: Path | None = None  # a local copy of the bundle
    scratch_dir: Path | None = None


@dataclass(frozen=True)
class ImageSettings:
    """`fix-agent build-image`: the runtime image plus the source at one commit, pushed to Harbor."""

    app: str
    source_repo: str
    source_commit_sha: str
    runtime_image: str
    harbor_repo: str
    builder: str  # buildah (daemonless), docker (the Docker Engine) or directory (the files, no image)
    registry_tls_verify: bool
    force: bool
    max_source_bytes: int
    incident_id: str | None = None
    image_ref_file: Path | None = None  # also gets name@sha256:digest, for the Jenkins step
    scratch_dir: Path | None = None
    output_dir: Path | None = None  # --builder directory: where the image's files are written
    gitlab_token: str | None = field(default=None, repr=False)  # fetches the source over HTTP
    registry_username: str | None = None
    registry_password: str | None = field(default=None, repr=False)
