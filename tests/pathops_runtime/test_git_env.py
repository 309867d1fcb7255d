"""The git environment of every agent: no caller's git configuration, no command transports, a token for one origin."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pathops_runtime.git_env import GitIdentity, git_environment
from pathops_testbed.git_http import GitHttpBackend
from pathops_testbed.git_repos import make_source_remote
from pathops_testbed.http_server import BackgroundServer

TOKEN = "glpat-git-env-test-0001"


def _ls_remote(url: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "ls-remote", url], cwd=cwd, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, check=False)


@pytest.mark.parametrize("caller", [
    {"GIT_CONFIG_PARAMETERS": "'protocol.allow'='always'"},
    {"GIT_CONFIG_PARAMETERS": "'protocol.ext.allow'='always'"},
    {"GIT_ALLOW_PROTOCOL": "ext:fd:file:http:https"},
    {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "protocol.allow", "GIT_CONFIG_VALUE_0": "always"},
], ids=["config-parameters-all", "config-parameters-ext", "allow-protocol", "config-count"])
def test_an_ext_url_runs_no_command_whatever_the_caller_configured(tmp_path: Path, caller: dict[str, str]) -> None:
    ran = tmp_path / "ran"
    env = git_environment(GitIdentity(), base={**os.environ, **caller})
    done = _ls_remote(f"ext::sh -c touch% {ran}", env, tmp_path)
    assert done.returncode != 0
    assert "transport 'ext' not allowed" in done.stderr
    assert not ran.exists()


def test_the_callers_git_configuration_does_not_reach_git(tmp_path: Path) -> None:
    env = git_environment(GitIdentity(), base={"PATH": os.environ["PATH"],
                                               "GIT_CONFIG_PARAMETERS": "'user.name'='Mallory'",
                                               "GIT_ALLOW_PROTOCOL": "ext", "GIT_CONFIG_KEY_7": "core.pager"})
    assert not {"GIT_CONFIG_PARAMETERS", "GIT_ALLOW_PROTOCOL", "GIT_CONFIG_KEY_7"} & env.keys()
    assert env["GIT_CONFIG_GLOBAL"] == os.devnull


def test_file_urls_still_work(tmp_path: Path) -> None:
    bare, sha = make_source_remote(tmp_path / "repos")
    done = _ls_remote(bare.as_uri(), git_environment(GitIdentity()), tmp_path)
    assert done.returncode == 0 and sha in done.stdout


class HeaderLog:
    """WSGI middleware that keeps the Authorization header (or None) of every request it passes on."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.authorizations: list[str | None] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.authorizations.append(environ.get("HTTP_AUTHORIZATION"))
        return self.app(environ, start_response)


@pytest.fixture
def two_origins(tmp_path: Path) -> Iterator[tuple[str, HeaderLog, str, HeaderLog, str]]:
    """The token's own GitLab (wants the token) and another host serving the same repository (wants none)."""
    _, sha = make_source_remote(tmp_path / "repos")
    own = HeaderLog(GitHttpBackend(tmp_path / "repos", TOKEN))
    other = HeaderLog(GitHttpBackend(tmp_path / "repos", None))
    own_server, other_server = BackgroundServer(own).start(), BackgroundServer(other).start()
    try:
        yield own_server.url, own, other_server.url, other, sha
    finally:
        own_server.stop()
        other_server.stop()


def test_the_token_goes_to_its_remotes_origin_and_to_no_other(
        tmp_path: Path, two_origins: tuple[str, HeaderLog, str, HeaderLog, str]) -> None:
    own_url, own, other_url, other, sha = two_origins
    env = git_environment(GitIdentity(), token=TOKEN, token_url=f"{own_url}/shop/shop-frontend.git")

    mine = _ls_remote(f"{own_url}/shop/shop-frontend.git", env, tmp_path)
    assert mine.returncode == 0 and sha in mine.stdout  # the token opened the repository it is meant for
    assert own.authorizations and all(own.authorizations)

    theirs = _ls_remote(f"{other_url}/shop/shop-frontend.git", env, tmp_path)
    assert theirs.returncode == 0 and sha in theirs.stdout
    assert other.authorizations and not any(other.authorizations)  # the second remote never saw it


def test_a_remote_that_redirects_elsewhere_never_gets_the_token_there(
        tmp_path: Path, two_origins: tuple[str, HeaderLog, str, HeaderLog, str]) -> None:
    """git follows a first-request redirect by default and then sends the scoped header to the new host."""
    _, _, other_url, other, _ = two_origins

    def redirect(environ: dict[str, Any], start_response: Any) -> Any:
        query = environ.get("QUERY_STRING", "")
        location = f"{other_url}{environ['PATH_INFO']}" + (f"?{query}" if query else "")
        start_response("302 Found", [("Location", location), ("Content-Length", "0")])
        return [b""]

    with BackgroundServer(redirect) as redirecting:
        url = f"{redirecting.url}/shop/shop-frontend.git"
        done = _ls_remote(url, git_environment(GitIdentity(), token=TOKEN, token_url=url), tmp_path)
    assert done.returncode != 0  # refused, not followed
    assert not any(other.authorizations)  # the other host never saw the token


def test_a_token_for_a_non_http_remote_goes_nowhere(tmp_path: Path) -> None:
    env = git_environment(GitIdentity(), token=TOKEN, token_url=(tmp_path / "repo.git").as_uri())
    assert not any(TOKEN in value or "extraHeader" in value for value in env.values())


def test_a_token_without_its_remote_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="token_url"):
        git_environment(GitIdentity(), token=TOKEN)
