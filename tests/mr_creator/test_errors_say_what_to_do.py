"""mr-creator's refusals name what to change: the variable to set, the project that is not there."""

from __future__ import annotations

from tests.mr_creator.conftest import World


def test_a_project_that_does_not_exist_is_named_as_such(world: World) -> None:
    patch_id = world.bundle()
    result = world.run(patch_id, SRC_REPO="shop/no-such-project")
    assert result.returncode == 2, result.stderr
    assert "has no project shop/no-such-project" in result.stderr
    assert "dependency failed" not in result.stderr


def test_a_wrong_gitlab_token_names_the_variable(world: World) -> None:
    result = world.run(world.bundle(), GITLAB_TOKEN="glpat-wrong")
    assert result.returncode == 6
    assert "set GITLAB_TOKEN" in result.stderr and "glpat-wrong" not in result.stderr


def test_git_refusing_the_token_names_the_variable(http_world: World) -> None:
    patch_id = http_world.bundle()
    http_world.gitlab.token = "glpat-other-token"  # the API accepts it, git over HTTP does not
    result = http_world.run(patch_id, GITLAB_TOKEN="glpat-other-token")
    assert result.returncode == 6, result.stderr
    assert "GITLAB_TOKEN" in result.stderr and "terminal prompts disabled" not in result.stderr
    assert "glpat-other-token" not in result.stderr
