"""A console script that ends its process without the interpreter's teardown loses nothing on the way out."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from pathops_runtime import cli
from pathops_runtime.cli import left_to_exit, tool_group

TOOL = textwrap.dedent("""
    import sys, weakref, click
    from pathops_runtime import cli
    from pathops_runtime.cli import left_to_exit, tool_group
    main = tool_group("tool", "1.0", "A tool.", exit_when_done=True)

    class Held:
        pass

    @main.command("run")
    @click.argument("how")
    def run(how: str) -> None:
        if how == "print":
            for _ in range(10_000):  # the last of it still buffered when the command returns
                sys.stdout.write("x" * 99 + "\\n")  # print and write do not flush (click.echo does)
        elif how == "message":
            raise SystemExit("stopped: because")
        elif how == "code":
            raise SystemExit(5)
        elif how == "crash":
            raise RuntimeError("unexpected")
        elif how == "leave":
            held = Held()
            left_to_exit(held)
            gone = weakref.ref(held)
            del held
            print("kept" if gone() is not None and cli._left_to_exit else "freed")

    main()
""")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    # Buffered as in a Job's container: PYTHONUNBUFFERED would write each line at once, the flush untested.
    env = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    return subprocess.run([sys.executable, "-c", TOOL, *args], capture_output=True, text=True, timeout=60,
                          check=False, env=env)


def test_what_the_command_wrote_is_all_there() -> None:
    result = _run("run", "print")
    assert result.returncode == 0 and result.stdout == ("x" * 99 + "\n") * 10_000


@pytest.mark.parametrize(("how", "code", "stderr"), [("message", 1, "stopped: because"), ("code", 5, ""),
                                                     ("crash", 1, "RuntimeError: unexpected")])
def test_the_exit_code_and_the_last_words_are_kept(how: str, code: int, stderr: str) -> None:
    result = _run("run", how)
    assert result.returncode == code and stderr in result.stderr


def test_usage_errors_and_version_exit_as_click_says() -> None:
    assert _run("run").returncode == 2
    version = _run("--version")
    assert version.returncode == 0 and version.stdout.strip() == "tool, version 1.0"


def test_called_in_process_it_returns() -> None:
    main = tool_group("tool", "1.0", "A tool.", exit_when_done=True)
    assert CliRunner().invoke(main, ["--version"]).output.strip() == "tool, version 1.0"
    with pytest.raises(SystemExit) as done:
        main(["--version"])  # with arguments: click's own exit, the caller's process goes on
    assert done.value.code == 0


def test_what_a_command_leaves_to_the_exit_is_not_freed_by_the_console_script_only() -> None:
    assert _run("run", "leave").stdout == "kept\n"  # os._exit ends it: freeing it one by one is time lost
    main = tool_group("tool", "1.0", "A tool.", exit_when_done=True)

    @main.command("run")
    def run() -> None:
        left_to_exit(object())

    assert CliRunner().invoke(main, ["run"]).exit_code == 0
    assert cli._left_to_exit == []  # in-process callers (tests) keep nothing: their process goes on


def test_a_console_call_that_raises_instead_of_exiting_keeps_nothing_for_an_exit_that_does_not_come(
        monkeypatch: pytest.MonkeyPatch) -> None:
    main = tool_group("tool", "1.0", "A tool.", exit_when_done=True)

    @main.command("boom")
    def boom() -> None:
        left_to_exit(object())
        raise GeneratorExit  # a BaseException click lets through: the caller may catch it and go on

    monkeypatch.setattr("sys.argv", ["tool", "boom"])
    with pytest.raises(GeneratorExit):
        main()
    assert cli._left_to_exit == [] and cli._exiting_when_done is False
