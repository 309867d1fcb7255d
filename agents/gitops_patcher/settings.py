"""What a gitops-patcher command runs with: frozen settings built from its options, the core's only input.

The CLI builds them from the options and environment variables; a test builds them directly and
calls `gitops_patcher.core` without click.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path


@dataclass(frozen=True)
class RunSettings:
    """One agent run as the Jenkins job asks for it (the seed's job parameters); which apply depends on the agent."""

    agent: str
    app: str
    environment: str  # preflight | production
    incident_id: str | None  # verification-agent: only when the verified change answers an incident
    image: str
    time_window: str  # evidence-collector
    verification_spec_root: Path  # the only directory a verification spec is read from
    read_node_conditions: bool  # evidence-collector: also the node-conditions ClusterRole
    minio_endpoint: str
    minio_bucket: str
    control_plane_url: str  # the agent's callback path is appended
    target_namespace: str | None = None  # default <app>-<env>
    agents_namespace: str | None = None  # default <app>-agents
    workload: str | None = None  # evidence-collector
    label_selector: str | None = None  # evidence-collector
    alert_starts_at: str | None = None  # evidence-collector
    snapshot_id: str | None = None  # fix-agent
    verification_id: str | None = None  # verification-agent
    verification_spec: str | None = None  # verification-agent: a spec file under verification_spec_root...
    patch_id: str | None = None  # ...or the spec a patch bundle carries
    patch_store_endpoint: str | None = None  # where that bundle is read; default minio_endpoint
    expected_commit_sha: str | None = None  # verification-agent


@dataclass(frozen=True)
class RepositorySettings:
    """The GitOps repository Argo CD applies, and who commits to it."""

    url: str
    branch: str
    author_name: str
    author_email: str
    token: str | None = field(default=None, repr=False)  # for an HTTP remote
    scratch_dir: Path | None = None  # where it is cloned


@dataclass(frozen=True)
class EgressSettings:
    """Where the agent Jobs may connect: CIDR:PORT or ns/NAMESPACE:PORT each; no LLM, no LLM rule."""

    minio: str
    control_plane: str
    kube_api: str
    llm: str | None
    preflight_port: int


@dataclass(frozen=True)
class RenderSettings:
    """`render`: one run's manifests into a folder, nothing else."""

    run: RunSettings
    output_dir: Path


@dataclass(frozen=True)
class ScheduleSettings:
    """`schedule`: one run committed to the GitOps repository, with its namespace's network policy."""

    run: RunSettings
    egress: EgressSettings
    repository: RepositorySettings


@dataclass(frozen=True)
class PruneSettings:
    """`prune`: finished runs older than older_than leave the repository (of one app, or of all)."""

    older_than: timedelta
    repository: RepositorySettings
    app: str | None = None
