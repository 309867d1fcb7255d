"""Progress lines for long waits, shown only to a person at a terminal.

When stderr is a terminal, `terminal_progress` returns a function that prints one readable
line per step ("verification-agent: probe-ok: round 2/5: passed"); otherwise (a Job's stderr,
a pipe, a file) one that prints nothing, so the JSON log lines there stay as they are.
Lines go through the same secret masking as log lines, and characters a terminal would
interpret (escape sequences from a spec, a pod name, a log) are shown as `?`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from pathops_runtime.logs import masked

Progress = Callable[[str], None]
MAX_LINE = 300


def no_progress(message: str) -> None:
    """The progress of a run nobody watches: nothing."""


def terminal_progress(tool: str, stream: TextIO | None = None) -> Progress:
    """A progress printer on `stream` (default stderr) when it is a terminal, else `no_progress`."""
    target = stream if stream is not None else sys.stderr
    if not target.isatty():
        return no_progress

    def show(message: str) -> None:
        line = "".join(c if c.isprintable() else "?" for c in masked(message))[:MAX_LINE]
        target.write(f"{tool}: {line}\n")
        target.flush()

    return show
