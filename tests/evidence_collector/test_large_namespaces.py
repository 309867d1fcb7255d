"""Shapes that took the collector past 150 MB after pages were capped at 4 MiB (63b0551).

The cap bounds the bytes of one answer, not what the collector keeps: every pod, owner and
ReplicaSet of the chain was held parsed until the snapshot was written, and a parsed object is
5-25x its JSON (a dict per env var, per annotation, per empty `{}`). Peaks: on 63b0551, then now.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pathops_testbed.kube_api import FakeKubernetes
from pathops_testbed.kube_objects import configmap, container, deployment, pod, replicaset, running
from tests.evidence_collector import scenarios
from tests.evidence_collector.conftest import RSS_LIMIT_MB, served_peak, unpack


def _env(count: int) -> list[dict[str, Any]]:
    return [{"name": f"SETTING_{index:04d}", "value": "v" * 40} for index in range(count)]


def test_a_hundred_deployments_with_ten_old_replicasets_of_300_env_vars_fit_150_mb(tmp_path: Path) -> None:
    """284 MB, 117 MB: the ReplicaSets older than the two newest, running no pod, are kept as history."""
    api = FakeKubernetes()
    scenarios.build(api)
    for index in range(100):
        owner = deployment(f"app-{index:03d}", scenarios.NS,
                           {"containers": [container("app", f"harbor/app-{index}:11", env=_env(300))]}, revision=11)
        api.add(owner)
        for revision in range(1, 12):
            spec = {"containers": [container("app", f"harbor/app-{index}:{revision}", env=_env(300))]}
            rs = replicaset(owner, revision, spec, replicas=1 if revision == 11 else 0)
            api.add(rs)
            if revision == 11:
                api.add(pod(f"app-{index:03d}-p", rs, [running("app", f"harbor/app-{index}:11")], ready=True))
    # A budget that holds every owner (the default cuts owners.jsonl after ~140 of these, history last).
    peak = served_peak(api, tmp_path, EVIDENCE_MAX_BYTES=str(200 * 1024 * 1024))
    assert peak <= RSS_LIMIT_MB, f"peak RSS {peak:.0f} MB"
    folder = unpack(tmp_path / "out")
    owners = [json.loads(line) for line in (folder / "objects/owners.jsonl").read_text().splitlines()]
    history = sorted((o for o in owners if o["kind"] == "ReplicaSet" and o["metadata"]["name"].startswith("app-007")),
                     key=lambda o: int(o["metadata"]["annotations"]["deployment.kubernetes.io/revision"]))
    assert len(history) == 11  # every revision is still there, with its image (what image-rollback reads)
    images = [o["spec"]["template"]["spec"]["containers"][0]["image"] for o in history]
    assert images == [f"harbor/app-7:{revision}" for revision in range(1, 12)]
    assert [o["spec"]["template"] for o in history[:9]] == [
        {"spec": {"containers": [{"name": "app", "image": image}]}} for image in images[:9]]
    assert all(len(o["spec"]["template"]["spec"]["containers"][0]["env"]) == 300 for o in history[9:])
    diffs = [json.loads(line) for line in (folder / "objects/rollout-diffs.jsonl").read_text().splitlines()]
    diff = next(d for d in diffs if d["deployment"] == "app-007")
    assert diff["previous"] == history[9]["metadata"]["name"] and diff["changes"]  # the image, 10 -> 11
    gap = next(g for g in json.loads((folder / "manifest.json").read_text())["gaps"]
               if g["what"] == "objects/owners.jsonl")
    assert gap["reason"] == "truncated" and gap["detail"].startswith("900 older ReplicaSet(s) running no pod")


def test_two_thousand_pods_with_40_kib_of_annotations_fit_150_mb(tmp_path: Path) -> None:
    """192 MB, 120 MB: once written whole, a pod is kept in memory without its long annotation values."""
    api = FakeKubernetes()
    scenarios.build(api)
    spec = {"containers": [container("app", "harbor/app:1")]}
    for index in range(40):
        owner = deployment(f"app-{index:02d}", scenarios.NS, spec)
        rs = replicaset(owner, 2, spec, replicas=50)
        api.add_all([owner, rs])
        for number in range(50):
            member = pod(f"app-{index:02d}-{number:03d}", rs, [running("app", "harbor/app:1")], ready=True)
            member["metadata"]["annotations"] = {f"example.com/note-{key}": "a" * 1000 for key in range(40)}
            api.add(member)
    peak = served_peak(api, tmp_path)
    assert peak <= RSS_LIMIT_MB, f"peak RSS {peak:.0f} MB"
    first = json.loads((unpack(tmp_path / "out") / "objects/pods.jsonl").read_text().splitlines()[0])
    assert len(first["metadata"]["annotations"]) >= 40  # written whole: only the copy in memory is slim


def test_a_pod_of_900_thousand_empty_objects_under_the_page_cap_fits_150_mb(tmp_path: Path) -> None:
    """311 MB, 71 MB: 3.6 MB of `{},` parses to 25x its bytes; past PAGE_CONTAINERS it is not parsed."""
    api = FakeKubernetes()
    scenarios.build(api)
    spec = {"containers": [container("app", "harbor/app:1")]}
    owner = deployment("hostile", scenarios.NS, spec)
    rs = replicaset(owner, 2, spec, replicas=1)
    member = pod("hostile-0", rs, [running("app", "harbor/app:1")], ready=True)
    member["spec"]["overhead"] = [{}] * 900_000  # any field: the whole answer is parsed before it is checked
    api.add_all([owner, rs, member])
    peak = served_peak(api, tmp_path)
    assert peak <= RSS_LIMIT_MB, f"peak RSS {peak:.0f} MB"
    gaps = json.loads((unpack(tmp_path / "out") / "manifest.json").read_text())["gaps"]
    assert any("JSON objects and arrays, more than is read at once" in g.get("detail", "") for g in gaps), gaps


def test_a_pod_mounting_fifty_dashboard_configmaps_fits_150_mb_and_says_which_values_were_cut(
        tmp_path: Path) -> None:
    """Grafana mounting its dashboards as ConfigMap volumes: referenced, so their values were all kept (373 MB)."""
    api = FakeKubernetes()
    scenarios.build(api)
    spec = {"containers": [container("grafana", "grafana/grafana:10.4")],
            "volumes": [{"name": f"d{index}", "configMap": {"name": f"dashboard-{index:03d}"}} for index in range(50)]}
    owner = deployment("grafana", scenarios.NS, spec)
    rs = replicaset(owner, 2, spec, replicas=1)
    api.add_all([owner, rs, pod("grafana-0", rs, [running("grafana", "grafana/grafana:10.4")], ready=True)])
    panel = '{"id": 1, "title": "Requests by route", "expr": "sum(rate(http_requests_total[5m]))"}'
    blob = ('{"panels": [' + ",".join([panel] * 9000))[:900_000]
    for index in range(50):
        api.add(configmap(f"dashboard-{index:03d}", scenarios.NS, {"dash.json": blob, "small": "on"}))
    peak = served_peak(api, tmp_path)
    assert peak <= RSS_LIMIT_MB, f"peak RSS {peak:.0f} MB"
    listed = {entry["name"]: entry for entry in json.loads(
        (unpack(tmp_path / "out") / "objects/configmaps.json").read_text())["configmaps"]}
    dashboard = listed["dashboard-007"]
    assert dashboard["keys"] == ["dash.json", "small"]  # every key, as before
    assert dashboard["values_cut"] == ["dash.json"]
    assert dashboard["data"]["small"] == "on" and blob.startswith(dashboard["data"]["dash.json"])
    assert 0 < len(dashboard["data"]["dash.json"]) < len(blob)
