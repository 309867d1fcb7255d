"""Git as an agent Job runs it: no global config, no prompt, an explicit identity.

Agents run with an empty or unwritable HOME and no git identity, so every git call
gets its configuration from the environment built here, never from the machine.
Credentials for HTTP remotes travel as an `http.<origin>/.extraHeader` through
GIT_CONFIG_COUNT variables: they never appear in argv, in a remote URL or in .git/config,
and git sends them only to the origin (scheme, host, port) of the remote they are meant for,
never to a second remote or a submodule elsewhere; redirects are not followed (git would carry
the header to the redirect's host).

Nothing of the caller's git configuration reaches git: GIT_CONFIG_PARAMETERS, GIT_CONFIG_*,
GIT_ALLOW_PROTOCOL and the like are dropped, and the `ext::` and `fd::` transports (which run
commands) are switched off, so a remote URL can never make git run a program.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pathops_contracts.patch_policy import FileChange

if TYPE_CHECKING:  # GitPython costs a quarter of a second to import; the CLIs' --help does not need it
    from git import GitCommandError, Repo


# Variables of the caller's environment that would reconfigure git (or make it run programs):
# none of them passes into the environment built here.
_CALLER_GIT_VARIABLES = frozenset({
    "GIT_CONFIG", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_GLOBAL",
    "GIT_ALLOW_PROTOCOL", "GIT_PROTOCOL_FROM_USER", "GIT_SSH", "GIT_SSH_COMMAND", "GIT_PROXY_COMMAND",
    "GIT_EXEC_PATH", "GIT_TEMPLATE_DIR", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_NAMESPACE",
})


def _callers_git_variable(name: str) -> bool:
    return name in _CALLER_GIT_VARIABLES or name.startswith(("GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_"))


def token_origin(remote_url: str) -> str | None:
    """`scheme://host[:port]/` of an http(s) remote, the URL prefix git matches `http.<url>.*` against."""
    parts = urlsplit(remote_url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    host = parts.netloc.rpartition("@")[2].lower()
    return f"{parts.scheme.lower()}://{host}/"


@dataclass(frozen=True)
class GitIdentity:
    name: str = "PathOps Autopilot"
    email: str = "autopilot@pathops.io"


def git_environment(
    identity: GitIdentity,
    *,
    token: str | None = None,
    token_url: str | None = None,
    token_user: str = "oauth2",  # noqa: S107 -- the user name GitLab expects with a token
    commit_date: str | None = None,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Environment for git subprocesses; commit_date pins author and committer dates (reproducible SHAs).

    The token goes, as an HTTP basic Authorization header, only to the origin of `token_url`
    (the remote it is meant for); to no one if that is no http(s) URL.
    """
    if token and token_url is None:
        raise ValueError("a token needs the URL of the remote it is meant for (token_url)")
    source = base if base is not None else os.environ
    env = {name: value for name, value in source.items() if not _callers_git_variable(name)}
    env.update(
        {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_AUTHOR_NAME": identity.name,
            "GIT_AUTHOR_EMAIL": identity.email,
            "GIT_COMMITTER_NAME": identity.name,
            "GIT_COMMITTER_EMAIL": identity.email,
            "GIT_ASKPASS": "",
            "SSH_ASKPASS": "",
            "LC_ALL": "C",
        }
    )
    # http.followRedirects: git's default ("initial") follows a redirect of the first request and then
    # sends every later request, the token's header included, to the redirect's host: the header's
    # scope is matched against the URL git was given, not the one it moved to. No redirect, then.
    config = {"advice.detachedHead": "false", "init.defaultBranch": "main", "core.hooksPath": os.devnull,
              "protocol.ext.allow": "never", "protocol.fd.allow": "never", "http.followRedirects": "false"}
    origin = token_origin(token_url) if token and token_url else None
    if token and origin:
        basic = base64.b64encode(f"{token_user}:{token}".encode()).decode()
        config[f"http.{origin}.extraHeader"] = f"Authorization: Basic {basic}"
    for index, (key, value) in enumerate(config.items()):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    env["GIT_CONFIG_COUNT"] = str(len(config))
    if commit_date:
        env["GIT_AUTHOR_DATE"] = commit_date
        env["GIT_COMMITTER_DATE"] = commit_date
    return env


def changes_between(repo: Repo, base: str, head: str) -> list[FileChange]:
    """The files changed from base to head with modes, binary flag and line counts."""
    return changes_from_diffs(repo.git.diff("--raw", "-z", "--no-renames", "--no-abbrev", base, head),
                              repo.git.diff("--numstat", "-z", "--no-renames", base, head))


def changes_from_diffs(raw: str, numstat: str) -> list[FileChange]:
    """FileChanges of `git diff --raw -z --no-renames --no-abbrev` and `git diff --numstat -z --no-renames`."""
    counts: dict[str, tuple[int, int, bool]] = {}
    for record in numstat.split("\0"):
        if not record:
            continue
        added, deleted, path = record.split("\t", 2)
        binary = added == "-"
        counts[path] = (0 if binary else int(added), 0 if binary else int(deleted), binary)
    fields = raw.split("\0")
    changes: list[FileChange] = []
    for header, path in zip(fields[0::2], fields[1::2], strict=False):
        if not header:
            continue
        old_mode, new_mode = header.lstrip(":").split(" ")[:2]
        lines_added, lines_deleted, binary = counts.get(path, (0, 0, False))
        changes.append(FileChange(path, old_mode, new_mode, binary, lines_added, lines_deleted))
    return changes


def git_error_reason(error: GitCommandError) -> str:
    """The line of git's stderr that says what went wrong (GitPython wraps it in quotes)."""
    return stderr_reason(str(error.stderr or "").strip().strip("'")) or str(error)


def stderr_reason(text: str) -> str:
    """The line of git's stderr that says what went wrong: the first fatal/error line, else the last."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for prefix in ("fatal:", "error:", "remote: error", "! ["):
        for line in lines:
            if line.startswith(prefix):
                return line
    return lines[-1] if lines else ""


def auth_failure_hint(reason: str) -> str:
    """A git remote's refusal, said as what to do about it.

    git answers a refused token (sent as a header) by asking for a user name, which fails
    without a terminal: "could not read Username ... terminal prompts disabled".
    """
    if "could not read Username" in reason or "could not read Password" in reason:
        return "the remote refused the token, or none was given: set GITLAB_TOKEN to a token that may access it"
    return f"{reason} (is GITLAB_TOKEN valid, and may its user access this repository?)"


def is_auth_failure(reason: str) -> bool:
    return any(word in reason for word in ("Authentication failed", "401", "403", "could not read Username"))
