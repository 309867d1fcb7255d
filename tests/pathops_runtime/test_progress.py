"""Progress lines: on a terminal only, masked, and with no escape sequence reaching the terminal."""

from __future__ import annotations

import io
import os
import pty

from pathops_runtime.logs import mask_secret
from pathops_runtime.progress import no_progress, terminal_progress


def test_a_terminal_gets_masked_printable_lines() -> None:
    controller, terminal = pty.openpty()
    try:
        with os.fdopen(terminal, "w", encoding="utf-8", closefd=True) as stream:
            mask_secret("hunter2-progress-secret")
            show = terminal_progress("verification-agent", stream)
            show("probe \x1b]0;owned\x07: round 1/3 with hunter2-progress-secret")
        shown = os.read(controller, 4096).decode()
    finally:
        os.close(controller)
    assert shown == "verification-agent: probe ?]0;owned?: round 1/3 with ***\r\n"


def test_no_terminal_no_line() -> None:
    stream = io.StringIO()
    show = terminal_progress("evidence-collector", stream)
    show("reading namespace shop-frontend-preflight")
    assert show is no_progress and stream.getvalue() == ""
