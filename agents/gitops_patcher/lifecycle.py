"""When a run's manifests may leave Git.

Jenkins cannot see the cluster, so "finished" is decided from Git alone: a run is
finished once its Job's activeDeadlineSeconds (which bounds every retry of the Job)
plus a grace period have passed since it was scheduled. Prune removes only runs that
are both finished and older than --older-than; Argo CD's prune then deletes the Job.
Jobs carry no ttlSecondsAfterFinished, so Kubernetes never deletes a Job whose
manifest is still in Git (which Argo CD's self-heal would re-create and run again).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ruamel.yaml import YAML

from gitops_patcher.render import SCHEDULED_AT
from pathops_contracts.errors import InvalidInput

GRACE = timedelta(minutes=5)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    parts = re.findall(r"([0-9]+)([smhd])", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise InvalidInput(f"duration {text!r} is not like 30m, 12h or 7d")
    try:
        return sum((timedelta(**{_UNITS[unit]: int(number)}) for number, unit in parts), timedelta())
    except OverflowError as error:
        raise InvalidInput(f"duration {text!r} is longer than timedelta allows ({timedelta.max.days} days)") from error


@dataclass(frozen=True)
class RunAge:
    name: str
    scheduled_at: datetime
    deadline: timedelta

    def finished(self, now: datetime) -> bool:
        return now - self.scheduled_at >= self.deadline + GRACE

    def prunable(self, now: datetime, older_than: timedelta) -> bool:
        return self.finished(now) and now - self.scheduled_at >= older_than


def read_run_age(run_folder: Path) -> RunAge | None:
    """Age of a run from its job.yaml; None when the folder is not a run we wrote."""
    job_file = run_folder / "job.yaml"
    if not job_file.exists():
        return None
    job = YAML(typ="safe").load(job_file.read_text(encoding="utf-8"))
    try:
        stamp = job["metadata"]["annotations"][SCHEDULED_AT]
        deadline = int(job["spec"]["activeDeadlineSeconds"])
    except (KeyError, TypeError, ValueError):
        return None
    scheduled = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return RunAge(run_folder.name, scheduled, timedelta(seconds=deadline))
