"""Command-line conventions shared by the five agent CLIs.

Every option reads an environment variable (shown in --help as `[env var: NAME]`),
identifiers are checked by strict click types (exit 2 on a bad one), and domain errors
become one line on stderr with the documented exit code.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import sys
from collections.abc import Callable
from typing import IO, Any, NoReturn, TypeVar

import click

# StoreSettings is imported where a command runs: it brings boto3, which --help and --version must
# not pay for. CallbackSettings comes from its own light module: requests, tenacity and jsonschema are
# imported only when a callback is sent.
from pathops_contracts.errors import ExitCode, InvalidInput, PathOpsError
from pathops_contracts.identifiers import BUCKET, ENDPOINT_URL, IdentifierRule
from pathops_runtime.callback_settings import CallbackSettings
from pathops_runtime.logs import configure_logging, mask_secret

F = TypeVar("F", bound=Callable[..., Any])


class MissingSetting(click.ClickException):
    """A required option that is neither given nor in its environment variable: one line, exit 2."""

    exit_code = int(ExitCode.USAGE)

    def __init__(self, tool: str, option: str, envvar: str) -> None:
        # No endpoint has a default: a forgotten one must stop the run, not point it at another system.
        super().__init__(f"{option} is required: pass it or set {envvar}")
        self.tool = tool

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"{self.tool}: error: {self.format_message()}", err=True)


class EnvOption(click.Option):
    """An option read from its environment variable; a missing required one is a one-line error
    naming both (click's own form is the usage text plus "Missing option", without the variable)."""

    def process_value(self, ctx: click.Context, value: Any) -> Any:
        try:
            return super().process_value(ctx, value)
        except click.MissingParameter:
            option = max(self.opts, key=len)
            raise MissingSetting(ctx.find_root().info_name or "pathops", option, str(self.envvar)) from None


def env_option(*declarations: str, envvar: str, **attrs: Any) -> Callable[[F], F]:
    """click.option that also reads `envvar` and says so in --help."""
    return click.option(*declarations, cls=EnvOption, envvar=envvar, show_envvar=True, **attrs)


class IdentifierType(click.ParamType[str]):
    """A click type that accepts only values matching an identifier rule."""

    def __init__(self, rule: IdentifierRule) -> None:
        self.rule = rule
        self.name = rule.name

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return self.rule.check(str(value))
        except InvalidInput as error:
            if re.search(r"://[^/]*@", str(value)):  # user:password@ in a URL: never echo it
                self.fail(f"{self.rule.name} is not valid: {self.rule.description} (not shown: it carries "
                          "credentials)", param, ctx)
            self.fail(str(error), param, ctx)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def one_line(message: str) -> str:
    """The message with every control character (newline, ESC, ...) written out as a visible escape."""
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], message)


class ToolFailure(click.ClickException):
    """A PathOpsError on its way out: one line, no control characters, documented exit code."""

    def __init__(self, tool: str, error: PathOpsError) -> None:
        super().__init__(one_line(str(error)))
        self.tool = tool
        # click declares exit_code as a class default; each failure carries its own.
        self.exit_code = int(error.exit_code)  # type: ignore[misc]

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"{self.tool}: error: {self.format_message()}", err=True)


def at_boundary(tool: str) -> Callable[[F], F]:
    """Turn domain errors raised by a command into ToolFailure.

    One placement everywhere: directly under `@main.command(...)`, above every option and every
    settings decorator (store_options, callback_options), so that an error raised while the
    settings are built gets the same one line and exit code as one raised in the body.
    `is_boundary(command.callback)` checks it (tests/test_cli_boundary.py, for every command).
    """

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return command(*args, **kwargs)
            except PathOpsError as error:
                raise ToolFailure(tool, error) from error

        # functools.wraps copies __dict__ outwards: a wrapper around this one would inherit the
        # attribute, but it would point at this function, not at the wrapper.
        run.__pathops_boundary__ = run  # type: ignore[attr-defined]
        return run  # type: ignore[return-value]

    return decorate


def is_boundary(callback: Callable[..., Any] | None) -> bool:
    """Whether a click command's callback is at_boundary's wrapper itself (the outermost one)."""
    return callback is not None and getattr(callback, "__pathops_boundary__", None) is callback


def store_options(command: F) -> F:
    """--minio-endpoint/--minio-bucket/--minio-region, collected into `store: StoreSettings`."""
    decorators = [
        env_option("--minio-endpoint", envvar="MINIO_ENDPOINT", required=True, type=IdentifierType(ENDPOINT_URL),
                   help="S3 API endpoint of MinIO."),
        env_option("--minio-bucket", envvar="MINIO_BUCKET", required=True, type=IdentifierType(BUCKET),
                   help="Bucket of evidence and patch bundles."),
        env_option("--minio-region", envvar="MINIO_REGION", default="us-east-1", show_default=True,
                   help="S3 region name."),
    ]

    @functools.wraps(command)
    def run(*args: Any, minio_endpoint: str, minio_bucket: str, minio_region: str, **kwargs: Any) -> Any:
        from pathops_runtime.artifact_store import StoreSettings

        mask_secret(os.environ.get("AWS_SECRET_ACCESS_KEY"))
        return command(*args, store=StoreSettings(minio_endpoint, minio_bucket, minio_region), **kwargs)

    for decorator in reversed(decorators):
        run = decorator(run)
    return run  # type: ignore[return-value]


def callback_options(command: F) -> F:
    """Signing key, token and deadline of control-plane callbacks, collected into `callbacks`."""
    decorators = [
        env_option("--callback-signing-key", envvar="CALLBACK_SIGNING_KEY", default=None,
                   help="HMAC key that signs callbacks (X-PathOps-Signature)."),
        env_option("--control-plane-token", envvar="CONTROL_PLANE_TOKEN", default=None,
                   help="Bearer token for the control plane."),
        env_option("--callback-deadline", envvar="CALLBACK_DEADLINE_SECONDS", type=click.FloatRange(min=1),
                   default=120.0, show_default=True, help="Total seconds to keep retrying a callback."),
    ]

    @functools.wraps(command)
    def run(*args: Any, callback_signing_key: str | None, control_plane_token: str | None,
            callback_deadline: float, **kwargs: Any) -> Any:
        mask_secret(callback_signing_key)
        mask_secret(control_plane_token)
        settings = CallbackSettings(callback_signing_key, control_plane_token, callback_deadline)
        return command(*args, callbacks=settings, **kwargs)

    for decorator in reversed(decorators):
        run = decorator(run)
    return run  # type: ignore[return-value]


_left_to_exit: list[object] = []  # what the process will not free (`left_to_exit`)
_exiting_when_done = False  # the console script of an ExitWhenDone group is running


def left_to_exit(*objects: object) -> None:
    """Objects the process will never free one by one, when its console script ends it with os._exit
    (ExitWhenDone): freeing a collection's hundred thousand objects (pods, log tails, the manifest's
    entries) as its functions returned took about 15 ms of a restarted-benchmark run, on its critical
    path, for nothing. Elsewhere (in-process callers, tests), they are freed as usual."""
    if _exiting_when_done:
        _left_to_exit.extend(objects)


class ExitWhenDone(click.Group):
    """A group whose console script ends the process as soon as the command is done and its output flushed.

    After a collection Python's own teardown (atexit handlers, then every object freed, module by
    module) took about 0.05 s (benchmarks/evidence_collection.py), and none of it is needed once the
    command has closed its files: stdout, stderr and the log handlers are flushed, then the process
    exits with the command's code. Only for a tool whose files are all closed when its command
    returns or raises; called with arguments (in-process callers, tests), it returns as usual.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs:
            return super().__call__(*args, **kwargs)
        global _exiting_when_done  # one flag for the process: its console script runs
        _exiting_when_done = True
        try:
            super().__call__()
        except SystemExit as done:
            _exit_now(done.code)
        except BaseException:  # not ended here after all (a caller may catch it): nothing left to the exit
            _exiting_when_done = False
            _left_to_exit.clear()
            raise
        _exit_now(0)


def _exit_now(code: object) -> NoReturn:
    """sys.exit(code) without the interpreter's teardown: what is buffered is written first."""
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)  # as sys.exit does with a message
        code = 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed stream, a reader gone: nothing left to say
            stream.flush()
    os._exit(code)


def tool_group(tool: str, version: str, help_text: str, *, exit_when_done: bool = False) -> click.Group:
    """The top-level click group of a tool: --verbose, --version and logging set up once.

    `exit_when_done`: the console script skips the interpreter's teardown (ExitWhenDone)."""

    @click.group(name=tool, help=help_text, context_settings={"terminal_width": 100, "max_content_width": 100},
                 cls=ExitWhenDone if exit_when_done else click.Group)
    @click.version_option(version, prog_name=tool)
    @click.option("-v", "--verbose", is_flag=True, envvar="PATHOPS_VERBOSE", show_envvar=True,
                  help="Debug logging.")
    def group(verbose: bool) -> None:
        configure_logging(tool, verbose)

    return group
