"""The pods of one controller that crash the same way are one finding; a pod that fails otherwise keeps its own."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from evidence_collector.detectors import detect, summarize
from evidence_collector.detectors.crashes import read_tail
from evidence_collector.detectors.grouping import MAX_PODS, masked
from evidence_collector.findings import Evidence
from pathops_testbed.http_server import BackgroundServer
from pathops_testbed.kube_api import FakeKubernetes, write_kubeconfig
from pathops_testbed.kube_objects import ago, container, deployment, event, pod, replicaset, running, waiting
from tests.evidence_collector.conftest import Cluster, unpack
from tests.evidence_collector.scenarios import lines

NS = "shop-frontend-production"
SPEC = {"containers": [container("web", "harbor/shop:1"),
                       container("sidecar", "harbor/proxy:1", port=9090, probe_path=None)]}


def _pods(owner: dict[str, Any], count: int, prefix: str, code: int = 1) -> list[dict[str, Any]]:
    return [pod(f"{prefix}-{index}", owner, [
        running("web", "harbor/shop:1", ready=False, restarts=3 + index,
                last_terminated={"exitCode": code, "reason": "Error", "finishedAt": ago(2)}),
        running("sidecar", "harbor/proxy:1")]) for index in range(count)]


def _tail(pod_name: str, error: str, number: int) -> tuple[str, list[str], int]:
    """A previous log's last lines: the same error, its own times, request ids and name."""
    lines = [f"2026-12-01T20:{number % 60:02d}:00.{number}12Z INFO {pod_name} served request {4000 + number}\n",
             f"2026-12-01T20:{number % 60:02d}:01.{number}34Z ERROR {error} (trace 9f{number}c2a7e1b4d)\n"]
    return f"logs/{pod_name}/web.previous.log", lines, 1


def _evidence(pods: list[dict[str, Any]], errors: dict[str, str], sets: list[dict[str, Any]]) -> Evidence:
    tails = {(p["metadata"]["name"], "web", True): _tail(p["metadata"]["name"], errors[p["metadata"]["name"]], i)
             for i, p in enumerate(pods)}
    return Evidence(pods, [], [], [], [], sets, [], tails)


def test_replicas_that_crash_the_same_way_are_one_finding_that_counts_and_names_them() -> None:
    shop = deployment("shop", NS, SPEC, replicas=4)
    current = replicaset(shop, 2, SPEC, replicas=4)
    pods = _pods(current, 4, "shop-7d9f")
    findings = detect(_evidence(pods, dict.fromkeys((p["metadata"]["name"] for p in pods),
                                                    "database is unreachable: connection refused"), [current]))
    crashes = [f for f in findings if f.kind == "crash-loop"]
    assert len(crashes) == 1
    merged = crashes[0]
    assert merged.title == "web is crash-looping in 4 pods of deployment/shop (exit code 1)"
    assert merged.facts["pods"] == [f"shop-7d9f-{i}" for i in range(4)] and merged.facts["pod_count"] == 4
    # The first pod's evidence, as it stands: its pointers and quotes, its facts (the fix agent locates it).
    assert merged.facts["pod"] == "shop-7d9f-0" and merged.facts["container"] == "web"
    assert [q.file for q in merged.quotes] == ["logs/shop-7d9f-0/web.previous.log"] * 2
    assert "restarts 3 to 6" in merged.detail and "connection refused" in merged.detail
    assert "replicaset/" + current["metadata"]["name"] in merged.objects
    summary = summarize(findings)
    assert "4 pods of deployment/shop" in summary and "shop-7d9f-1" not in summary


def test_a_pod_that_fails_otherwise_keeps_a_finding_of_its_own() -> None:
    shop = deployment("shop", NS, SPEC, replicas=4)
    current = replicaset(shop, 2, SPEC, replicas=4)
    other = deployment("cart", NS, SPEC, replicas=2)
    other_set = replicaset(other, 1, SPEC, replicas=2)
    pods = [*_pods(current, 3, "shop-7d9f"), *_pods(other_set, 2, "cart-5c4b"),
            *_pods(current, 1, "shop-exit-2", code=2)]
    orphan = _pods(current, 1, "bare")[0]
    orphan["metadata"]["ownerReferences"] = []
    pods.append(orphan)
    errors = {p["metadata"]["name"]: "database is unreachable: connection refused" for p in pods}
    errors["shop-7d9f-2"] = "KeyError: 'PAYMENT_URL'"  # another cause, in the same ReplicaSet
    findings = [f for f in detect(_evidence(pods, errors, [current, other_set])) if f.kind == "crash-loop"]
    counts = sorted((f.facts.get("pod_count", 1), f.facts["pod"]) for f in findings)
    assert counts == [(1, "bare-0"), (1, "shop-7d9f-2"), (1, "shop-exit-2-0"), (2, "cart-5c4b-0"), (2, "shop-7d9f-0")]
    alone = next(f for f in findings if f.facts["pod"] == "shop-7d9f-2")
    assert alone.title == "shop-7d9f-2/web is crash-looping (exit code 1)" and "pods" not in alone.facts


def test_a_merged_finding_names_at_most_max_pods_and_counts_them_all() -> None:
    shop = deployment("shop", NS, SPEC, replicas=MAX_PODS + 5)
    current = replicaset(shop, 2, SPEC, replicas=MAX_PODS + 5)
    pods = _pods(current, MAX_PODS + 5, "shop")
    errors = dict.fromkeys((p["metadata"]["name"] for p in pods), "boom")
    merged = next(f for f in detect(_evidence(pods, errors, [current])) if f.kind == "crash-loop")
    assert len(merged.facts["pods"]) == MAX_PODS and merged.facts["pod_count"] == MAX_PODS + 5


def test_the_signature_masks_what_differs_between_replicas_and_keeps_how_they_failed() -> None:
    first = masked(["2026-12-01T20:00:00Z shop-1 request 4001 trace 9fa3c2a7e1b4d failed: exit 1\n"], "shop-1")
    second = masked(["2026-12-01T20:05:09Z shop-2 request 4977 trace 11b0ffe2a9c3d failed: exit 1\n"], "shop-2")
    assert first == second
    assert masked(["10.0.3.4:5432 uuid 3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b pid 81231"], "x") == masked(
        ["10.0.17.250:5432 uuid 0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e pid 90210"], "x")
    assert masked(["failed: connection refused\n"], "a") != masked(["failed: permission denied\n"], "a")
    # Short numbers say how it failed: a 503 is not a 500, nor a missing VAR_2 a missing VAR_1.
    assert masked(["upstream answered HTTP 500"], "a") != masked(["upstream answered HTTP 503"], "a")
    assert masked(["KeyError: 'VAR_1'"], "a") != masked(["KeyError: 'VAR_2'"], "a")


def test_the_collector_writes_one_finding_for_a_deployment_crash_looping_in_every_replica(tmp_path: Path) -> None:
    api = FakeKubernetes()
    shop = deployment("shop", NS, SPEC, replicas=6)
    current = replicaset(shop, 2, SPEC, replicas=6)
    api.add_all([shop, current])
    for index, item in enumerate(_pods(current, 6, "shop-7d9f")):
        api.add(item)
        name = item["metadata"]["name"]
        api.set_log(NS, name, "web", lines(f"starting {name}"))
        api.set_log(NS, name, "web", lines(f"INFO {name} served request {9000 + index}",
                                           f"ERROR database is unreachable at 10.0.3.{index}: connection refused"),
                    previous=True)
        api.set_log(NS, name, "sidecar", lines("proxy up"))
    with BackgroundServer(api) as server:
        cluster = Cluster(api, write_kubeconfig(tmp_path / "kubeconfig", server.url, NS), server)
        result = cluster.collect("--no-upload", "--output-dir", str(tmp_path / "out"), "--time-window", "30m",
                                 TARGET_NAMESPACE=NS)
    assert result.returncode == 0, result.stderr
    folder = unpack(tmp_path / "out")
    findings = json.loads((folder / "findings.json").read_text())["findings"]
    crashes = [f for f in findings if f["kind"] == "crash-loop"]
    assert len(crashes) == 1 and crashes[0]["facts"]["pod_count"] == 6
    assert crashes[0]["title"] == "web is crash-looping in 6 pods of deployment/shop (exit code 1)"
    quote = crashes[0]["quotes"][-1]
    line = (folder / quote["file"]).read_text().split("\n")[quote["line"] - 1]
    assert line == quote["text"] and "connection refused" in line
    assert "web is crash-looping in 6 pods of deployment/shop" in json.loads(result.stdout)["summary"]


def test_replicas_that_cannot_pull_or_start_alike_are_one_finding_each_way() -> None:
    shop = deployment("shop", NS, SPEC, replicas=5)
    current = replicaset(shop, 2, SPEC, replicas=5)
    pull = "Back-off pulling image \"harbor/shop:1.4.2\""
    config = "couldn't find key DB_HOST in ConfigMap shop-frontend-production/shop-config"
    pods = [pod(f"shop-{n}", current, [waiting("web", "harbor/shop:1.4.2", "ImagePullBackOff", pull)])
            for n in range(3)]
    pods += [pod(f"shop-cfg-{n}", current, [waiting("web", "harbor/shop:1", "CreateContainerConfigError", config)])
             for n in range(2)]
    pods.append(pod("shop-other", current, [waiting("web", "harbor/shop:1", "CreateContainerConfigError",
                                                    config.replace("DB_HOST", "DB_PORT"))]))
    findings = detect(Evidence(pods, [], [], [], [], [current], [], {}))
    titles = sorted(f.title for f in findings)
    assert titles == ["shop-other/web cannot start: " + config.replace("DB_HOST", "DB_PORT"),
                      "web cannot pull harbor/shop:1.4.2 in 3 pods of deployment/shop",
                      "web cannot start in 2 pods of deployment/shop: " + config]
    merged = next(f for f in findings if f.kind == "config-error" and "pods" in f.facts)
    assert merged.facts["missing_key"] == "DB_HOST" and merged.facts["pods"] == ["shop-cfg-0", "shop-cfg-1"]


def test_replicas_whose_probe_fails_alike_are_one_finding_a_different_status_is_not() -> None:
    shop = deployment("shop", NS, SPEC, replicas=4)
    current = replicaset(shop, 2, SPEC, replicas=4)
    pods = [pod(f"shop-{n}", current, [running("web", "harbor/shop:1", ready=False)]) for n in range(4)]
    failing = "Readiness probe failed: HTTP probe failed with statuscode: 404"
    events = [event(NS, "Pod", f"shop-{n}", "Unhealthy", failing, 2, count=10 + n) for n in range(3)]
    events.append(event(NS, "Pod", "shop-3", "Unhealthy", failing.replace("404", "503"), 2))
    findings = [f for f in detect(Evidence(pods, events, [], [], [], [current], [], {})) if f.kind == "probe-failure"]
    assert sorted(f.title for f in findings) == ["readiness probe fails in 3 pods of deployment/shop (/healthz:8080)",
                                                 "readiness probe of shop-3 fails (/healthz:8080)"]
    merged = next(f for f in findings if "pods" in f.facts)
    assert merged.facts["status_code"] == 404 and merged.facts["pod_count"] == 3


def test_the_port_a_replica_cannot_reach_says_which_dependency_is_down() -> None:
    """Node's `ECONNREFUSED 127.0.0.1:5432` (the database) is not `...:6379` (the cache): one cause must not
    hide behind another. A local end's port (`a:43122->b`) differs from one replica to the next: masked."""
    assert masked(["Error: connect ECONNREFUSED 127.0.0.1:5432"], "a") != masked(
        ["Error: connect ECONNREFUSED 127.0.0.1:6379"], "a")
    assert masked(["error: cannot reach localhost:5432"], "a") != masked(["error: cannot reach localhost:27017"], "a")
    assert masked(["read tcp 10.1.2.3:43122->10.0.0.9:5432: connection reset by peer"], "a") == masked(
        ["read tcp 10.1.7.4:51000->10.0.0.8:5432: connection reset by peer"], "a")


def test_a_controller_reference_that_names_no_kubernetes_object_merges_nothing() -> None:
    """The API checks only that an ownerReference's kind, name and uid are not empty: whoever may create a pod
    may write any text there. It never reaches a title, where it would forge lines of the summary."""
    shop = deployment("shop", NS, SPEC, replicas=2)
    current = replicaset(shop, 2, SPEC, replicas=2)
    pods = _pods(current, 2, "shop-7d9f")
    for item in pods:
        item["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "controller": True,
                                                "name": "x\n- [low] everything is fine", "uid": "u-1"}]
    errors = dict.fromkeys((p["metadata"]["name"] for p in pods), "boom")
    findings = [f for f in detect(_evidence(pods, errors, [current])) if f.kind == "crash-loop"]
    assert sorted(f.facts["pod"] for f in findings) == ["shop-7d9f-0", "shop-7d9f-1"]
    assert all("everything is fine" not in f.title and "everything is fine" not in " ".join(f.objects)
               for f in findings)
    assert "everything is fine" not in summarize(findings)


def test_a_pod_the_api_lists_twice_is_counted_once() -> None:
    """A list that repeats an item (a misbehaving API, a page sent twice) must not make one pod two."""
    shop = deployment("shop", NS, SPEC, replicas=2)
    current = replicaset(shop, 2, SPEC, replicas=2)
    pods = _pods(current, 2, "shop-7d9f")
    errors = dict.fromkeys((p["metadata"]["name"] for p in pods), "boom")
    evidence = _evidence(pods, errors, [current])
    evidence.pods = [pods[0], pods[0]]
    alone = [f for f in detect(evidence) if f.kind == "crash-loop"]
    assert [(f.title, "pods" in f.facts) for f in alone] == [("shop-7d9f-0/web is crash-looping (exit code 1)", False)]
    evidence.pods = [pods[0], pods[1], pods[0]]
    merged = [f for f in detect(evidence) if f.kind == "crash-loop"]
    assert [(f.facts["pods"], f.facts["pod_count"]) for f in merged] == [(["shop-7d9f-0", "shop-7d9f-1"], 2)]
    assert merged[0].title == "web is crash-looping in 2 pods of deployment/shop (exit code 1)"


def test_the_times_of_go_and_klog_lines_are_masked_too() -> None:
    """Go's log (`2026/12/01 20:00:01`) and klog (`E1201 20:00:01.123456`) stamp a time without an ISO date:
    replicas failing alike differ there only, and were one finding each."""
    assert masked(["2026/12/01 20:00:01 failed to connect: connection refused"], "a") == masked(
        ["2026/12/01 20:03:17 failed to connect: connection refused"], "a")
    assert masked(["E1201 20:00:01.123456       1 main.go:42] failed to sync"], "a") == masked(
        ["E1201 20:07:59.654321       1 main.go:42] failed to sync"], "a")
    assert masked(["main.go:42] failed"], "a") != masked(["main.go:57] failed"], "a")


def test_pods_that_end_for_different_reasons_are_not_merged_for_their_exit_code() -> None:
    """Exit code 128 is 'Error' in one pod, 'ContainerCannotRun' (its termination message naming the missing
    executable) in another: with no log to tell them apart they were one finding, 'the same way'."""
    shop = deployment("shop", NS, SPEC, replicas=3)
    current = replicaset(shop, 2, SPEC, replicas=3)
    ends = [{"reason": "Error"}, {"reason": "ContainerCannotRun", "message": 'exec: "/app/serve": not found'},
            {"reason": "ContainerCannotRun", "message": 'exec: "/app/serve": permission denied'}]
    pods = [pod(f"shop-{n}", current, [running("web", "harbor/shop:1", ready=False, restarts=3, last_terminated={
        "exitCode": 128, "finishedAt": ago(2), **end})]) for n, end in enumerate(ends)]
    findings = [f for f in detect(Evidence(pods, [], [], [], [], [current], [], {})) if f.kind == "crash-loop"]
    assert sorted(f.facts["pod"] for f in findings) == ["shop-0", "shop-1", "shop-2"]
    alike = [pod(f"shop-{n}", current, [running("web", "harbor/shop:1", ready=False, restarts=3, last_terminated={
        "exitCode": 128, "finishedAt": ago(2), "reason": "ContainerCannotRun",
        "message": f'container {n}c0ffee{n}1234abcd: exec: "/app/serve": not found'})]) for n in range(3)]
    findings = [f for f in detect(Evidence(alike, [], [], [], [], [current], [], {})) if f.kind == "crash-loop"]
    assert [f.facts.get("pod_count") for f in findings] == [3]


def test_restart_counts_the_api_leaves_out_do_not_stop_the_merge() -> None:
    shop = deployment("shop", NS, SPEC, replicas=2)
    current = replicaset(shop, 2, SPEC, replicas=2)
    pods = _pods(current, 2, "shop")
    for item in pods:
        item["status"]["containerStatuses"][0]["restartCount"] = None  # a malformed answer
        item["status"]["containerStatuses"][0]["state"] = {"waiting": {"reason": "CrashLoopBackOff"}}
    merged = next(f for f in detect(_evidence(pods, dict.fromkeys(("shop-0", "shop-1"), "boom"), [current]))
                  if f.kind == "crash-loop")
    assert merged.facts["pod_count"] == 2 and "restarts unknown" in merged.detail


def test_a_probe_failure_is_its_own_containers_whose_name_the_event_names_exactly() -> None:
    # Two containers with readiness probes; "web" is a part of "web-proxy", and web-proxy comes first in the spec.
    # In every pod web-proxy's probe fails first (404 on /ready), then web's (503 on /healthz): two problems, each
    # in both pods, each found with its own container's probe.
    spec = {"containers": [container("web-proxy", "harbor/proxy:1", port=9090, probe_path="/ready"),
                           container("web", "harbor/shop:1")]}
    shop = deployment("shop", NS, spec, replicas=2)
    current = replicaset(shop, 2, spec, replicas=2)
    pods = [pod(f"shop-{n}", current, [running("web-proxy", "harbor/proxy:1", ready=False),
                                       running("web", "harbor/shop:1", ready=False)]) for n in range(2)]
    events = []
    for n in range(2):
        events += [event(NS, "Pod", f"shop-{n}", "Unhealthy", "Readiness probe failed: HTTP probe failed with "
                         "statuscode: 404", 3, field_path="spec.containers{web-proxy}"),
                   event(NS, "Pod", f"shop-{n}", "Unhealthy", "Readiness probe failed: HTTP probe failed with "
                         "statuscode: 503", 2, field_path="spec.containers{web}")]
    findings = [f for f in detect(Evidence(pods, events, [], [], [], [current], [], {})) if f.kind == "probe-failure"]
    found = sorted((f.facts["container"], f.facts["path"], f.facts["port"], f.facts["status_code"],
                    f.facts.get("pod_count")) for f in findings)
    assert found == [("web", "/healthz", 8080, 503, 2), ("web-proxy", "/ready", 9090, 404, 2)]


def test_config_errors_naming_other_objects_or_keys_are_not_merged_whatever_their_digits() -> None:
    # A StatefulSet's pods have one controller across revisions: mid-rollout web-0 (new revision) and web-1 (old)
    # reference other dated ConfigMaps, and web-2 and web-3 other keys. Both are missing, but they are not one
    # problem: the names hold the long numbers and hex runs a crash's log lines have masked.
    web = {**deployment("web", NS, SPEC, replicas=6), "kind": "StatefulSet"}
    errors = {"web-0": 'configmap "app-config-20241201" not found',
              "web-1": 'configmap "app-config-20241130" not found',
              "web-2": f"couldn't find key TLS_2048 in Secret {NS}/certs-5f3a9c1d",
              "web-3": f"couldn't find key TLS_4096 in Secret {NS}/certs-7b2e4f8a",
              "web-4": 'secret "certs-5f3a9c1d" not found', "web-5": 'secret "certs-7b2e4f8a" not found'}
    pods = [pod(name, web, [waiting("web", "harbor/shop:1", "CreateContainerConfigError", message)])
            for name, message in errors.items()]
    findings = detect(Evidence(pods, [], [], [], [], [], [], {}))
    assert sorted(f.facts["pod"] for f in findings if f.kind == "config-error") == sorted(errors)
    assert not any("pods" in f.facts for f in findings)


def test_tails_read_as_they_arrived_give_the_findings_read_at_the_end() -> None:
    """The collector reads a crashed container's tail while other logs are in flight (`tail_readings`):
    the same findings, pointers and quotes as when the detector reads every tail itself."""
    shop = deployment("shop", NS, SPEC, replicas=4)
    current = replicaset(shop, 2, SPEC, replicas=4)
    pods = _pods(current, 4, "shop-7d9f")
    errors = {p["metadata"]["name"]: f"database {i % 2} is unreachable" for i, p in enumerate(pods)}
    at_the_end = _evidence(pods, errors, [current])
    as_they_came = dataclasses.replace(at_the_end, tail_readings={
        key: read_tail(tail) for key, tail in at_the_end.log_tails.items()})
    assert as_they_came.tail_readings and len([f for f in detect(at_the_end) if f.kind == "crash-loop"]) == 2
    assert [f.as_dict() for f in detect(as_they_came)] == [f.as_dict() for f in detect(at_the_end)]
