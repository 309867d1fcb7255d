"""One commit of an application's source repository, fetched as every tool needs it: exactly that SHA.

mr-creator (to apply a patch on it), `fix-agent build-image` (to embed its tree) and the demo
(through build-image) fetch the same way, so a missing commit, an unreachable remote and a
refused credential read the same and exit the same everywhere:

| what | error | exit |
|---|---|---|
| the SHA is not a commit of the repository | `CommitNotFound`: "commit X does not exist in URL" | 2 |
| the URL is no plain https://, http:// or file:// URL; the SHA is malformed | `InvalidInput` | 2 |
| the remote refuses the credentials | `Forbidden` | 6 |
| the remote is unreachable, or has no such repository | `UpstreamError` | 5 |

The fetch is shallow (`--depth=1`), without tags, into a fresh repository whose only remote,
`origin`, is the URL. Git runs with the Job's environment (`git_env.git_environment`): the token
travels as an `http.<origin>/.extraHeader` (sent to the remote's origin only) through GIT_CONFIG_*
variables, never in argv, a URL or an error text; a URL with user info, a query or a fragment is
refused (without repeating it) rather than passed on.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from pathops_contracts.errors import Forbidden, InvalidInput, UpstreamError
from pathops_contracts.identifiers import COMMIT_SHA
from pathops_runtime.git_env import auth_failure_hint, is_auth_failure, stderr_reason

# What git says when the remote has no object of that name to give (file://, ssh and smart HTTP).
_NOT_THERE = ("not our ref", "couldn't find remote ref", "no such remote ref")


class CommitNotFound(InvalidInput):
    """The commit named (SOURCE_COMMIT_SHA) is not in the repository named: exit 2, as any input naming nothing."""


def _shown(remote_url: str) -> str:
    """The URL as an error may show it: never with user info, even if one slipped through."""
    parts = urlsplit(remote_url)
    if parts.username is not None or parts.password is not None:
        return parts._replace(netloc=parts.hostname or "").geturl()
    return remote_url


_SCHEMES = ("https://", "http://", "file://")


def _check_remote(remote_url: str) -> None:
    """Only https://, http:// and file:// URLs, without user info, query or fragment.

    scp-style (`user@host:path`), `ext::`/`fd::` and other transports are refused; the errors
    never repeat the URL, since the part refused may be a credential.
    """
    if not remote_url or remote_url.startswith("-"):
        raise InvalidInput("the source repository URL must not be empty or start with '-'")
    if any(character.isspace() or ord(character) < 0x20 or ord(character) == 0x7F for character in remote_url):
        raise InvalidInput("the source repository URL must not contain spaces or control characters")
    if not remote_url.startswith(_SCHEMES):
        raise InvalidInput("the source repository URL must be an https://, http:// or file:// URL")
    parts = urlsplit(remote_url)
    if "@" in parts.netloc:
        raise InvalidInput("the source repository URL carries credentials (user info); "
                           "give the token as GITLAB_TOKEN instead")
    if "?" in remote_url or "#" in remote_url:
        raise InvalidInput("the source repository URL must not have a query or a fragment "
                           "(a token goes in GITLAB_TOKEN)")
    if parts.scheme != "file" and not parts.hostname:
        raise InvalidInput("the source repository URL names no host")


def _git(args: list[str], cwd: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, env=dict(env), capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, check=False)


def fetch_commit(remote_url: str, sha: str, workdir: Path, env: Mapping[str, str], *,
                 checkout: bool = True) -> Path:
    """Fetch exactly commit `sha` of `remote_url` into a new repository at `workdir`; returns workdir.

    With `checkout`, the work tree holds the commit (detached HEAD); without, only the objects
    are there (read them with `git archive`, `git ls-tree`). Raises as the module doc says.
    """
    COMMIT_SHA.check(sha)
    _check_remote(remote_url)
    workdir.mkdir(parents=True, exist_ok=True)
    # No template: git would copy its sample hooks and description (~25 ms of a fresh process), which a
    # repository made for one fetch never uses (hooks are off: core.hooksPath is /dev/null in git_env).
    for args in (["init", "-q", "--template="], ["remote", "add", "origin", remote_url]):
        done = _git(args, workdir, env)
        if done.returncode != 0:
            raise UpstreamError(f"git {args[0]} in {workdir} failed: {stderr_reason(done.stderr)}")
    fetched = _git(["fetch", "-q", "--depth=1", "--no-tags", "origin", sha], workdir, env)
    if fetched.returncode != 0:
        reason = stderr_reason(fetched.stderr)
        if any(sign in fetched.stderr for sign in _NOT_THERE):
            raise CommitNotFound(f"commit {sha} does not exist in {_shown(remote_url)}")
        if is_auth_failure(reason):
            raise Forbidden(f"git fetch of {sha[:12]} from {_shown(remote_url)} was refused: "
                            f"{auth_failure_hint(reason)}")
        raise UpstreamError(f"git fetch of {sha[:12]} from {_shown(remote_url)} failed: {reason}")
    # A SHA that names a tree or a blob is fetched too: it is still no commit.
    if _git(["cat-file", "-e", f"{sha}^{{commit}}"], workdir, env).returncode != 0:
        raise CommitNotFound(f"commit {sha} does not exist in {_shown(remote_url)}")
    if checkout:
        done = _git(["checkout", "-q", "--detach", sha], workdir, env)
        if done.returncode != 0:
            raise UpstreamError(f"git checkout of {sha[:12]} failed: {stderr_reason(done.stderr)}")
    return workdir
