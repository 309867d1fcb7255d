"""The source repository as mr-creator needs it: one commit fetched, a patch applied, a branch pushed."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from git import GitCommandError, Repo

from pathops_contracts.errors import ContractViolation, Forbidden, NegativeOutcome, UpstreamError
from pathops_contracts.git_env import auth_failure_hint, changes_between, git_error_reason, is_auth_failure
from pathops_contracts.patch_policy import FileChange

log = logging.getLogger(__name__)


def _failure(error: GitCommandError, action: str) -> Exception:
    reason = git_error_reason(error)
    if is_auth_failure(reason):
        return Forbidden(f"git {action} was refused: {auth_failure_hint(reason)}")
    return UpstreamError(f"git {action} failed: {reason}")


@dataclass
class SourceRepository:
    """A scratch clone holding only what one change set needs."""

    repo: Repo
    remote_url: str

    @classmethod
    def fetch_commit(cls, remote_url: str, sha: str, workdir: Path, env: Mapping[str, str]) -> SourceRepository:
        """Init an empty repo and fetch exactly one commit (depth 1), then check it out detached."""
        repo = Repo.init(workdir)
        repo.git.update_environment(**env)
        repo.git.remote("add", "origin", remote_url)
        try:
            repo.git.fetch("--depth=1", "--no-tags", "origin", sha)
        except GitCommandError as error:
            if "not our ref" in str(error.stderr) or "couldn't find remote ref" in str(error.stderr):
                raise ContractViolation(f"commit {sha} does not exist in {remote_url}") from error
            raise _failure(error, f"fetch of {sha}") from error
        repo.git.checkout("--detach", sha)
        return cls(repo, remote_url)

    def apply_mbox(self, mbox: Path) -> str:
        """`git am --3way` the patch; the commit keeps the patch's author and message."""
        try:
            # The committer date follows the author date so that the same patch on the same base
            # always gives the same commit: a rerun has nothing new to push.
            self.repo.git.am("--3way", "--keep-cr", "--committer-date-is-author-date", str(mbox))
        except GitCommandError as error:
            self.repo.git.am("--abort", with_exceptions=False)
            lines = (error.stderr or "").strip().splitlines()
            reason = next((line for line in lines if "patch failed" in line or "conflict" in line.lower()), None)
            raise NegativeOutcome(f"the patch does not apply: {reason or (lines[-1] if lines else error)}") from error
        return self.repo.head.commit.hexsha

    def changes(self, base: str) -> list[FileChange]:
        return changes_between(self.repo, base, "HEAD")

    def remote_head(self, branch: str) -> str | None:
        try:
            listing = str(self.repo.git.ls_remote("--heads", "origin", f"refs/heads/{branch}"))
        except GitCommandError as error:
            raise _failure(error, "ls-remote") from error
        for line in listing.splitlines():
            sha, _, ref = line.partition("\t")
            if ref == f"refs/heads/{branch}":
                return sha
        return None

    def push(self, head: str, branch: str, expected_remote: str | None) -> None:
        """Push head to branch; with expected_remote, only if the branch is still there (lease)."""
        refspec = f"{head}:refs/heads/{branch}"
        args = ["--porcelain", "origin", refspec]
        if expected_remote is not None:
            args.insert(0, f"--force-with-lease=refs/heads/{branch}:{expected_remote}")
        try:
            self.repo.git.push(*args)
        except GitCommandError as error:
            if "stale info" in str(error.stderr) or "rejected" in str(error.stderr):
                raise NegativeOutcome(f"branch {branch} moved while pushing; nothing was overwritten") from error
            raise _failure(error, f"push of {branch}") from error
        log.info("branch pushed", extra={"branch": branch, "head": head})
