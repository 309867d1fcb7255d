"""wait_for_http: any HTTP answer ends the wait; a server that never answers is a one-line UpstreamError."""

from __future__ import annotations

import pytest
from werkzeug import Response

from pathops_contracts.errors import UpstreamError
from pathops_testbed.http_server import BackgroundServer
from pathops_testbed.loopback import free_port, wait_for_http


def test_an_error_status_is_an_answer() -> None:
    def app(environ: dict[str, object], start_response: object) -> object:
        return Response("no such page", status=404)(environ, start_response)  # type: ignore[arg-type]

    with BackgroundServer(app) as server:
        assert wait_for_http(f"{server.url}/healthz") == 404


def test_nobody_listening_ends_in_an_upstream_error_naming_the_server() -> None:
    port = free_port()
    with pytest.raises(UpstreamError, match=f"the S3 stand-in did not answer at http://127.0.0.1:{port}/"):
        wait_for_http(f"http://127.0.0.1:{port}/", seconds=0.3, what="the S3 stand-in")
