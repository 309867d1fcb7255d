"""A small stateful fake of the GitLab REST API (v4), as python-gitlab speaks it.

Covers what mr-creator uses: project lookup by id or URL-encoded path (with
`ci_config_path`), the token's own user (`GET /user`), merge request
list/create/get/update (409 for a second open MR of a source branch, as GitLab does;
each MR carries its `author`, the user whose token opened it; `draft` follows the title's
`Draft:` prefix, as GitLab derives it), MR notes (create and list, each with its `author`) and
`GET repository/merge_base?refs[]=..&refs[]=..`, computed with `git merge-base` in the project's bare
repository (GitLab's answers: the commit JSON; 400 "Could not find ref" for an unknown ref, 404 when
the refs share no history).
Authentication by `PRIVATE-TOKEN` or `Authorization: Bearer`; every token is a user
(`add_user` adds people). Faults can be injected to test retries (5xx) and auth
failures (401).
"""

from __future__ import annotations

import json
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from werkzeug import Request, Response


@dataclass
class FakeProject:
    id: int
    path_with_namespace: str
    default_branch: str
    http_url_to_repo: str
    web_url: str
    ci_config_path: str | None = None
    repository: Path | None = None  # the bare repository the repository API reads (merge_base)
    merge_requests: list[dict[str, Any]] = field(default_factory=list)


class FakeGitLab:
    """WSGI app holding projects and merge requests in memory."""

    def __init__(self, token: str, base_url: str = "http://gitlab.local", username: str = "pathops-autopilot") -> None:
        self.token = token
        self.base_url = base_url
        self.users: dict[str, dict[str, Any]] = {}
        self.user_lookup_forbidden = False  # GET /user answers 403, as for a token without read_user
        self.add_user(token, username)
        self.projects: dict[int, FakeProject] = {}
        self.requests: list[tuple[str, str]] = []
        self._faults: list[int] = []
        self._lock = threading.Lock()

    def add_project(self, path: str, http_url_to_repo: str, default_branch: str = "main",
                    repository: Path | None = None) -> FakeProject:
        project = FakeProject(
            id=len(self.projects) + 1,
            path_with_namespace=path,
            default_branch=default_branch,
            http_url_to_repo=http_url_to_repo,
            web_url=f"{self.base_url}/{path}",
            repository=repository,
        )
        self.projects[project.id] = project
        return project

    def add_user(self, token: str, username: str) -> dict[str, Any]:
        """A user who authenticates with `token` (GitLab's user JSON, as `GET /user` returns it)."""
        user = {
            "id": len(self.users) + 1,
            "username": username,
            "name": username.replace("-", " ").title(),
            "state": "active",
            "avatar_url": None,
            "web_url": f"{self.base_url}/{username}",
        }
        self.users[token] = user
        return user

    @property
    def token(self) -> str:
        return self._token

    @token.setter
    def token(self, value: str) -> None:
        """The tool's token; changing it keeps the tool's user (as rotating a token does)."""
        previous = getattr(self, "_token", None)
        self._token = value
        if previous is not None and previous in self.users:
            self.users[value] = self.users.pop(previous)

    def fail_next(self, status: int, count: int = 1) -> None:
        """The next `count` API requests answer `status`."""
        with self._lock:
            self._faults.extend([status] * count)

    def open_merge_requests(self, project: FakeProject) -> list[dict[str, Any]]:
        return [mr for mr in project.merge_requests if mr["state"] == "opened"]

    # --- WSGI ---------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        with self._lock:
            response = self._handle(request)
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        # RAW_URI keeps %2F in project paths that werkzeug would decode in request.path.
        raw_path = request.environ.get("RAW_URI", request.full_path).split("?", 1)[0]
        self.requests.append((request.method, raw_path))
        if self._faults:
            status = self._faults.pop(0)
            return _json({"message": f"{status} injected"}, status)
        token = request.headers.get("PRIVATE-TOKEN") or request.headers.get("Authorization", "").removeprefix(
            "Bearer "
        )
        user = self.users.get(token)
        if user is None:
            return _json({"message": "401 Unauthorized"}, 401)
        parts = [unquote(part) for part in raw_path.removeprefix("/api/v4/").split("/")]
        if parts == ["user"] and request.method == "GET":
            return _json({"message": "403 Forbidden"}, 403) if self.user_lookup_forbidden else _json(user)
        if len(parts) < 2 or parts[0] != "projects":
            return _json({"message": "404 Not Found"}, 404)
        project = self._project(parts[1])
        if project is None:
            return _json({"message": "404 Project Not Found"}, 404)
        rest = parts[2:]
        if not rest and request.method == "GET":
            return _json(self._project_json(project))
        if rest == ["repository", "merge_base"] and request.method == "GET":
            return self._merge_base(project, request.args.getlist("refs[]"))
        if rest == ["merge_requests"]:
            if request.method == "GET":
                return self._list_merge_requests(project, request)
            if request.method == "POST":
                return self._create_merge_request(project, _body(request), user)
        if len(rest) >= 2 and rest[0] == "merge_requests":
            mr = next((m for m in project.merge_requests if str(m["iid"]) == rest[1]), None)
            if mr is None:
                return _json({"message": "404 Not found"}, 404)
            if len(rest) == 2 and request.method == "GET":
                return _json(mr)
            if len(rest) == 2 and request.method == "PUT":
                return self._update_merge_request(mr, _body(request))
            if rest[2:] == ["notes"] and request.method == "POST":
                note = {"id": 100 * mr["iid"] + len(mr["notes"]) + 1, "body": _body(request)["body"],
                        "author": dict(user), "system": False, "noteable_type": "MergeRequest",
                        "noteable_iid": mr["iid"]}
                mr["notes"].append(note)
                return _json(note, 201)
            if rest[2:] == ["notes"] and request.method == "GET":
                notes = mr["notes"]
                return _json(notes, headers={"X-Total": str(len(notes)), "X-Total-Pages": "1", "X-Page": "1"})
        return _json({"message": "404 Not Found"}, 404)

    def _project(self, ref: str) -> FakeProject | None:
        if ref.isdigit():
            return self.projects.get(int(ref))
        return next((p for p in self.projects.values() if p.path_with_namespace == ref), None)

    @staticmethod
    def _project_json(project: FakeProject) -> dict[str, Any]:
        return {
            "id": project.id,
            "path_with_namespace": project.path_with_namespace,
            "default_branch": project.default_branch,
            "http_url_to_repo": project.http_url_to_repo,
            "web_url": project.web_url,
            "ci_config_path": project.ci_config_path,
        }

    @staticmethod
    def _merge_base(project: FakeProject, refs: list[str]) -> Response:
        """GitLab's merge_base: every ref resolved to a commit first, then their common ancestor."""
        if project.repository is None:
            return _json({"message": "404 Repository Not Found"}, 404)
        if len(refs) < 2:
            return _json({"message": "Provide at least 2 refs"}, 400)
        shas = []
        for ref in refs:
            sha = None if ref.startswith("-") else _git(project.repository, "rev-parse", "--verify", "-q",
                                                           f"{ref}^{{commit}}")
            if not sha:
                return _json({"message": f"Could not find ref: {ref}"}, 400)
            shas.append(sha)
        base = _git(project.repository, "merge-base", *shas)
        if not base:
            return _json({"message": "404 Merge Base Not Found"}, 404)
        return _json(_commit_json(project, base))

    def _list_merge_requests(self, project: FakeProject, request: Request) -> Response:
        found = project.merge_requests
        for key in ("source_branch", "state", "target_branch"):
            wanted = request.args.get(key)
            if wanted and not (key == "state" and wanted == "all"):
                found = [mr for mr in found if mr[key] == wanted]
        return _json(found, headers={"X-Total": str(len(found)), "X-Total-Pages": "1", "X-Page": "1"})

    def _create_merge_request(self, project: FakeProject, body: dict[str, Any], author: dict[str, Any]) -> Response:
        for key in ("source_branch", "target_branch", "title"):
            if not body.get(key):
                return _json({"message": f"{key} is missing"}, 400)
        same_source = [mr for mr in self.open_merge_requests(project)  # GitLab's 409: same source project+branch
                       if mr["source_branch"] == body["source_branch"]
                       and mr.get("source_project_id", project.id) == project.id]
        if same_source:
            existing = same_source[0]
            return _json(
                {"message": [f"Another open merge request already exists for this source branch: !{existing['iid']}"]},
                409,
            )
        iid = max((mr["iid"] for mr in project.merge_requests), default=0) + 1
        mr: dict[str, Any] = {
            "id": 1000 * project.id + iid,
            "iid": iid,
            "project_id": project.id,
            "source_project_id": project.id,
            "target_project_id": project.id,
            "state": "opened",
            "source_branch": body["source_branch"],
            "target_branch": body["target_branch"],
            "web_url": f"{project.web_url}/-/merge_requests/{iid}",
            "author": dict(author),
            "notes": [],
        }
        self._apply(mr, body)
        project.merge_requests.append(mr)
        return _json(mr, 201)

    def _update_merge_request(self, mr: dict[str, Any], body: dict[str, Any]) -> Response:
        self._apply(mr, body)
        return _json(mr)

    @staticmethod
    def _apply(mr: dict[str, Any], body: dict[str, Any]) -> None:
        for key in ("title", "description", "target_branch", "state_event"):
            if key in body:
                mr[key] = body[key]
        if mr.get("state_event") == "close":
            mr["state"] = "closed"
        if "labels" in body:
            labels = body["labels"]
            mr["labels"] = labels.split(",") if isinstance(labels, str) else list(labels)
        if "remove_source_branch" in body:
            mr["force_remove_source_branch"] = bool(body["remove_source_branch"])
        mr["draft"] = str(mr.get("title", "")).startswith("Draft:")


def _git(repository: Path, *args: str) -> str | None:
    """git's one-line answer in the bare repository, or None when git says no."""
    done = subprocess.run(["git", "-C", str(repository), *args], capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def _commit_json(project: FakeProject, sha: str) -> dict[str, Any]:
    """A commit as GitLab's API shows it."""
    fields = (_git(project.repository, "log", "-1", "--format=%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%s",
                   sha) if project.repository else None) or ""
    parents, author, author_email, authored, committer, committer_email, committed, title = (
        fields.split("\0") + [""] * 8)[:8]
    message = _git(project.repository, "log", "-1", "--format=%B", sha) if project.repository else None
    return {
        "id": sha, "short_id": sha[:8], "title": title, "message": (message or "") + "\n",
        "parent_ids": parents.split(), "author_name": author, "author_email": author_email,
        "authored_date": authored, "committer_name": committer, "committer_email": committer_email,
        "committed_date": committed, "created_at": committed, "trailers": {}, "extended_trailers": {},
        "web_url": f"{project.web_url}/-/commit/{sha}",
    }


def _body(request: Request) -> dict[str, Any]:
    if request.is_json:
        data = request.get_json(silent=True)
        return data if isinstance(data, dict) else {}
    return dict(request.form)


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload), status=status, content_type="application/json", headers=headers)
