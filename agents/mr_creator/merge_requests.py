"""GitLab merge requests through python-gitlab: find, create, update, comment; who the tool is."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import gitlab
import gitlab.exceptions as gle

from pathops_contracts.errors import Forbidden, InvalidInput, UpstreamError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MergeRequest:
    iid: int
    web_url: str
    title: str
    description: str
    labels: tuple[str, ...]
    author_id: int | None = None
    source_branch: str = ""
    state: str = "opened"


@dataclass(frozen=True)
class Note:
    id: int
    body: str
    author_id: int | None


@dataclass(frozen=True)
class ProjectInfo:
    default_branch: str
    http_url_to_repo: str
    ci_config_path: str | None = None
    web_url: str = ""  # links to commits and blobs in the MR body

    def source_url(self, git_url: str | None) -> str:
        """Where the source is fetched from and pushed to: the URL the operator names, else the project's."""
        return git_url or self.http_url_to_repo


@contextmanager
def _translated(action: str) -> Iterator[None]:
    try:
        yield
    except gle.GitlabAuthenticationError as error:
        raise Forbidden(f"GitLab refused the token while trying to {action} (HTTP {error.response_code}): "
                        "set GITLAB_TOKEN to a valid token with the api scope") from error
    except gle.GitlabError as error:
        if error.response_code in (401, 403):
            raise Forbidden(f"GitLab refused to {action}: HTTP {error.response_code} (GITLAB_TOKEN's user needs the "
                            "Developer role on the project)") from error
        raise UpstreamError(f"GitLab failed to {action}: HTTP {error.response_code} {error.error_message}") from error
    except (OSError, ValueError) as error:  # requests' connection errors derive from OSError
        raise UpstreamError(f"GitLab unreachable while trying to {action}: {error}") from error


class _BoundedGitlab(gitlab.Gitlab):
    """python-gitlab retries 5xx and 429 itself, 10 times by default (about 100 s of backoff
    per request); this bounds the number of retries of every request."""

    def __init__(self, url: str, token: str, timeout: float, max_retries: int) -> None:
        super().__init__(url, private_token=token, retry_transient_errors=True, timeout=timeout)
        self._pathops_max_retries = max_retries

    def http_request(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("max_retries", self._pathops_max_retries)
        return super().http_request(*args, **kwargs)


class GitLabProject:
    """One project's merge requests."""

    def __init__(self, url: str, token: str, project_path: str, retries: int = 5, timeout: float = 30) -> None:
        self._gl = _BoundedGitlab(url, token, timeout, retries)
        with _translated(f"look up project {project_path}"):
            try:
                self._project = self._gl.projects.get(project_path)
            except gle.GitlabGetError as error:
                if error.response_code == 404:  # GitLab says 404 too for a project the token may not see
                    raise InvalidInput(f"GitLab at {url} has no project {project_path} (or GITLAB_TOKEN's user "
                                       "cannot see it)") from error
                raise
        self._tool_user: tuple[int | None] | None = None

    def info(self) -> ProjectInfo:
        ci_config_path = getattr(self._project, "ci_config_path", None)
        web_url = getattr(self._project, "web_url", None)
        return ProjectInfo(str(self._project.default_branch), str(self._project.http_url_to_repo),
                           str(ci_config_path) if ci_config_path else None,
                           str(web_url).rstrip("/") if isinstance(web_url, str) and web_url.startswith(("https://", "http://"))
                           else "")

    def tool_user_id(self) -> int | None:
        """The id of the account behind the token (`GET /user`), or None when GitLab will not say."""
        if self._tool_user is None:
            try:
                with _translated("look up the token's user"):
                    user = self._gl.http_get("/user")  # what gl.auth() reads, without its URL warnings
                user_id = user.get("id") if isinstance(user, dict) else None
                self._tool_user = (user_id if isinstance(user_id, int) else None,)
            except Forbidden:  # e.g. a token without read_user: the marker alone then decides
                log.info("GitLab does not say whose token this is; trusting the signed marker alone")
                self._tool_user = (None,)
        return self._tool_user[0]

    def merge_base(self, commit: str, branch: str) -> str | None:
        """The common ancestor of commit and branch's head as GitLab computes it over the project's full
        history (`GET repository/merge_base`); None when GitLab knows no such commit or ancestor (400, 404)."""
        with _translated(f"compute the merge base of {commit[:12]} and {branch}"):
            try:
                found = self._project.repository_merge_base([commit, branch])
            except gle.GitlabGetError as error:
                if error.response_code in (400, 404):  # unknown ref / no common history
                    return None
                raise
        sha = found.get("id") if isinstance(found, dict) else None
        return sha if isinstance(sha, str) else None

    def find_open(self, source_branch: str) -> MergeRequest | None:
        with _translated(f"list merge requests of {source_branch}"):
            found = self._project.mergerequests.list(source_branch=source_branch, state="opened", get_all=True)
        # A fork's MR may carry the same branch name; ours comes from this project's own branch.
        own = [mr for mr in found if getattr(mr, "source_project_id", self._project.id) == self._project.id]
        return _as_merge_request(own[0]) if own else None

    def create(self, source_branch: str, target_branch: str, title: str, description: str,
               labels: list[str]) -> tuple[MergeRequest, bool]:
        """Create the MR, or find the open one after a 409; the bool says whether it was created."""
        with _translated(f"create the merge request for {source_branch}"):
            try:
                created = self._project.mergerequests.create(
                    {
                        "source_branch": source_branch,
                        "target_branch": target_branch,
                        "title": title,
                        "description": description,
                        "labels": ",".join(labels),
                        "remove_source_branch": True,
                    }
                )
            except gle.GitlabCreateError as error:
                if error.response_code != 409:  # 409: an open MR for this branch exists already
                    raise
                created = None
        if created is not None:
            return _as_merge_request(created), True
        existing = self.find_open(source_branch)
        if existing is None:
            raise UpstreamError(f"GitLab answered 409 for {source_branch} but lists no open merge request for it")
        log.info("merge request already open; updating it", extra={"iid": existing.iid})
        return existing, False

    def update(self, iid: int, title: str, description: str, labels: list[str]) -> None:
        with _translated(f"update merge request !{iid}"):
            mr = self._project.mergerequests.get(iid, lazy=True)
            mr.title = title
            mr.description = description
            mr.labels = labels
            mr.save()

    def get(self, iid: int) -> MergeRequest | None:
        """The merge request !iid of this project, or None when there is none."""
        try:
            with _translated(f"read merge request !{iid}"):
                return _as_merge_request(self._project.mergerequests.get(iid))
        except UpstreamError as error:
            if isinstance(error.__cause__, gle.GitlabGetError) and error.__cause__.response_code == 404:
                return None
            raise

    def notes(self, iid: int) -> list[Note]:
        with _translated(f"list the notes of merge request !{iid}"):
            found = self._project.mergerequests.get(iid, lazy=True).notes.list(get_all=True)
        return [Note(int(note.id), str(note.body or ""), _author_id(getattr(note, "author", None))) for note in found]

    def comment(self, iid: int, body: str) -> None:
        with _translated(f"comment on merge request !{iid}"):
            self._project.mergerequests.get(iid, lazy=True).notes.create({"body": body})


def _as_merge_request(raw: Any) -> MergeRequest:
    labels = raw.labels if isinstance(raw.labels, list) else str(raw.labels or "").split(",")
    return MergeRequest(
        iid=int(raw.iid),
        web_url=str(raw.web_url),
        title=str(raw.title),
        description=str(raw.description or ""),
        labels=tuple(label for label in labels if label),
        author_id=_author_id(getattr(raw, "author", None)),
        source_branch=str(getattr(raw, "source_branch", "") or ""),
        state=str(getattr(raw, "state", "opened") or "opened"),
    )


def _author_id(author: Any) -> int | None:
    if isinstance(author, dict) and isinstance(author.get("id"), int):
        return int(author["id"])
    return None
