"""The GitOps repository: a shallow clone, one commit per change, pushed with bounded retries.

A push rejected because the branch moved is handled by fetching the new tip, resetting
onto it and re-applying the change (a semantic rebase: the change is a function of the
tree, so it re-applies cleanly where a textual rebase of the shared kustomization.yaml
would conflict), then pushing again, up to `attempts` times with jittered backoff.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from git import GitCommandError, Repo

from pathops_contracts.errors import Forbidden, UpstreamError
from pathops_runtime.git_env import auth_failure_hint, git_error_reason, is_auth_failure

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PushResult:
    changed: bool
    commit: str | None
    retries: int


def _rejected(error: GitCommandError) -> bool:
    text = str(error.stderr)
    return any(word in text for word in ("rejected", "non-fast-forward", "fetch first", "cannot lock ref",
                                          "failed to update ref", "stale info"))


class GitOpsRepository:
    def __init__(self, url: str, branch: str, workdir: Path, env: Mapping[str, str]) -> None:
        self.url = url
        self.branch = branch
        self.workdir = workdir
        self._env = dict(env)
        try:
            self.repo = Repo.clone_from(url, workdir, env=self._env, depth=1, single_branch=True, branch=branch,
                                        no_tags=True)
        except GitCommandError as error:
            raise self._failure(error, "clone") from error
        self.repo.git.update_environment(**self._env)

    @staticmethod
    def _failure(error: GitCommandError, action: str) -> Exception:
        reason = git_error_reason(error)
        if is_auth_failure(reason):
            return Forbidden(f"GitOps repository refused {action}: {auth_failure_hint(reason)}")
        return UpstreamError(f"GitOps repository {action} failed: {reason}")

    def _refresh(self) -> None:
        try:
            self.repo.git.fetch("--depth=1", "--no-tags", "origin", self.branch)
        except GitCommandError as error:
            raise self._failure(error, "fetch") from error
        self.repo.git.reset("--hard", "FETCH_HEAD")
        self.repo.git.clean("-fdx")

    def commit_and_push(self, change: Callable[[Path], bool], message: str | Callable[[], str], attempts: int = 30,
                        backoff_seconds: float = 0.2) -> PushResult:
        """Apply change (returns False when there is nothing to do), commit and push, retrying races.

        message may be a callable, read after change ran (so it can describe what changed).
        """
        for attempt in range(attempts):
            if attempt:
                self._refresh()
            if not change(self.workdir):
                return PushResult(False, None, attempt)
            self.repo.git.add("-A")
            if not self.repo.is_dirty(index=True, working_tree=False, untracked_files=False):
                return PushResult(False, None, attempt)
            self.repo.git.commit("-q", "-m", message if isinstance(message, str) else message())
            commit = self.repo.head.commit.hexsha
            try:
                self.repo.git.push("--porcelain", "origin", f"HEAD:refs/heads/{self.branch}")
            except GitCommandError as error:
                if not _rejected(error):
                    raise self._failure(error, "push") from error
                delay = random.uniform(0, backoff_seconds * (2 ** min(attempt, 5)))  # noqa: S311 -- jitter
                log.info("push rejected, branch moved; re-applying on the new tip",
                         extra={"attempt": attempt + 1, "wait_s": round(delay, 3)})
                time.sleep(delay)
                continue
            log.info("gitops change pushed", extra={"commit": commit, "retries": attempt})
            return PushResult(True, commit, attempt)
        raise UpstreamError(f"push to {self.branch} still rejected after {attempts} attempts; the branch keeps moving")
