"""Objects as a real kube-apiserver sends them are read as they are: `shapes` never mistakes one for malformed.

A false "malformed" would leave out a field on every run against a real cluster. The fixture holds
objects as kube-apiserver 1.29 (kind) returns them in list pages: managedFields, null times in pod
templates and conditions, events of both APIs (core/v1 and events.k8s.io, whose times are null in
the other's fields), a sidecar init container, projected service-account volumes, named ports, an
owner of a custom kind (an Argo Rollout), an Argo CD Application.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from evidence_collector.shapes import conform
from pathops_testbed.http_server import BackgroundServer
from pathops_testbed.kube_api import FakeKubernetes, write_kubeconfig
from tests.evidence_collector.conftest import Cluster, unpack

FIXTURE = Path(__file__).with_name("fixtures") / "kind-objects.json"


def _fixture() -> dict[str, list[dict[str, Any]]]:
    objects: dict[str, list[dict[str, Any]]] = json.loads(FIXTURE.read_text())
    objects.pop("_comment")
    return objects


def test_every_object_of_a_real_api_conforms_unchanged() -> None:
    for plural, objects in _fixture().items():
        for obj in objects:
            before = copy.deepcopy(obj)
            assert conform(plural, obj) == (obj, []), (plural, obj["metadata"]["name"], conform(plural, before)[1])
            assert obj == before


def _recent(value: Any) -> Any:
    """The fixture's times moved to the last minutes, so that its events fall in the collection window."""
    if isinstance(value, dict):
        return {key: _recent(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_recent(item) for item in value]
    if isinstance(value, str) and value.startswith("2024-05-02T09:"):
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return (moment + (datetime.now(UTC) - timedelta(minutes=15) - datetime(2024, 5, 2, 9, 14, tzinfo=UTC))
                ).strftime("%Y-%m-%dT%H:%M:%S") + value[19:]
    return value


def test_a_collection_of_real_objects_has_no_malformed_gap_and_finds_what_they_say(tmp_path: Path) -> None:
    api = FakeKubernetes()
    for plural, objects in _fixture().items():
        for obj in objects:
            namespace = obj["metadata"]["namespace"]
            api.objects[plural].setdefault(namespace, {})[obj["metadata"]["name"]] = _recent(obj)
    with BackgroundServer(api) as server:
        cluster = Cluster(api, write_kubeconfig(tmp_path / "kubeconfig", server.url, "shop"), server)
        result = cluster.collect("--no-upload", "--output-dir", str(tmp_path / "out"), TARGET_NAMESPACE="shop",
                                 WORKLOAD="deployment/shop-frontend", ARGOCD_APPLICATION="shop-frontend")
    assert result.returncode == 0, result.stderr[-2000:]
    folder = unpack(tmp_path / "out")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert not [g for g in manifest["gaps"] if "malformed" in g.get("detail", "")], manifest["gaps"]
    kinds = {f["kind"] for f in json.loads((folder / "findings.json").read_text())["findings"]}
    assert {"oom-killed", "rollout-stuck"} <= kinds, kinds
    assert json.loads((folder / "objects/argocd-application.json").read_text())["health"] == {"status": "Degraded"}
