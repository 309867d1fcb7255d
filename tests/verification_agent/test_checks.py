"""Verification checks against real servers: local HTTP apps, a real Prometheus, the fake Kubernetes API."""

from __future__ import annotations

import itertools
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug import Request, Response

from pathops_runtime.kube_reader import KubeReader
from pathops_testbed.http_server import BackgroundServer
from pathops_testbed.kube_api import FakeKubernetes, write_kubeconfig
from pathops_testbed.kube_objects import container, deployment, pod, replicaset, running, waiting
from pathops_testbed.loopback import free_port
from verification_agent.checks import Context, http_check, overall, prometheus_check, restarts_check, rollout_check

SHA = "4f2c1d8e9a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d"
NS = "shop-frontend-preflight"


def context(**kwargs: Any) -> Context:
    return Context(NS, kwargs.pop("sha", None), kwargs.pop("kube", None), kwargs.pop("prometheus", None), **kwargs)


# --- HTTP ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def apps() -> Iterator[str]:
    flips = itertools.count()

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        path = Request(environ).path
        if path == "/health":
            response = Response('{"status": "ok"}', content_type="application/json")
        elif path == "/broken":
            response = Response("boom", status=500)
        elif path == "/slow":
            time.sleep(0.3)
            response = Response('{"status": "ok"}')
        elif path == "/flapping":
            up = next(flips) % 2 == 0
            response = Response("ok" if up else "down", status=200 if up else 503)
        else:
            response = Response("not found", status=404)
        return response(environ, start_response)

    with BackgroundServer(app) as server:
        yield server.url


def http(url: str, **extra: Any) -> dict[str, Any]:
    return {"name": "health", "type": "http", "url": url, "count": 4, "interval": "10ms", **extra}


def test_http_healthy(apps: str) -> None:
    result = http_check(http(f"{apps}/health", bodyContains="ok", maxLatency="250ms"), context())
    assert (result.status, result.attempts, result.failures) == ("passed", 4, 0)
    assert all(m["status"] == 200 for m in result.measurements)


def test_http_500s_fail(apps: str) -> None:
    result = http_check(http(f"{apps}/broken"), context())
    assert result.status == "failed" and result.failures == 4 and "HTTP 500, expected 200" in result.message


def test_http_slow_fails_the_latency_bound(apps: str) -> None:
    result = http_check(http(f"{apps}/slow", count=2, maxLatency="100ms"), context())
    assert result.status == "failed" and "over 100 ms" in result.message


def test_http_flapping_within_and_beyond_the_failure_limit(apps: str) -> None:
    strict = http_check(http(f"{apps}/flapping", failureLimit=0), context())
    assert strict.status == "failed" and strict.failures == 2
    lenient = http_check(http(f"{apps}/flapping", failureLimit=2), context())
    assert lenient.status == "passed" and lenient.failures == 2  # 2 of 4 pass: count - failureLimit


def test_http_nothing_listening_fails() -> None:
    result = http_check(http(f"http://127.0.0.1:{free_port()}/health", count=2), context())
    assert result.status == "failed" and "ConnectionError" in result.message


# --- Prometheus ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, float]]]:
    """A real Prometheus (Debian) scraping, every second, an exporter whose values the test sets."""
    if subprocess.run(["which", "prometheus"], capture_output=True).returncode != 0:
        pytest.fail("prometheus is missing: `make test` installs it (apt-get install prometheus)")
    metrics: dict[str, float] = {"shop_error_ratio": 0.002, "shop_p99_latency_seconds": 0.12,
                                 "shop_pod_a_error_ratio": 0.001, "shop_pod_b_error_ratio": 0.4}

    def exporter(environ: dict[str, Any], start_response: Any) -> Any:
        body = "".join(f"# TYPE {name} gauge\n{name} {value}\n" for name, value in metrics.items())
        return Response(body, content_type="text/plain; version=0.0.4")(environ, start_response)

    root = tmp_path_factory.mktemp("prometheus")
    with BackgroundServer(exporter) as target:
        port = free_port()
        (root / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n"
            f"  - job_name: shop\n    static_configs:\n      - targets: ['{target.url.removeprefix('http://')}']\n")
        server = subprocess.Popen(["prometheus", f"--config.file={root / 'prometheus.yml'}",
                                   f"--storage.tsdb.path={root / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    answer = requests.get(f"{url}/api/v1/query", params={"query": "shop_error_ratio"}, timeout=2)
                    if answer.ok and answer.json()["data"]["result"]:
                        break
                except requests.RequestException:
                    pass
                assert time.monotonic() < deadline, "Prometheus did not scrape the exporter in time"
                time.sleep(0.2)
            yield url, metrics
        finally:
            server.terminate()
            server.wait(timeout=10)


def promql(query: str, **extra: Any) -> dict[str, Any]:
    return {"name": "slo", "type": "prometheus", "query": query, "count": 2, "interval": "10ms", **extra}


def test_prometheus_pass(prometheus: tuple[str, dict[str, float]]) -> None:
    url, _ = prometheus
    result = prometheus_check(promql("max(shop_error_ratio)", successCondition="result < 0.01"),
                              context(prometheus=url))
    assert result.status == "passed" and result.measurements[0]["value"] == pytest.approx(0.002)


def test_prometheus_fail(prometheus: tuple[str, dict[str, float]]) -> None:
    url, metrics = prometheus
    metrics["shop_p99_latency_seconds"] = 0.9
    time.sleep(2.5)  # two scrapes
    result = prometheus_check(promql("max(shop_p99_latency_seconds)", successCondition="result < 0.5",
                                     failureCondition="result >= 0.8"), context(prometheus=url))
    assert result.status == "failed" and "failureCondition" in result.message


def test_prometheus_no_samples_is_inconclusive(prometheus: tuple[str, dict[str, float]]) -> None:
    url, _ = prometheus
    result = prometheus_check(promql("sum(rate(http_requests_total[1m]))", successCondition="result > 0"),
                              context(prometheus=url))
    assert result.status == "inconclusive" and "0 samples" in result.message


def test_prometheus_unset_is_inconclusive() -> None:
    assert prometheus_check(promql("up", successCondition="result == 1"), context()).status == "inconclusive"


def test_prometheus_judges_every_series_not_only_the_first(prometheus: tuple[str, dict[str, float]]) -> None:
    url, _ = prometheus
    query = '{__name__=~"shop_pod_._error_ratio"}'  # pod a (first, healthy) and pod b (40% errors)
    result = prometheus_check(promql(query, successCondition="result < 0.01"), context(prometheus=url))
    assert result.status == "failed"
    assert "1 of 2 series" in result.message and "shop_pod_b_error_ratio" in result.message
    assert "shop_pod_a_error_ratio" not in result.message.split("last problem")[1]


def test_prometheus_without_a_condition_never_passes(prometheus: tuple[str, dict[str, float]]) -> None:
    url, _ = prometheus
    result = prometheus_check(promql("max(shop_error_ratio)"), context(prometheus=url))
    assert result.status == "inconclusive" and "no successCondition or failureCondition" in result.message


# --- Kubernetes ------------------------------------------------------------------------------

@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[FakeKubernetes, KubeReader]]:
    api = FakeKubernetes()
    with BackgroundServer(api) as server:
        reader = KubeReader.connect(str(write_kubeconfig(tmp_path / "kubeconfig", server.url, NS)), None, 4)
        yield api, reader


def _rollout(api: FakeKubernetes, ready: int, sha: str = SHA) -> dict[str, Any]:
    spec = {"containers": [container("web", f"harbor/shop-frontend:{sha[:12]}")]}
    owner = deployment("shop-frontend", NS, spec, replicas=2, ready=ready, updated=2,
                       template_annotations={"pathops.io/source-commit": sha})
    owner["status"]["availableReplicas"] = ready
    rs = replicaset(owner, 2, spec, replicas=2, ready=ready)
    api.add_all([owner, rs, pod("web-a", rs, [running("web", "x", restarts=0)], ready=True),
                 pod("web-b", rs, [running("web", "x", restarts=1)], ready=ready == 2)])
    return owner


def rollout(**extra: Any) -> dict[str, Any]:
    return {"name": "rollout", "type": "rollout", "workload": "deployment/shop-frontend", "count": 3,
            "interval": "10ms", **extra}


def test_rollout_complete_on_the_expected_commit(cluster: tuple[FakeKubernetes, KubeReader]) -> None:
    api, reader = cluster
    _rollout(api, ready=2)
    assert rollout_check(rollout(), context(kube=reader, sha=SHA)).status == "passed"
    other = "b" * 40
    result = rollout_check(rollout(), context(kube=reader, sha=other))
    assert result.status == "failed" and "not on bbbbbbbbbbbb" in result.message


def test_rollout_that_never_finishes_fails(cluster: tuple[FakeKubernetes, KubeReader]) -> None:
    api, reader = cluster
    _rollout(api, ready=1)
    result = rollout_check(rollout(), context(kube=reader))
    assert result.status == "failed" and result.attempts == 3 and "did not finish" in result.message


def test_rollout_of_a_missing_workload_is_inconclusive(cluster: tuple[FakeKubernetes, KubeReader]) -> None:
    _, reader = cluster
    assert rollout_check(rollout(), context(kube=reader)).status == "inconclusive"


def test_rbac_refusal_is_inconclusive(cluster: tuple[FakeKubernetes, KubeReader]) -> None:
    api, reader = cluster
    _rollout(api, ready=2)
    api.forbid("deployments")
    result = rollout_check(rollout(), context(kube=reader))
    assert result.status == "inconclusive" and "RBAC refused" in result.message


def test_restarts_during_the_window_fail(cluster: tuple[FakeKubernetes, KubeReader]) -> None:
    api, reader = cluster
    owner = _rollout(api, ready=2)
    check = {"name": "restarts", "type": "restarts", "workload": "deployment/shop-frontend", "window": "400ms"}
    assert restarts_check(check, context(kube=reader)).status == "passed"

    def crash_later() -> None:
        time.sleep(0.15)
        rs = next(iter(api.objects["replicasets"][NS].values()))
        oom = {"exitCode": 137, "reason": "OOMKilled", "finishedAt": "2026-11-27T10:00:00Z"}
        api.add(pod("web-a", rs, [running("web", "x", restarts=1, last_terminated=oom)], ready=True))

    assert owner
    thread = threading.Thread(target=crash_later)
    thread.start()
    result = restarts_check(check, context(kube=reader))
    thread.join()
    assert result.status == "failed" and "OOMKilled" in result.message


def test_no_pods_is_inconclusive_and_overall_never_passes_without_evidence(
    cluster: tuple[FakeKubernetes, KubeReader],
) -> None:
    api, reader = cluster
    spec = {"containers": [container("web", "x")]}
    api.add(deployment("shop-frontend", NS, spec, replicas=0))
    check = {"name": "restarts", "type": "restarts", "workload": "deployment/shop-frontend", "window": "10ms"}
    result = restarts_check(check, context(kube=reader))
    assert result.status == "inconclusive"
    assert overall([result]) == "inconclusive" and overall([]) == "inconclusive"


def test_rollout_of_zero_replicas_is_not_passed(cluster: tuple[FakeKubernetes, KubeReader]) -> None:
    api, reader = cluster
    api.add(deployment("shop-frontend", NS, {"containers": [container("web", "x")]}, replicas=0))
    for sha in (None, SHA):
        result = rollout_check(rollout(), context(kube=reader, sha=sha))
        assert result.status == "inconclusive" and "replicas: 0" in result.message
        assert result.attempts == 1  # nothing to wait for


def test_rollout_whose_pods_cannot_be_seen_is_not_passed(cluster: tuple[FakeKubernetes, KubeReader]) -> None:
    api, reader = cluster
    owner = deployment("shop-frontend", NS, {"containers": [container("web", "x")]}, replicas=2, ready=2)
    owner["status"]["availableReplicas"] = 2
    api.add(owner)  # the status says ready, yet no pod matches the selector
    result = rollout_check(rollout(), context(kube=reader))
    assert result.status == "inconclusive" and "no pod matches app.kubernetes.io/name=shop-frontend" in result.message


def _restarts(window: str = "400ms") -> dict[str, Any]:
    return {"name": "restarts", "type": "restarts", "workload": "deployment/shop-frontend", "window": window}


def _during_the_window(change: Any) -> threading.Thread:
    def later() -> None:
        time.sleep(0.15)
        change()

    thread = threading.Thread(target=later)
    thread.start()
    return thread


def test_a_pod_replaced_by_an_oom_killed_one_fails(cluster: tuple[FakeKubernetes, KubeReader]) -> None:
    api, reader = cluster
    _rollout(api, ready=2)
    rs = next(iter(api.objects["replicasets"][NS].values()))
    oom = {"exitCode": 137, "reason": "OOMKilled", "finishedAt": "2026-11-27T10:00:00Z"}

    def replace() -> None:
        del api.objects["pods"][NS]["web-a"]
        api.add(pod("web-c", rs, [waiting("web", "x", "CrashLoopBackOff", restarts=0, last_terminated=oom)]))

    thread = _during_the_window(replace)
    result = restarts_check(_restarts(), context(kube=reader))
    thread.join()
    assert result.status == "failed" and "OOMKilled" in result.message and "web-c/web" in result.message


def test_a_pod_that_vanished_or_came_back_new_is_not_passed(cluster: tuple[FakeKubernetes, KubeReader]) -> None:
    api, reader = cluster
    _rollout(api, ready=2)
    thread = _during_the_window(lambda: api.objects["pods"][NS].pop("web-b"))
    vanished = restarts_check(_restarts(), context(kube=reader))
    thread.join()
    assert vanished.status == "inconclusive" and "gone: ['web-b']" in vanished.message

    def same_name_new_pod() -> None:  # a StatefulSet pod recreated: same name, new uid, restartCount 0
        fresh = dict(api.objects["pods"][NS]["web-a"])
        fresh["metadata"] = {**fresh["metadata"], "uid": "uid-pod-web-a-2"}
        api.add(fresh)

    thread = _during_the_window(same_name_new_pod)
    recreated = restarts_check(_restarts(), context(kube=reader))
    thread.join()
    assert recreated.status == "inconclusive" and "pods changed during the window" in recreated.message


def test_job_check_runs_an_allowed_command() -> None:
    from verification_agent.checks import job_check

    allowed = context(allowed_job_commands=frozenset({"python3", "sleep", "no-such-smoke-test"}))
    passing = job_check({"name": "smoke", "type": "job", "command": ["python3", "-c", "print('3 passed')"]}, allowed)
    assert passing.status == "passed" and "3 passed" in passing.message
    failing = job_check({"name": "smoke", "type": "job", "command": ["python3", "-c", "raise SystemExit(1)"]},
                        allowed)
    assert failing.status == "failed" and failing.message.startswith("exit 1")
    slow = job_check({"name": "smoke", "type": "job", "command": ["sleep", "5"], "timeout": "200ms"}, allowed)
    assert slow.status == "failed" and "timed out" in slow.message
    missing = job_check({"name": "smoke", "type": "job", "command": ["no-such-smoke-test"]}, allowed)
    assert missing.status == "inconclusive"


def test_job_check_without_an_allow_list_runs_nothing(tmp_path: Path) -> None:
    from verification_agent.checks import job_check

    marker = tmp_path / "ran"
    check = {"name": "smoke", "type": "job", "command": ["python3", "-c", f"open({str(marker)!r}, 'w')"]}
    for allowed in (frozenset(), frozenset({"/usr/bin/python3", "python"})):
        result = job_check(check, context(allowed_job_commands=allowed))
        assert result.status == "inconclusive" and "not an allowed job command" in result.message
    assert not marker.exists()


def test_rollout_expecting_an_image_fails_when_pods_run_another(cluster: tuple[FakeKubernetes, KubeReader]) -> None:
    api, reader = cluster
    _rollout(api, ready=2)
    assert rollout_check(rollout(expectImage=f"harbor/shop-frontend:{SHA[:12]}"),
                         context(kube=reader)).status == "passed"
    result = rollout_check(rollout(expectImage="harbor/shop-frontend:0123456789ab"), context(kube=reader))
    assert result.status == "failed" and "not running harbor/shop-frontend:0123456789ab" in result.message
