"""The fake API keeps HTTP/1.1 connections alive as kube-apiserver does, and the collector reuses them."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any

from pathops_testbed.http_server import BackgroundServer
from pathops_testbed.kube_api import FakeKubernetes
from tests.evidence_collector import scenarios
from tests.evidence_collector.conftest import Cluster


def _connect(server: BackgroundServer) -> http.client.HTTPConnection:
    host, port = server.url.removeprefix("http://").split(":")
    return http.client.HTTPConnection(host, int(port), timeout=10)


def test_one_connection_carries_lists_streamed_logs_and_errors_in_turn() -> None:
    api = FakeKubernetes()
    scenarios.build(api)
    with BackgroundServer(api) as server:
        connection = _connect(server)
        answers = []
        for path in (f"/api/v1/namespaces/{scenarios.NS}/pods",
                     f"/api/v1/namespaces/{scenarios.NS}/pods/catalog-1/log?container=catalog",
                     f"/api/v1/namespaces/{scenarios.NS}/pods/nothing-here",
                     "/version"):
            connection.request("GET", path)
            response = connection.getresponse()
            answers.append((response.status, response.getheader("Connection"), response.getheader("Transfer-Encoding"),
                            response.read()))
        connection.close()
        assert server.connections == 1
    pods, log, missing, version = answers
    assert pods[:3] == (200, None, None) and len(json.loads(pods[3])["items"]) > 3
    assert log[:3] == (200, None, "chunked")  # a streamed log: no length known beforehand
    assert log[3].decode().splitlines() == [f"served product {n}" for n in range(500)]
    assert missing[0] == 404 and json.loads(missing[3])["reason"] == "NotFound"
    assert version[0] == 200 and json.loads(version[3])["gitVersion"].startswith("v1.31")


def test_a_request_with_a_body_or_asking_to_close_gets_its_connection_closed() -> None:
    with BackgroundServer(FakeKubernetes()) as server:
        connection = _connect(server)
        connection.request("POST", "/api/v1/namespaces/x/pods", body=b'{"kind": "Pod"}')
        response = connection.getresponse()
        assert (response.status, response.getheader("Connection")) == (405, "close")
        response.read()
        connection.close()
        connection = _connect(server)
        connection.request("GET", "/version", headers={"Connection": "close"})
        response = connection.getresponse()
        assert (response.status, response.getheader("Connection")) == (200, "close")
        connection.close()


def test_an_app_that_fails_answers_500_and_the_server_goes_on() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/boom":
            raise RuntimeError("the stand-in broke")
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]

    with BackgroundServer(app) as server:
        connection = _connect(server)
        connection.request("GET", "/boom")
        response = connection.getresponse()
        assert response.status == 500 and b"the stand-in broke" not in response.read()
        connection.close()
        connection = _connect(server)
        connection.request("GET", "/fine")
        assert connection.getresponse().read() == b"ok"
        connection.close()


def test_the_collector_reuses_its_connections(cluster: Cluster, tmp_path: Path) -> None:
    assert cluster.server is not None
    result = cluster.collect("--no-upload", "--output-dir", str(tmp_path / "out"), "--concurrency", "4")
    assert result.returncode == 0, result.stderr
    assert len(cluster.api.requests) > 20  # enough that connections not kept would show
    # Lists: one connection per read-ahead worker and one for the traversal's own thread; logs: one per
    # stream in flight (the event loop's own). Each kept for its phase; none opened beyond what the pools
    # keep (urllib3 would log that it discards one; a log connection is reopened only after an unclean end).
    assert cluster.server.connections <= (4 + 1) + 4
    assert "pool is full" not in result.stderr
