"""Which commit broke it: blame, between the last healthy rollout and the faulty one, the lines the fix touches.

The snapshot's rollout diff names the commit the previous ReplicaSet ran and the one the
deployed ReplicaSet runs. Only that range of history is fetched (deepened from the shallow
clone step by step, bounded), then the lines of the files the fix replaces are blamed:
a blamed commit inside the range is the culprit. When no line of the fix was changed in the
range, the commits of the range that touched the same files are named as suspects, and
when even that is not possible the story says why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from pathops_contracts.errors import UpstreamError

log = logging.getLogger(__name__)

MAX_HISTORY = 1000  # commits fetched between the two rollouts, at most
MAX_SHOWN = 5


class History(Protocol):
    """What the search needs of the source repository (SourceRepository)."""

    def deepen_to(self, sha: str, tip: str, max_commits: int) -> bool: ...
    def range_commits(self, previous: str, current: str, paths: list[str]) -> list[str]: ...
    def blame(self, sha: str, path: str, first: int, last: int) -> set[str]: ...
    def old_line_ranges(self, base: str, head: str = "HEAD") -> dict[str, list[tuple[int, int]]]: ...
    def commit_summary(self, sha: str) -> tuple[str, str]: ...


@dataclass(frozen=True)
class SuspectCommit:
    sha: str
    subject: str  # untrusted: written by whoever committed
    author: str  # untrusted


@dataclass(frozen=True)
class CulpritFinding:
    """The answer: culprits (blamed lines), else suspects (same files), else why not."""

    previous: str | None
    current: str | None
    commits: tuple[SuspectCommit, ...] = ()
    blamed: bool = False  # True: the fix replaces lines these commits wrote
    range_size: int = 0
    reason: str = ""  # why no commit could be named


def find_culprit(history: History, previous: str | None, current: str | None, base: str, fixed: str
                 ) -> CulpritFinding:
    """Search previous..current (current defaults to the patch's base) for the commit that wrote the
    lines of base that the fix (base..fixed) replaces."""
    current = current or base
    if previous is None:
        return CulpritFinding(None, current, reason="the snapshot names no previous rollout with a known source "
                                                    "commit (first rollout, or no commit annotation on its ReplicaSet)")
    if previous == current:
        return CulpritFinding(previous, current, reason="the previous and the deployed rollout run the same commit: "
                                                        "the fault is not in the source history")
    try:
        if not history.deepen_to(previous, current, MAX_HISTORY):
            return CulpritFinding(previous, current, reason=f"commit {previous[:12]} of the previous rollout is not "
                                                            f"within {MAX_HISTORY} commits before {current[:12]}")
        in_range = history.range_commits(previous, current, [])
        ranges = history.old_line_ranges(base, fixed)
        blamed: set[str] = set()
        for path, spans in ranges.items():
            for first, last in spans:
                blamed |= history.blame(base, path, first, last)
        culprits = [sha for sha in in_range if sha in blamed]
        if culprits:
            return CulpritFinding(previous, current, _described(history, culprits), True, len(in_range))
        suspects = history.range_commits(previous, current, sorted(ranges))
        if suspects:
            return CulpritFinding(previous, current, _described(history, suspects), False, len(in_range))
    except UpstreamError as error:
        log.warning("could not search the history between the rollouts", extra={"reason": str(error)})
        return CulpritFinding(previous, current, reason=f"the history could not be fetched: {error}")
    return CulpritFinding(previous, current, range_size=len(in_range),
                          reason=f"none of the {len(in_range)} commit(s) between the rollouts changed the lines or "
                                 "files the fix touches")


def _described(history: History, shas: list[str]) -> tuple[SuspectCommit, ...]:
    return tuple(SuspectCommit(sha, *history.commit_summary(sha)) for sha in shas[:MAX_SHOWN])
