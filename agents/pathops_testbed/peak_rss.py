"""Wall time and peak RSS of one child process, measured with os.wait4 by a lean launcher.

Linux carries a process's RSS high-water mark into a forked child across exec: a child started
straight from a large process (a test holding 60,000 events, a benchmark holding a fake API)
would report its parent's peak. So a small launcher (`python -S`, nothing imported) forks the
command and reports the command's own peak.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

_LAUNCHER = """
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    except OSError as error:
        print(f"cannot run {sys.argv[2]}: {error}", file=sys.stderr)
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(f"{time.perf_counter() - started} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)} "
              f"{usage.ru_utime + usage.ru_stime}")
"""

Output = int | IO[Any] | None


@dataclass(frozen=True)
class MeasuredRun:
    seconds: float  # wall time of the command alone, not of the launcher's start
    peak_rss_kib: int  # ru_maxrss of the command (Linux reports KiB)
    returncode: int  # negative: killed by that signal
    cpu_seconds: float  # user + system CPU of the command
    stdout: str | None  # text when stdout=subprocess.PIPE
    stderr: str | None

    @property
    def peak_rss_mb(self) -> float:
        return self.peak_rss_kib / 1024


def run_measured(command: Sequence[str], env: Mapping[str, str], *, stdout: Output = subprocess.DEVNULL,
                 stderr: Output = subprocess.DEVNULL, timeout: float | None = None) -> MeasuredRun:
    """Run command (looked up on env's PATH) with stdin closed; its figures. Output goes where told."""
    handle, name = tempfile.mkstemp(prefix="peak-rss-")
    os.close(handle)
    figures = Path(name)
    try:
        result = subprocess.run([sys.executable, "-S", "-c", _LAUNCHER, str(figures), *command], env=dict(env),
                                stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, text=True, timeout=timeout,
                                check=False)
        if result.returncode != 0:
            raise RuntimeError(f"the peak-RSS launcher failed with exit {result.returncode}")
        seconds, peak, code, cpu = figures.read_text().split()
    finally:
        figures.unlink(missing_ok=True)
    return MeasuredRun(float(seconds), int(peak), int(code), float(cpu), result.stdout, result.stderr)
