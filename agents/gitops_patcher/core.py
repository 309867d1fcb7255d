"""render, schedule and prune: what gitops-patcher does to a folder or a GitOps repository, without click."""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from gitops_patcher.layout import add_run, app_dir, list_runs, remove_run, run_dir
from gitops_patcher.lifecycle import read_run_age
from gitops_patcher.namespace import Destination, Egress, render_namespace
from gitops_patcher.render import AgentRun, agent_env, render_run
from gitops_patcher.settings import PruneSettings, RenderSettings, RepositorySettings, RunSettings, ScheduleSettings
from pathops_contracts.agent_job import load_agent_job
from pathops_contracts.errors import InvalidInput
from pathops_runtime.git_env import GitIdentity, git_environment
from pathops_runtime.logs import mask_secret

# GitPython: only for the commands that change a repository, not for `render`.
if TYPE_CHECKING:
    from gitops_patcher.gitops_repository import GitOpsRepository

log = logging.getLogger(__name__)

# The run values an agent's description may name, by their gitops-patcher option (the Jenkins job
# parameter) -> the RunSettings field holding it (tests/test_agent_jobs.py holds this to the CLI's options).
RUN_VALUE_OPTIONS = {
    "--app": "app", "--env": "environment", "--incident-id": "incident_id", "--target-namespace": "target_namespace",
    "--time-window": "time_window", "--workload": "workload", "--label-selector": "label_selector",
    "--alert-starts-at": "alert_starts_at", "--snapshot-id": "snapshot_id", "--verification-id": "verification_id",
    "--expected-commit-sha": "expected_commit_sha",
}


def agent_run(settings: RunSettings) -> AgentRun:
    """The run the settings ask for, with the agent's own environment as its description names it;
    a verification spec is read and checked."""
    s = dataclasses.replace(settings, target_namespace=settings.target_namespace
                            or f"{settings.app}-{settings.environment}")
    if s.incident_id is None and s.agent != "verification-agent":
        raise InvalidInput(f"{s.agent} needs --incident-id (INCIDENT_ID)")
    spec_text = None
    if s.agent == "fix-agent":
        if s.snapshot_id is None or not s.snapshot_id.startswith("snap-"):
            raise InvalidInput("fix-agent needs --snapshot-id snap-<32 hex>")
    elif s.agent == "verification-agent":
        if s.verification_id is None or (s.verification_spec is None) == (s.patch_id is None):
            raise InvalidInput("verification-agent needs --verification-id and one of --verification-spec "
                               "(the app's default branch) or --patch-id (the spec the patch bundle carries)")
        if s.environment != "preflight":
            raise InvalidInput("verification-agent runs against preflight only")
        spec_text = _verification_spec(s)
    job = load_agent_job(s.agent)
    by_option = {flag: getattr(s, name) for flag, name in RUN_VALUE_OPTIONS.items()}
    return AgentRun(
        agent=s.agent, app=s.app, env=s.environment, incident_id=s.incident_id, image=s.image,
        agents_namespace=s.agents_namespace or f"{s.app}-agents", target_namespace=str(s.target_namespace),
        minio_endpoint=s.minio_endpoint, minio_bucket=s.minio_bucket,
        callback_url=s.control_plane_url.rstrip("/") + job.callback_path,
        agent_env=agent_env(job, by_option),
        verification_spec=spec_text, read_node_conditions=s.read_node_conditions and bool(job.node_condition_rules),
    )


def _verification_spec(settings: RunSettings) -> str:
    """The spec the patch bundle carries (sha256-verified), or the one under the spec root (schema-checked)."""
    if settings.patch_id is not None:
        if not settings.patch_id.startswith("patch-"):
            raise InvalidInput("--patch-id must be patch-<32 hex>")
        from gitops_patcher.bundle_spec import read_bundle_spec  # boto3: only when a bundle is read
        from pathops_runtime.artifact_store import ArtifactStore, StoreSettings

        mask_secret(os.environ.get("AWS_SECRET_ACCESS_KEY"))
        endpoint = settings.patch_store_endpoint or settings.minio_endpoint
        return read_bundle_spec(ArtifactStore.from_settings(StoreSettings(endpoint, settings.minio_bucket)),
                                settings.patch_id)
    assert settings.verification_spec is not None
    from gitops_patcher.spec_source import read_verification_spec  # jsonschema: only when a spec is read

    return read_verification_spec(settings.verification_spec_root, settings.verification_spec)


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class RenderResult:
    run: str
    path: str
    files: list[str]


def render(settings: RenderSettings) -> RenderResult:
    """Write the manifests of one agent run to <output_dir>/<run name>/, and nothing else."""
    rendered = render_run(agent_run(settings.run), now_utc())
    target = settings.output_dir / rendered.name
    target.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.files.items():
        (target / name).write_text(text, encoding="utf-8")
    return RenderResult(rendered.name, str(target), sorted(rendered.files))


@contextmanager
def open_repository(settings: RepositorySettings) -> Iterator[GitOpsRepository]:
    """A fresh clone of the GitOps repository in a scratch folder that goes when the block ends."""
    from gitops_patcher.gitops_repository import GitOpsRepository

    mask_secret(settings.token)
    env = git_environment(GitIdentity(settings.author_name, settings.author_email), token=settings.token,
                          token_url=settings.url)
    if settings.scratch_dir is not None:
        settings.scratch_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gitops-patcher-", dir=settings.scratch_dir) as scratch:
        yield GitOpsRepository(settings.url, settings.branch, Path(scratch) / "gitops", env)


def schedule(settings: ScheduleSettings) -> ScheduleResult:
    """Commit one agent run to the GitOps repository and push it; a second identical call changes nothing."""
    with open_repository(settings.repository) as repository:
        run = agent_run(settings.run)
        egress = settings.egress
        allowed = Egress(control_plane=Destination.parse(egress.control_plane),
                         kube_api=Destination.parse(egress.kube_api), minio=Destination.parse(egress.minio),
                         llm=Destination.parse(egress.llm) if egress.llm else None,
                         preflight_port=egress.preflight_port)
        return schedule_in(repository, run, now_utc(), allowed, f"{run.app}-preflight")


def prune(settings: PruneSettings, now: datetime | None = None) -> PruneResult:
    """Remove finished runs older than older_than from Git; Argo CD's prune deletes their Jobs."""
    with open_repository(settings.repository) as repository:
        return prune_in(repository, now or datetime.now(UTC), settings.older_than, settings.app)


@dataclass(frozen=True)
class ScheduleResult:
    run: str
    path: str
    changed: bool
    commit: str | None
    retries: int


def schedule_in(repository: GitOpsRepository, run: AgentRun, scheduled_at: str, egress: Egress,
                preflight_namespace: str) -> ScheduleResult:
    """One commit: the run's folder and the files of the namespace the agents run in."""
    rendered = render_run(run, scheduled_at)
    namespace_files = render_namespace(run.app, run.agents_namespace, preflight_namespace, egress)
    message = (
        f"Schedule {run.agent} for {run.subject} ({run.app}, {run.env})\n\n"
        f"Runs {run.image} in {run.agents_namespace} against {run.target_namespace}.\n\n"
        + (f"Incident-Id: {run.incident_id}\n" if run.incident_id else "")
        + f"Agent: {run.agent}\nRun-Id: {run.name}\n"
    )
    result = repository.commit_and_push(
        lambda root: add_run(root, run.app, rendered.name, rendered.files, namespace_files), message
    )
    path = str(run_dir(Path(), run.app, rendered.name))
    return ScheduleResult(rendered.name, path, result.changed, result.commit, result.retries)


@dataclass(frozen=True)
class PruneResult:
    pruned: list[str]
    kept: list[str]
    commit: str | None


def prune_in(repository: GitOpsRepository, now: datetime, older_than: timedelta, app: str | None) -> PruneResult:
    pruned: list[str] = []
    kept: list[str] = []

    def change(root: Path) -> bool:
        pruned.clear()
        kept.clear()
        agents = root / "agents"
        apps = [app] if app else sorted(p.name for p in agents.iterdir() if p.is_dir()) if agents.exists() else []
        for name in apps:
            for run_name in list_runs(root, name):
                age = read_run_age(app_dir(root, name) / "runs" / run_name)
                if age is not None and age.prunable(now, older_than):
                    remove_run(root, name, run_name)
                    pruned.append(f"{name}/{run_name}")
                else:
                    kept.append(f"{name}/{run_name}")
        return bool(pruned)

    def message() -> str:
        listing = "\n".join(f"- {run}" for run in pruned)
        return f"Prune {len(pruned)} finished agent runs\n\n{listing}\n"

    result = repository.commit_and_push(change, message)
    if result.changed:
        log.info("pruned runs", extra={"runs": len(pruned)})
    return PruneResult(list(pruned), list(kept), result.commit)
