"""Many logs from one event loop, against the fake API over real sockets: answers read as KubeReader reads them."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pathops_contracts.errors import InvalidInput, UpstreamError
from pathops_runtime.kube_connection import load_connection
from pathops_runtime.kube_reader import DeadlineReached, KubeReader, NotFound, ReadForbidden
from pathops_runtime.log_streams import LogBody, LogFetch, LogStreams
from pathops_testbed.http_server import BackgroundServer
from pathops_testbed.kube_api import FakeKubernetes, write_kubeconfig
from pathops_testbed.kube_logs import StaticLog
from pathops_testbed.kube_objects import container, deployment, pod, replicaset, running
from tests.pathops_runtime.raw_server import RawServer

NS = "shop-preflight"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[FakeKubernetes, Path, BackgroundServer]]:
    fake = FakeKubernetes()
    now = datetime.now(UTC)
    spec = {"containers": [container("web", "harbor/shop:1")]}
    owner = deployment("web", NS, spec, replicas=20, ready=20)
    rs = replicaset(owner, 1, spec, replicas=20)
    fake.add_all([owner, rs])
    for n in range(20):
        fake.add(pod(f"web-{n}", rs, [running("web", "harbor/shop:1")], ready=True))
        fake.set_log(NS, f"web-{n}", "web",
                     StaticLog([(now - timedelta(seconds=60 - i), f"pod {n} line {i}") for i in range(50)]))
    with BackgroundServer(fake) as server:
        yield fake, write_kubeconfig(tmp_path / "kubeconfig", server.url, NS), server


def _fetch(pod_name: str, *, previous: bool = False, limit: int = 100_000, seconds: float = 10) -> LogFetch:
    return LogFetch(KubeReader.log_target(NS, pod_name, "web", previous=previous, since_time=None, tail_lines=1000,
                                          limit_bytes=limit), limit, time.monotonic() + seconds)


def _run(kubeconfig: Path, fetches: dict[str, LogFetch], concurrency: int = 4, deadline: float | None = None
         ) -> dict[str, LogBody | Exception]:
    outcomes: dict[str, LogBody | Exception] = {}
    streams = LogStreams[str](load_connection(str(kubeconfig), None), concurrency, deadline=deadline, backoff=0.01)
    streams.run(fetches, fetches.get, lambda key, _, outcome: outcomes.__setitem__(key, outcome))
    return outcomes


def _text(outcome: LogBody | Exception) -> str:
    assert isinstance(outcome, LogBody), outcome
    return b"".join(outcome.chunks).decode()


def test_every_log_arrives_whole_over_a_few_kept_connections(api: tuple[FakeKubernetes, Path, BackgroundServer]
                                                              ) -> None:
    _, kubeconfig, server = api
    outcomes = _run(kubeconfig, {f"web-{n}": _fetch(f"web-{n}") for n in range(20)})
    for n in range(20):
        lines = _text(outcomes[f"web-{n}"]).splitlines()
        assert len(lines) == 50 and lines[-1].endswith(f"pod {n} line 49")
    assert server.connections == 4  # one per stream in flight, each kept for the next log


def test_5xx_and_429_are_retried_and_refusals_are_not(api: tuple[FakeKubernetes, Path, BackgroundServer]) -> None:
    fake, kubeconfig, _ = api
    fake.fail(r"/pods/web-1/log", 503, times=2)
    fake.fail(r"/pods/web-2/log", 429, times=1, retry_after="0")
    fake.fail(r"/pods/web-3/log", 403, times=1)
    outcomes = _run(kubeconfig, {"a": _fetch("web-1"), "b": _fetch("web-2"), "c": _fetch("web-3"),
                                 "d": _fetch("web-4", previous=True), "e": _fetch("nobody")})
    assert "pod 1 line 49" in _text(outcomes["a"]) and "pod 2 line 49" in _text(outcomes["b"])
    assert isinstance(outcomes["c"], ReadForbidden)
    assert isinstance(outcomes["d"], NotFound) and "previous terminated container" in str(outcomes["d"])
    assert isinstance(outcomes["e"], NotFound)


def test_a_failure_that_lasts_is_an_upstream_error_naming_the_status(
        api: tuple[FakeKubernetes, Path, BackgroundServer]) -> None:
    fake, kubeconfig, _ = api
    fake.fail(r"/pods/web-1/log", 500, times=10)
    outcome = _run(kubeconfig, {"a": _fetch("web-1")})["a"]
    assert isinstance(outcome, UpstreamError) and "answered 500" in str(outcome)


def test_a_server_ignoring_limit_bytes_is_cut_off_and_the_next_log_still_arrives(
        api: tuple[FakeKubernetes, Path, BackgroundServer]) -> None:
    fake, kubeconfig, _ = api
    fake.ignore_limit_bytes = True
    outcomes = _run(kubeconfig, {"a": _fetch("web-1", limit=300), "b": _fetch("web-2")}, concurrency=1)
    cut = outcomes["a"]
    assert isinstance(cut, LogBody) and "more than limitBytes (300)" in cut.cut_because
    assert "pod 2 line 49" in _text(outcomes["b"])


def test_nothing_starts_past_the_deadline(api: tuple[FakeKubernetes, Path, BackgroundServer]) -> None:
    fake, kubeconfig, _ = api
    outcomes = _run(kubeconfig, {"a": _fetch("web-1")}, deadline=time.monotonic() - 1)
    assert isinstance(outcomes["a"], DeadlineReached)
    assert not any("/log" in request for request in fake.requests)


def test_the_bytes_in_flight_stay_under_the_cap(api: tuple[FakeKubernetes, Path, BackgroundServer]) -> None:
    _, kubeconfig, _ = api
    in_flight: list[int] = []
    fetches = {f"web-{n}": _fetch(f"web-{n}", limit=40_000) for n in range(12)}
    streams = LogStreams[str](load_connection(str(kubeconfig), None), 8, in_flight_bytes=100_000)
    original = streams._fetch
    running_now: list[str] = []

    async def watched(connection: object, fetch: LogFetch) -> LogBody:
        running_now.append(fetch.target)
        in_flight.append(len(running_now))
        try:
            return await original(connection, fetch)  # type: ignore[arg-type]
        finally:
            running_now.remove(fetch.target)

    streams._fetch = watched  # type: ignore[method-assign]
    done: list[str] = []
    streams.run(fetches, fetches.get, lambda key, _, outcome: done.append(key))
    assert sorted(done) == sorted(fetches) and max(in_flight) <= 2  # 2 x 40 kB fit 100 kB, 3 do not


def _answering(status: str, body: bytes) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]
    return app


def test_an_error_answer_nested_past_the_parsers_stack_is_an_error_not_a_crash(tmp_path: Path) -> None:
    with BackgroundServer(_answering("400 Bad Request", b"[" * 60_000)) as server:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server.url, NS)
        outcome = _run(kubeconfig, {"a": _fetch("web-1")})["a"]
        assert isinstance(outcome, UpstreamError) and "answered 400" in str(outcome)
        reader = KubeReader.connect(str(kubeconfig), None, 1)
        with pytest.raises(UpstreamError, match="answered 400"):
            reader.list("pods", NS)


def test_a_list_answer_nested_past_the_parsers_stack_is_an_upstream_error(tmp_path: Path) -> None:
    with BackgroundServer(_answering("200 OK", b"[" * 60_000)) as server:
        reader = KubeReader.connect(str(write_kubeconfig(tmp_path / "kubeconfig", server.url, NS)), None, 1)
        with pytest.raises(UpstreamError, match="not a JSON document"):
            reader.list("pods", NS)


def test_a_server_that_never_answers_is_a_deadline_not_an_unreachable_api(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{port}", NS)
        outcome = _run(kubeconfig, {"a": _fetch("web-1", seconds=1)})["a"]
    assert isinstance(outcome, DeadlineReached), outcome


def _ok(body: bytes, *headers: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\n" + b"".join(header + b"\r\n" for header in headers) + (
        b"Content-Length: %d\r\n\r\n" % len(body)) + body


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Callable[[str], Path]:
    return lambda url: write_kubeconfig(tmp_path / "kubeconfig", url, NS)


def test_the_host_header_never_carries_the_servers_user_and_password(kubeconfig: Callable[[str], Path]) -> None:
    with RawServer(lambda n: (_ok(b"log %d" % n), "keep")) as server:
        outcomes = _run(kubeconfig(server.url.replace("http://", "http://admin:hunter2@")), {"a": _fetch("web-1")})
        assert _text(outcomes["a"]) == "log 0"
        assert f"\r\nHost: {server.url[7:]}\r\n" in server.requests[0].decode("latin-1")


@pytest.mark.parametrize("extra", [_ok(b"not what was asked for"), b"garbage\r\n\r\n"], ids=["answer", "garbage"])
def test_bytes_after_the_end_of_an_answer_are_not_taken_for_the_next_one(
        kubeconfig: Callable[[str], Path], extra: bytes) -> None:
    with RawServer(lambda n: (_ok(b"log %d" % n) + (extra if n == 0 else b""), "keep")) as server:
        outcomes = _run(kubeconfig(server.url), {"a": _fetch("web-1"), "b": _fetch("web-2")}, concurrency=1)
        assert _text(outcomes["a"]) == "log 0" and _text(outcomes["b"]) == "log 1"
        assert server.connections == 2 and len(server.requests) == 2  # no reuse, and no failed attempt


def test_a_body_that_ends_when_the_server_closes_is_whole_and_its_connection_is_not_reused(
        kubeconfig: Callable[[str], Path]) -> None:
    body = b"".join(b"line %d\n" % i for i in range(5000))
    with RawServer(lambda n: (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + body, "close")) as server:
        outcomes = _run(kubeconfig(server.url), {"a": _fetch("web-1"), "b": _fetch("web-2")}, concurrency=1)
        for key in ("a", "b"):
            assert _text(outcomes[key]) == body.decode()
            assert isinstance(outcomes[key], LogBody) and outcomes[key].cut_because == ""  # type: ignore[union-attr]
        assert server.connections == 2 and len(server.requests) == 2


def test_a_body_shorter_than_its_content_length_is_kept_and_said_to_be_cut(kubeconfig: Callable[[str], Path]) -> None:
    with RawServer(lambda n: (b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly this", "close")) as server:
        outcome = _run(kubeconfig(server.url), {"a": _fetch("web-1")})["a"]
    assert _text(outcome) == "only this"
    assert isinstance(outcome, LogBody) and "the stream broke" in outcome.cut_because


def test_informational_answers_before_the_answer_are_skipped(kubeconfig: Callable[[str], Path]) -> None:
    informational = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
    with RawServer(lambda n: (informational + _ok(b"log %d" % n), "keep")) as server:
        outcomes = _run(kubeconfig(server.url), {"a": _fetch("web-1"), "b": _fetch("web-2")}, concurrency=1)
        assert _text(outcomes["a"]) == "log 0" and _text(outcomes["b"]) == "log 1"
        assert server.connections == 1


@pytest.mark.parametrize("closing", [_ok(b"log", b"Connection: close"),
                                     b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nlog"], ids=["close", "http/1.0"])
def test_a_server_closing_its_connection_gets_the_next_request_on_a_new_one(
        kubeconfig: Callable[[str], Path], closing: bytes) -> None:
    with RawServer(lambda n: (closing, "hold")) as server:  # says it closes, but holds the socket open
        outcomes = _run(kubeconfig(server.url), {"a": _fetch("web-1", seconds=5), "b": _fetch("web-2", seconds=5)},
                        concurrency=1)
        assert _text(outcomes["a"]) == "log" and _text(outcomes["b"]) == "log"
        assert server.connections == 2


@pytest.mark.parametrize(("answer", "after"), [
    (b"HTTP/1.1 2xx OK\r\n\r\n", "close"), (b"SSH-2.0-OpenSSH_9.6\r\n", "close"),
    (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", "close"),
    (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 300_000, "hold"),  # a head that never ends: cut at its bound
    (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", "close"),
    (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n", "close")],
    ids=["status", "not-http", "huge-head", "endless-head", "ambiguous-length", "upgrade"])
def test_a_malformed_answer_is_an_upstream_error_after_retries(kubeconfig: Callable[[str], Path], answer: bytes,
                                                               after: str) -> None:
    with RawServer(lambda n: (answer, after)) as server:
        outcome = _run(kubeconfig(server.url), {"a": _fetch("web-1")})["a"]
        assert isinstance(outcome, UpstreamError) and "malformed HTTP answer" in str(outcome), outcome
        assert len(server.requests) == 4  # every attempt, each on a new connection


@pytest.mark.parametrize("token", ["sekrit-token\n", "sekrit-token\r\nX-Injected: yes", "sekrit\x00token"])
def test_credentials_that_would_inject_a_header_are_refused_before_anything_is_sent(tmp_path: Path, token: str
                                                                                    ) -> None:
    with RawServer(lambda n: (_ok(b"log"), "keep")) as server:
        config = write_kubeconfig(tmp_path / "kubeconfig", server.url, NS, token=token)
        with pytest.raises(InvalidInput, match="Authorization header") as refused:
            _run(config, {"a": _fetch("web-1")})
        assert "sekrit" not in str(refused.value) and server.connections == 0


@pytest.mark.parametrize("pod_name", ["web-1 HTTP/1.1\r\nX-Injected: yes\r\n\r\nGET /x", "web\x001", "wéb-1"])
def test_a_target_that_would_change_the_request_is_refused_and_the_other_logs_arrive(
        kubeconfig: Callable[[str], Path], pod_name: str) -> None:
    with RawServer(lambda n: (_ok(b"log %d" % n), "keep")) as server:
        outcomes = _run(kubeconfig(server.url), {"bad": LogFetch(f"/api/v1/namespaces/{NS}/pods/{pod_name}/log",
                                                                 1000, time.monotonic() + 10),
                                                  "good": _fetch("web-2")}, concurrency=1)
        assert isinstance(outcomes["bad"], UpstreamError) and "refused to request" in str(outcomes["bad"])
        assert _text(outcomes["good"]) == "log 0" and len(server.requests) == 1


def test_a_trailer_that_never_ends_breaks_the_stream_at_its_bound_and_the_body_is_kept(
        kubeconfig: Callable[[str], Path]) -> None:
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Trailer: " + b"a" * 300_000
    with RawServer(lambda n: (answer, "hold")) as server:
        outcome = _run(kubeconfig(server.url), {"a": _fetch("web-1", seconds=30)})["a"]
    assert _text(outcome) == "hello"
    assert isinstance(outcome, LogBody) and "stream broke: malformed HTTP answer" in outcome.cut_because


def test_a_server_url_with_a_path_has_every_log_request_under_it(kubeconfig: Callable[[str], Path]) -> None:
    with RawServer(lambda n: (_ok(b"log %d" % n), "keep")) as server:
        outcome = _run(kubeconfig(server.url + "/k8s/clusters/c-m-abc"), {"a": _fetch("web-1")})["a"]
        assert _text(outcome) == "log 0"
        expected = f"GET /k8s/clusters/c-m-abc/api/v1/namespaces/{NS}/pods/web-1/log?"
        assert server.requests[0].startswith(expected.encode())
