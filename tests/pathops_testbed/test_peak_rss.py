"""run_measured reports the command's own peak RSS and exit, not those of the process that starts it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from pathops_testbed.peak_rss import run_measured

ALLOCATE = "import sys; block = bytearray(int(sys.argv[1]) * 1024 * 1024); block[::4096] = b'x' * len(block[::4096])"


def test_a_small_child_of_a_large_process_reports_its_own_small_peak() -> None:
    ballast = bytearray(400 * 1024 * 1024)
    ballast[::4096] = b"x" * len(ballast[::4096])  # touched: resident in this process
    small = run_measured([sys.executable, "-c", "pass"], os.environ)
    large = run_measured([sys.executable, "-c", ALLOCATE, "300"], os.environ)
    del ballast
    assert small.returncode == 0 and large.returncode == 0
    assert small.peak_rss_mb < 100  # an interpreter doing nothing, not this process's 400 MB
    assert large.peak_rss_mb >= 300


def test_exit_codes_signals_and_output_come_back() -> None:
    failed = run_measured([sys.executable, "-c", "import sys; print('out'); sys.exit(4)"], os.environ,
                          stdout=subprocess.PIPE)
    assert (failed.returncode, failed.stdout) == (4, "out\n")
    killed = run_measured([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"],
                          os.environ)
    assert killed.returncode == -signal.SIGKILL
    missing = run_measured(["pathops-no-such-command"], os.environ, stderr=subprocess.PIPE)
    assert missing.returncode == 127 and "cannot run pathops-no-such-command" in (missing.stderr or "")
