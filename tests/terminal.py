"""Run a CLI with its stderr on a pseudo-terminal, as a person at a terminal would see it."""

from __future__ import annotations

import os
import pty
import subprocess
import threading
from collections.abc import Mapping, Sequence


def run_on_a_terminal(argv: Sequence[str], env: Mapping[str, str], timeout: float = 120
                      ) -> tuple[int, str, str]:
    """(exit code, stdout, what the terminal showed): stderr is a pty, stdout a pipe, stdin /dev/null."""
    controller, terminal = pty.openpty()
    shown: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(controller, 65536)
            except OSError:  # EIO: every process holding the terminal has closed it
                return
            if not data:
                return
            shown.append(data)

    try:
        process = subprocess.Popen(list(argv), env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=terminal)
    finally:
        os.close(terminal)
    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        out, _ = process.communicate(timeout=timeout)
    finally:
        reader.join(timeout=10)
        os.close(controller)
    return process.returncode, out.decode(), b"".join(shown).decode(errors="replace").replace("\r\n", "\n")
