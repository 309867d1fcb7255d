"""Many logs from one event loop, against the fake API over real sockets: answers read as KubeReader reads them."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pathops_contracts.errors import UpstreamError
from pathops_runtime.kube_connection import load_connection
from pathops_runtime.kube_reader import DeadlineReached, KubeReader, NotFound, ReadForbidden
from pathops_runtime.log_streams import LogBody, LogFetch, LogStreams
from pathops_testbed.http_server import BackgroundServer
from pathops_testbed.kube_api import FakeKubernetes, write_kubeconfig
from pathops_testbed.kube_logs import StaticLog
from pathops_testbed.kube_objects import container, deployment, pod, replicaset, running

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
