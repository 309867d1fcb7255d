"""Loopback plumbing of the stand-ins: a free port to bind, and waiting for a server that is starting."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request

from pathops_contracts.errors import UpstreamError


def free_port() -> int:
    """A loopback port nobody listens on now (for a server started in another process)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_http(url: str, seconds: float = 20.0, what: str = "the local server") -> int:
    """The HTTP status of GET url once the server answers at all (any status counts as an answer).

    Refused connections and timeouts are retried until `seconds` have passed: a loaded machine
    may accept a connection and answer its first request late. Then UpstreamError.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 -- a loopback http URL of ours
                return int(response.status)
        except urllib.error.HTTPError as error:
            error.close()
            return int(error.code)
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise UpstreamError(f"{what} did not answer at {url} within {seconds:g} s") from None
            time.sleep(0.05)
