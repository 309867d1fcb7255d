"""The source repository as mr-creator needs it: one commit fetched, a patch applied, a branch pushed.

Plain `git` processes, one per question (GitPython cost a tenth of a second to import and ran
`git version` twice before the first command: mr-creator's budget is a tenth of a clone).
"""

from __future__ import annotations

import logging
import subprocess
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from pathops_contracts.errors import ContractViolation, Forbidden, NegativeOutcome, UpstreamError
from pathops_contracts.patch_policy import FileChange
from pathops_runtime.git_env import auth_failure_hint, changes_from_diffs, is_auth_failure, stderr_reason
from pathops_runtime.source_commit import fetch_commit

log = logging.getLogger(__name__)


# A scratch clone lives for one run: git's automatic housekeeping after fetch and am would only
# fork more processes (each `git` costs milliseconds; mr-creator's budget is a tenth of a clone).
SCRATCH_CONFIG = {"maintenance.auto": "false", "gc.auto": "0"}


def scratch_environment(env: Mapping[str, str]) -> dict[str, str]:
    """env with SCRATCH_CONFIG added to its GIT_CONFIG_COUNT variables (git_environment's)."""
    scratch = dict(env)
    count = int(scratch.get("GIT_CONFIG_COUNT", "0"))
    for offset, (key, value) in enumerate(SCRATCH_CONFIG.items()):
        scratch[f"GIT_CONFIG_KEY_{count + offset}"] = key
        scratch[f"GIT_CONFIG_VALUE_{count + offset}"] = value
    scratch["GIT_CONFIG_COUNT"] = str(count + len(SCRATCH_CONFIG))
    return scratch


def start_fetch(remote_url: str, sha: str, workdir: Path, env: Mapping[str, str]) -> Future[SourceRepository]:
    """`SourceRepository.fetch_commit` on a thread of its own ("git") from now on: the caller goes on
    (loads the rest of the tool, reads the bundle, asks GitLab) while git works. Wait for the future
    before the folder of `workdir` goes."""
    future: Future[SourceRepository] = Future()

    def fetch() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(SourceRepository.fetch_commit(remote_url, sha, workdir, env))
        except BaseException as error:  # noqa: BLE001 - handed to whoever waits for the fetch
            future.set_exception(error)

    threading.Thread(target=fetch, name="git").start()
    return future


class GitFailed(Exception):
    """A git command exited non-zero; `stderr` is what it said."""

    def __init__(self, args: tuple[str, ...], status: int, stderr: str) -> None:
        super().__init__(f"git {args[0]} exited {status}: {stderr_reason(stderr)}")
        self.status = status
        self.stderr = stderr


@dataclass(frozen=True)
class Git:
    """`git` in one work tree, with one environment (the token scoped to the remote, SCRATCH_CONFIG)."""

    workdir: Path
    env: Mapping[str, str] = field(repr=False)  # holds the token's header: never in a repr, a log or an error

    def run(self, *args: str, check: bool = True,
            env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
        done = subprocess.run(["git", *args], cwd=self.workdir, env=dict(env if env is not None else self.env),
                              capture_output=True, stdin=subprocess.DEVNULL, check=False)
        if check and done.returncode != 0:
            raise GitFailed(args, done.returncode, done.stderr.decode("utf-8", errors="replace"))
        return done

    def text(self, *args: str, env: Mapping[str, str] | None = None) -> str:
        """stdout of a command that must succeed, decoded, without its last newline."""
        return self.run(*args, env=env).stdout.decode("utf-8", errors="replace").removesuffix("\n")


def _failure(error: GitFailed, action: str) -> Exception:
    reason = stderr_reason(error.stderr) or str(error)
    if is_auth_failure(reason):
        return Forbidden(f"git {action} was refused: {auth_failure_hint(reason)}")
    return UpstreamError(f"git {action} failed: {reason}")


@dataclass(frozen=True)
class PatchCommit:
    """One commit of the applied mbox, with the mail's author and message (untrusted)."""

    sha: str
    author: str
    date: str
    message: str


@dataclass
class SourceRepository:
    """A scratch clone holding only what one change set needs."""

    git: Git
    remote_url: str
    # History fetches (deepen_to) by their arguments: started on a thread, or running in the caller.
    _history: dict[tuple[str, str, int], Future[bool]] = field(default_factory=dict, init=False, repr=False)
    _threads: list[threading.Thread] = field(default_factory=list, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _closed: bool = field(default=False, init=False, repr=False)

    @classmethod
    def fetch_commit(cls, remote_url: str, sha: str, workdir: Path, env: Mapping[str, str]) -> SourceRepository:
        """Exactly one commit (depth 1), checked out detached: the shared fetch and its errors
        (`pathops_runtime.source_commit`), so a missing commit reads and exits as in build-image."""
        scratch = scratch_environment(env)
        fetch_commit(remote_url, sha, workdir, scratch)
        return cls(Git(workdir, scratch), remote_url)

    def apply_mbox(self, mbox: Path) -> None:
        """`git am --3way` the patch: one commit per mail, still with the mail's author (see `rewrite`)."""
        try:
            # The committer date follows the author date so that the same patch on the same base
            # always gives the same commit: a rerun has nothing new to push.
            self.git.run("am", "--3way", "--keep-cr", "--committer-date-is-author-date", str(mbox))
        except GitFailed as error:
            self.git.run("am", "--abort", check=False)
            lines = (error.stderr or "").strip().splitlines()
            reason = next((line for line in lines if "patch failed" in line or "conflict" in line.lower()), None)
            raise NegativeOutcome(f"the patch does not apply: {reason or (lines[-1] if lines else error)}") from error

    def changes(self, base: str, head: str = "HEAD") -> list[FileChange]:
        """The files changed from base to head with modes, binary flag and line counts."""
        return changes_from_diffs(self.git.text("diff", "--raw", "-z", "--no-renames", "--no-abbrev", base, head),
                                  self.git.text("diff", "--numstat", "-z", "--no-renames", base, head))

    def commits(self, base: str) -> list[PatchCommit]:
        """The commits `git am` made on base, oldest first, as the mbox's mails gave them (one `git log`)."""
        # Each record starts with a NUL (never in a commit header or message) so messages may hold newlines.
        out = self.git.run("log", "--reverse", "--first-parent", "--date=raw",
                           "--format=%x00%H%x00%an%x00%ae%x00%ad%x00%B", f"{base}..HEAD").stdout.decode(
                               "utf-8", errors="replace")
        fields = out.split("\0")[1:]
        found = []
        for index in range(0, len(fields) - len(fields) % 5, 5):
            sha, name, email, date, message = fields[index:index + 5]
            found.append(PatchCommit(sha, f"{name} <{email}>", date, message.removesuffix("\n")))
        return found

    def read_at(self, sha: str, path: str, max_bytes: int) -> bytes | None:
        """A file's bytes at a commit; None when there is no such file (or it is not a file)."""
        spec = f"{sha}:{path}"
        kind = self.git.run("cat-file", "-t", spec, check=False)
        if kind.returncode != 0 or kind.stdout.strip() != b"blob":
            return None
        if int(self.git.text("cat-file", "-s", spec)) > max_bytes:
            raise ContractViolation(f"{path} at {sha[:12]} is over {max_bytes} bytes; cannot tell what it runs")
        return self.git.run("cat-file", "blob", spec).stdout

    def files_at(self, sha: str) -> list[str]:
        return [path for path in self.git.text("ls-tree", "-r", "-z", "--name-only", sha).split("\0") if path]

    def rewrite(self, base: str, commits: list[PatchCommit], message: Callable[[PatchCommit], str]) -> str:
        """The same trees as new commits by this repository's git identity (the autopilot's), as
        author and committer, each dated as its mail was (reproducible), with `message(commit)`;
        checks out and returns the new head."""
        parent = base
        for commit in commits:
            dated = {**self.git.env, "GIT_AUTHOR_DATE": commit.date, "GIT_COMMITTER_DATE": commit.date}
            parent = self.git.text("commit-tree", f"{commit.sha}^{{tree}}", "-p", parent, "-m", message(commit),
                                   env=dated).strip()
        return parent

    def has_commit(self, sha: str) -> bool:
        return self.git.run("cat-file", "-e", f"{sha}^{{commit}}", check=False).returncode == 0

    def start_deepening(self, sha: str, tip: str, max_commits: int) -> None:
        """Run `deepen_to(sha, tip, max_commits)` on a thread from now on, so that the history is fetched
        while the caller goes on; `deepen_to` with the same arguments then waits for that answer.

        The history fetch makes the clone a partial one (missing blobs are fetched on demand): start it
        only once no command of the run may apply a patch (`git am --3way` would then fetch the blobs
        it lacks instead of refusing). Nothing starts after `finish_background`."""
        future = self._claim((sha, tip, max_commits))
        if future is None:
            return
        thread = threading.Thread(target=self._deepen_into, args=(future, sha, tip, max_commits),
                                  name="history-fetch")
        with self._lock:
            if self._closed:
                future.set_result(False)
                return
            self._threads.append(thread)
            thread.start()

    def finish_background(self) -> None:
        """Wait for the history fetches started, and start none from now on (the work tree may go)."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        for thread in threads:
            thread.join()

    def deepen_to(self, sha: str, tip: str, max_commits: int) -> bool:
        """The answer of the history fetch of these arguments (`start_deepening`), else of `_deepen` now."""
        key = (sha, tip, max_commits)
        future = self._claim(key)
        if future is not None:
            self._deepen_into(future, sha, tip, max_commits)
        return self._history[key].result()

    def _claim(self, key: tuple[str, str, int]) -> Future[bool] | None:
        """A new future for the fetch of these arguments, to fill; None when one is already there."""
        with self._lock:
            if key in self._history:
                return None
            future: Future[bool] = Future()
            self._history[key] = future
            return future

    def _deepen_into(self, future: Future[bool], sha: str, tip: str, max_commits: int) -> None:
        try:
            future.set_result(self._deepen(sha, tip, max_commits))
        except BaseException as error:  # noqa: BLE001 - handed to whoever asks deepen_to
            future.set_exception(error)

    def _deepen(self, sha: str, tip: str, max_commits: int) -> bool:
        """Deepen the shallow history of `tip` step by step until `sha` is in it (True), or
        `max_commits` are fetched, or the history ends (False). Only that range is fetched, and of it
        only commits and trees (`--filter=blob:none`): blame fetches the few blobs it reads on demand.
        A server without partial fetches ignores the filter (git warns) and sends the blobs too."""
        depth = 16
        fetched = 1
        while not self.has_commit(sha):
            if fetched >= max_commits:
                return False
            step = min(depth, max_commits - fetched)
            before = self._shallow_boundary()
            try:
                self.git.run("fetch", "-q", f"--deepen={step}", "--filter=blob:none", "--no-tags", "origin", tip)
            except GitFailed as error:
                raise _failure(error, f"fetch of the history of {tip[:12]}") from error
            fetched += step
            depth *= 4
            after = self._shallow_boundary()
            if after is None or after == before:  # the whole history is here: nothing more to fetch
                return self.has_commit(sha)
        return True

    def _shallow_boundary(self) -> bytes | None:
        """The commits where the shallow history is cut (.git/shallow), None once the history is whole.

        Read from the file rather than counted with `git rev-list`: one process less per step."""
        try:
            return (self.git.workdir / ".git" / "shallow").read_bytes()
        except FileNotFoundError:
            return None

    def range_commits(self, previous: str, current: str, paths: list[str]) -> list[str]:
        """Commits of previous..current (newest first), only those touching `paths` when given."""
        args = ["--first-parent", f"{previous}..{current}"]
        try:
            return self.git.text("rev-list", *args, *(["--", *paths] if paths else [])).split()
        except GitFailed as error:
            raise _failure(error, f"rev-list {previous[:12]}..{current[:12]}") from error

    def blame(self, sha: str, path: str, first: int, last: int) -> set[str]:
        """The commits that last changed lines first..last of path at sha (none past the file's end)."""
        try:
            out = self.git.text("blame", "--porcelain", "-L", f"{first},{last}", sha, "--", path)
        except GitFailed:  # the range is past the end of the file (an insertion at its end)
            return set()
        return {line.split(" ", 1)[0] for line in out.splitlines()
                if len(line) > 40 and all(c in "0123456789abcdef" for c in line[:40]) and line[40] == " "}

    def old_line_ranges(self, base: str, head: str = "HEAD") -> dict[str, list[tuple[int, int]]]:
        """Per file existing at base, the line ranges of base that the change from base to head replaces
        or inserts next to (an insertion blames its neighbour lines)."""
        try:
            out = self.git.text("diff", "-U0", "--no-color", "--no-ext-diff", "--no-renames", base, head)
        except GitFailed as error:
            raise _failure(error, "diff of the fix") from error
        ranges: dict[str, list[tuple[int, int]]] = {}
        path: str | None = None
        for line in out.splitlines():
            if line.startswith("--- "):
                path = line[6:] if line.startswith("--- a/") else None
            elif line.startswith("@@ ") and path is not None:
                old = line.split(" ")[1][1:]
                start_text, _, count_text = old.partition(",")
                start, count = int(start_text), int(count_text) if count_text else 1
                ranges.setdefault(path, []).append((start, start + count - 1) if count else (max(start, 1), start + 1))
        return ranges

    def commit_summary(self, sha: str) -> tuple[str, str]:
        """(subject, author name) of a commit."""
        try:
            subject, _, author = self.git.text("log", "-1", "--format=%s%x00%an", sha).partition("\0")
        except GitFailed as error:
            raise _failure(error, f"log of {sha[:12]}") from error
        return subject, author

    def remote_head(self, branch: str) -> str | None:
        try:
            listing = self.git.text("ls-remote", "--heads", "origin", f"refs/heads/{branch}")
        except GitFailed as error:
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
            self.git.run("push", *args)
        except GitFailed as error:
            if "stale info" in str(error.stderr) or "rejected" in str(error.stderr):
                raise NegativeOutcome(f"branch {branch} moved while pushing; nothing was overwritten") from error
            raise _failure(error, f"push of {branch}") from error
        log.info("branch pushed", extra={"branch": branch, "head": head})
