"""One placement of the error boundary in every command of every tool: outermost, directly under the
command, so that an error raised while settings are built reads as one raised in the body."""

from __future__ import annotations

import functools
import importlib
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from pathops_contracts.errors import InvalidInput
from pathops_runtime.cli import at_boundary, is_boundary

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def _commands(group: click.Command, path: str) -> Iterator[tuple[str, click.Command]]:
    if isinstance(group, click.Group):
        for name, command in group.commands.items():
            yield from _commands(command, f"{path} {name}")
    else:
        yield path, group


def _every_command() -> list[tuple[str, click.Command]]:
    found = []
    for script, target in sorted(SCRIPTS.items()):
        module, attribute = target.split(":")
        found += list(_commands(getattr(importlib.import_module(module), attribute), script))
    return found


@pytest.mark.parametrize(("name", "command"), _every_command(), ids=lambda value: value if isinstance(value, str)
                         else "")
def test_the_boundary_is_the_outermost_wrapper_of_every_command(name: str, command: click.Command) -> None:
    assert is_boundary(command.callback), f"{name}: put @at_boundary directly under the command decorator"


def _settings_that_refuse(command: Callable[..., Any]) -> Callable[..., Any]:
    """A settings decorator (as store_options is) whose settings refuse their input."""
    @functools.wraps(command)
    def run(**kwargs: Any) -> Any:
        raise InvalidInput("MINIO_BUCKET is not a bucket")
    return run


def test_an_error_while_settings_are_built_reads_like_one_in_the_body() -> None:
    """Why the placement matters: below a settings decorator, the settings' errors escape the boundary."""
    outermost = click.command()(at_boundary("tool")(_settings_that_refuse(lambda: None)))
    innermost = click.command()(_settings_that_refuse(at_boundary("tool")(lambda: None)))
    result = CliRunner().invoke(outermost, [])
    assert (result.exit_code, result.output) == (2, "tool: error: MINIO_BUCKET is not a bucket\n")
    assert isinstance(CliRunner().invoke(innermost, []).exception, InvalidInput)  # a traceback, exit 1


def test_an_error_with_control_characters_still_prints_one_line() -> None:
    """A message that carries text from outside (git's stderr, a URL) cannot forge lines or drive the terminal."""
    def refuse() -> None:
        raise InvalidInput("commit abc does not exist in repo\n# FIXED\x1b[2J")

    result = CliRunner().invoke(click.command()(at_boundary("tool")(refuse)), [])
    assert result.exit_code == 2
    assert result.output == "tool: error: commit abc does not exist in repo\\n# FIXED\\x1b[2J\n"
