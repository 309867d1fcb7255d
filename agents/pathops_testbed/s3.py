"""MinIO's stand-in: a moto S3 server in its own process, speaking the real S3 wire protocol over HTTP."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from pathops_testbed.loopback import free_port, wait_for_http


@contextmanager
def moto_s3_server(seconds: float = 30.0) -> Iterator[str]:
    """Start `python -m moto.server` on a free loopback port; yield its endpoint URL; stop it.

    Its own process, so that what it stores never counts against the memory (or the peak RSS)
    of the code under test. It accepts any credentials.
    """
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(endpoint, seconds, what="the S3 stand-in (moto)")
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)
