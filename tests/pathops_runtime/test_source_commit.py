"""The one fetch of a source commit, against real bare repositories (file:// and git over HTTP with a token)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pathops_contracts.errors import ExitCode, Forbidden, InvalidInput, UpstreamError
from pathops_runtime.git_env import GitIdentity, git_environment
from pathops_runtime.source_commit import CommitNotFound, fetch_commit
from pathops_testbed.git_http import GitHttpBackend
from pathops_testbed.git_repos import git, make_source_remote
from pathops_testbed.http_server import BackgroundServer

TOKEN = "glpat-source-commit-test-0001"


@pytest.fixture
def remote(tmp_path: Path) -> tuple[Path, str]:
    return make_source_remote(tmp_path / "repos")


@pytest.fixture
def http_remote(tmp_path: Path, remote: tuple[Path, str]) -> Iterator[tuple[str, str]]:
    server = BackgroundServer(GitHttpBackend(tmp_path / "repos", TOKEN)).start()
    try:
        yield f"{server.url}/shop/shop-frontend.git", remote[1]
    finally:
        server.stop()


def test_fetches_exactly_the_commit_shallow_and_checked_out(tmp_path: Path, remote: tuple[Path, str]) -> None:
    bare, sha = remote
    work = tmp_path / "work"
    seed = tmp_path / "repos" / "seed-work"
    (seed / "app.py").write_text("ROUTES = ['/health', '/later']\n")
    git(seed, "commit", "-qam", "A later commit")
    git(seed, "push", "-q", str(bare), "HEAD:refs/heads/main")

    assert fetch_commit(bare.as_uri(), sha, work, git_environment(GitIdentity())) == work

    assert git(work, "rev-parse", "HEAD") == sha
    assert (work / "app.py").read_text() == "ROUTES = ['/health']\n"  # the commit asked for, not the branch tip
    assert git(work, "rev-list", "--count", "--all") == "1"  # depth 1: nothing else came along
    assert git(work, "remote", "get-url", "origin") == bare.as_uri()


def test_without_checkout_only_the_objects_are_there(tmp_path: Path, remote: tuple[Path, str]) -> None:
    bare, sha = remote
    work = fetch_commit(bare.as_uri(), sha, tmp_path / "work", git_environment(GitIdentity()), checkout=False)
    assert sorted(p.name for p in work.iterdir()) == [".git"]
    assert git(work, "ls-tree", "-r", "--name-only", sha).splitlines() == ["app.py", "deploy/deployment.yaml"]


def test_over_http_the_token_travels_in_no_url_argv_or_config(tmp_path: Path, http_remote: tuple[str, str]) -> None:
    url, sha = http_remote
    work = fetch_commit(url, sha, tmp_path / "work", git_environment(GitIdentity(), token=TOKEN, token_url=url))
    assert git(work, "rev-parse", "HEAD") == sha
    assert TOKEN not in (work / ".git" / "config").read_text()


def test_a_missing_commit_is_named_and_exit_2(tmp_path: Path, remote: tuple[Path, str]) -> None:
    bare, _ = remote
    with pytest.raises(CommitNotFound) as caught:
        fetch_commit(bare.as_uri(), "e" * 40, tmp_path / "work", git_environment(GitIdentity()))
    assert str(caught.value) == f"commit {'e' * 40} does not exist in {bare.as_uri()}"
    assert caught.value.exit_code == ExitCode.USAGE


def test_a_missing_commit_over_http_reads_the_same(tmp_path: Path, http_remote: tuple[str, str]) -> None:
    url, _ = http_remote
    with pytest.raises(CommitNotFound, match=f"^commit {'e' * 40} does not exist in {url}$"):
        fetch_commit(url, "e" * 40, tmp_path / "work", git_environment(GitIdentity(), token=TOKEN, token_url=url))


def test_a_sha_that_names_a_file_is_no_commit(tmp_path: Path, remote: tuple[Path, str]) -> None:
    bare, sha = remote
    blob = git(bare, "rev-parse", f"{sha}:app.py")
    with pytest.raises(CommitNotFound, match=f"commit {blob} does not exist"):
        fetch_commit(bare.as_uri(), blob, tmp_path / "work", git_environment(GitIdentity()))


def test_a_refused_token_is_forbidden_and_never_shown(tmp_path: Path, http_remote: tuple[str, str]) -> None:
    url, sha = http_remote
    wrong = "glpat-wrong-token-99999999"
    with pytest.raises(Forbidden) as caught:
        fetch_commit(url, sha, tmp_path / "work", git_environment(GitIdentity(), token=wrong, token_url=url))
    assert caught.value.exit_code == ExitCode.FORBIDDEN
    assert "GITLAB_TOKEN" in str(caught.value) and wrong not in str(caught.value)


def test_an_unreachable_remote_is_an_upstream_failure(tmp_path: Path, remote: tuple[Path, str]) -> None:
    _, sha = remote
    with pytest.raises(UpstreamError) as caught:
        fetch_commit("http://127.0.0.1:9/shop/shop-frontend.git", sha, tmp_path / "work",
                     git_environment(GitIdentity()))
    assert caught.value.exit_code == ExitCode.UPSTREAM
    assert f"git fetch of {sha[:12]} from http://127.0.0.1:9/shop/shop-frontend.git failed: fatal: unable to access" \
        in str(caught.value)


def test_a_url_with_credentials_is_refused_before_git_sees_it(tmp_path: Path, remote: tuple[Path, str]) -> None:
    _, sha = remote
    with pytest.raises(InvalidInput) as caught:
        fetch_commit("https://oauth2:glpat-secret-in-url@gitlab.example/shop/app.git", sha, tmp_path / "work",
                     git_environment(GitIdentity()))
    assert "glpat-secret-in-url" not in str(caught.value) and "oauth2" not in str(caught.value)
    assert "GITLAB_TOKEN" in str(caught.value)
    assert not (tmp_path / "work").exists()


def test_an_abbreviated_sha_is_bad_input(tmp_path: Path, remote: tuple[Path, str]) -> None:
    bare, sha = remote
    with pytest.raises(InvalidInput):
        fetch_commit(bare.as_uri(), sha[:12], tmp_path / "work", git_environment(GitIdentity()))
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize(("url", "secret"), [
    ("oauth2:glpat-scp-secret@gitlab.example:shop/app.git", "glpat-scp-secret"),
    ("git@gitlab.example:shop/app.git", "gitlab.example"),
    ("https://gitlab.example/shop/app.git?private_token=glpat-query-secret", "glpat-query-secret"),
    ("https://gitlab.example/shop/app.git#glpat-fragment-secret", "glpat-fragment-secret"),
    ("https://glpat-user-only@gitlab.example/shop/app.git", "glpat-user-only"),
    ("ssh://git@gitlab.example/shop/app.git", "gitlab.example"),
    ("ext::sh -c touch% /tmp/pathops-ext-ran", "touch"),
    ("fd::3", "fd::"),
    ("https://gitlab.example/shop/app.git\n# FIXED", "FIXED"),
])
def test_only_plain_http_and_file_urls_are_fetched_and_the_refused_part_is_never_shown(
        tmp_path: Path, remote: tuple[Path, str], url: str, secret: str) -> None:
    _, sha = remote
    with pytest.raises(InvalidInput) as caught:
        fetch_commit(url, sha, tmp_path / "work", git_environment(GitIdentity()))
    message = str(caught.value)
    assert "\n" not in message and secret not in message
    assert caught.value.exit_code == ExitCode.USAGE
    assert not (tmp_path / "work").exists()
