"""schedule and prune: the two changes gitops-patcher makes to a GitOps repository."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from gitops_patcher.gitops_repository import GitOpsRepository
from gitops_patcher.layout import add_run, app_dir, list_runs, remove_run, run_dir
from gitops_patcher.lifecycle import read_run_age
from gitops_patcher.namespace import Egress, render_namespace
from gitops_patcher.render import AgentRun, render_run

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScheduleResult:
    run: str
    path: str
    changed: bool
    commit: str | None
    retries: int


def schedule(run: AgentRun, repository: GitOpsRepository, scheduled_at: str, egress: Egress,
             preflight_namespace: str) -> ScheduleResult:
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


def prune(repository: GitOpsRepository, now: datetime, older_than: timedelta, app: str | None) -> PruneResult:
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
