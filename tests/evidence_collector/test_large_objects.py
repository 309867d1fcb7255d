"""Large objects: memory is bounded by the bytes of a page, not by how many items it holds.

Dashboards shipped as ConfigMaps (near their 1 MiB limit each) and flag ConfigMaps with
thousands of keys are common in application namespaces. Before, the collector read a page
of 50 of either whole and kept every key: 236 and 508 MB peak below, past the Job's 256 Mi:
killed, nothing delivered. The reader now reads an answer to at most `page_bytes` and asks
again with fewer items; the collector keeps a bounded list of the keys of ConfigMaps no pod
references.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pathops_contracts.errors import UpstreamError
from pathops_runtime import kube_reader
from pathops_runtime.kube_reader import KubeReader, PageTooLarge
from pathops_testbed.http_server import BackgroundServer
from pathops_testbed.kube_api import FakeKubernetes, write_kubeconfig
from pathops_testbed.kube_objects import configmap, container, deployment, pod, replicaset, running
from tests.evidence_collector import scenarios
from tests.evidence_collector.conftest import RSS_LIMIT_MB, served_peak, unpack


def _dashboard(size: int) -> str:
    """A Grafana dashboard's JSON, cut to `size` bytes (what a dashboard ConfigMap holds)."""
    panels = [{"id": i, "title": f"Requests by route {i}", "type": "timeseries",
               "targets": [{"expr": f'sum(rate(http_requests_total{{route="/r{i}"}}[5m])) by (status)'}]}
              for i in range(size // 100)]
    return json.dumps({"title": "shop-frontend", "panels": panels})[:size]


def _configmaps(folder: Path) -> dict[str, dict[str, Any]]:
    listed = json.loads((folder / "objects/configmaps.json").read_text())["configmaps"]
    return {entry["name"]: entry for entry in listed}


def _gaps(folder: Path) -> list[dict[str, str]]:
    gaps: list[dict[str, str]] = json.loads((folder / "manifest.json").read_text())["gaps"]
    return gaps


def test_dashboard_configmaps_near_1_mib_each_fit_150_mb_and_every_one_is_listed(tmp_path: Path) -> None:
    api = FakeKubernetes()
    scenarios.build(api)
    api.chunked_lists = True  # no Content-Length: the reader cannot know a page's size before reading it
    blob = _dashboard(900_000)
    for index in range(200):
        api.add(configmap(f"dashboard-{index:03d}", scenarios.NS, {"shop-frontend.json": blob}))
    peak = served_peak(api, tmp_path)
    folder = unpack(tmp_path / "out")
    assert peak <= RSS_LIMIT_MB, f"peak RSS {peak:.0f} MB"  # 236 MB when a page held 50 of them
    listed = _configmaps(folder)
    assert {f"dashboard-{index:03d}" for index in range(200)} <= set(listed)
    assert all(listed[f"dashboard-{index:03d}"]["keys"] == ["shop-frontend.json"] for index in range(200))
    assert not [gap for gap in _gaps(folder) if "configmaps" in gap["what"]]
    # Asked again with fewer items, never one request per ConfigMap.
    asked = [path for path in api.requests if path.startswith(f"/api/v1/namespaces/{scenarios.NS}/configmaps")]
    assert len(asked) < 120, len(asked)


def test_configmaps_with_twenty_thousand_keys_fit_and_a_cut_key_list_says_so(tmp_path: Path) -> None:
    api = FakeKubernetes()
    scenarios.build(api)
    flags = {f"feature.{index:05d}.enabled": "true" if index % 3 else "false" for index in range(20_000)}
    for index in range(100):
        api.add(configmap(f"flags-{index:03d}", scenarios.NS, flags))
    spec = {"containers": [container("reader", "harbor/shop/flags-reader:1.0", env=[
        {"name": "CHECKOUT_V2", "valueFrom": {"configMapKeyRef": {"name": "flags-007",
                                                                  "key": "feature.00001.enabled"}}}])]}
    owner = deployment("flags-reader", scenarios.NS, spec)
    rs = replicaset(owner, 2, spec, replicas=1)
    api.add_all([owner, rs, pod("flags-reader-7d9f-abcde", rs, [running("reader", "harbor/shop/flags-reader:1.0")],
                                ready=True)])
    peak = served_peak(api, tmp_path)
    folder = unpack(tmp_path / "out")
    assert peak <= RSS_LIMIT_MB, f"peak RSS {peak:.0f} MB"  # 508 MB when every key of every one was held
    listed = _configmaps(folder)
    referenced = listed["flags-007"]  # a pod reads it: every key, for the fix agent's closest-key search
    assert len(referenced["keys"]) == 20_000 and "keys_cut" not in referenced
    cut = [entry for name, entry in listed.items() if name.startswith("flags-") and name != "flags-007"]
    assert len(cut) == 99
    assert all(entry["keys_cut"] is True and entry["key_count"] == 20_000 for entry in cut)
    assert all(len(entry["keys"]) <= 200 for entry in cut)
    assert sum(len(entry["keys"]) for entry in cut) <= 20_000
    assert cut[0]["keys"][:2] == ["feature.00000.enabled", "feature.00001.enabled"]  # sorted, the head kept


# --- the reader alone, against the fake API over a real socket ------------------------------------------------


@pytest.fixture(params=["content-length", "chunked"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[FakeKubernetes, KubeReader]]:
    api = FakeKubernetes()
    api.chunked_lists = request.param == "chunked"
    with BackgroundServer(api) as server:
        reader = KubeReader.connect(str(write_kubeconfig(tmp_path / "kubeconfig", server.url, "ns")), None, 2)
        reader.page_bytes = 64 * 1024
        yield api, reader


def _names(pages: Iterator[list[dict[str, Any]]]) -> list[str]:
    return [item["metadata"]["name"] for page in pages for item in page]


def test_a_page_larger_than_the_cap_is_asked_again_with_fewer_items_and_none_is_lost(
        served: tuple[FakeKubernetes, KubeReader]) -> None:
    api, reader = served
    for index in range(40):
        api.add(configmap(f"cm-{index:02d}", "ns", {"data": "x" * 10_000}))
    pages = list(reader.pages("configmaps", "ns", page_size=20))
    assert _names(iter(pages)) == [f"cm-{index:02d}" for index in range(40)]  # each once, in order
    assert max(len(page) for page in pages) <= 6  # 64 KiB holds six of them


def test_pages_grow_back_after_large_items(served: tuple[FakeKubernetes, KubeReader]) -> None:
    api, reader = served
    for index in range(5):
        api.add(configmap(f"a-big-{index}", "ns", {"data": "x" * 40_000}))
    for index in range(500):
        api.add(configmap(f"b-small-{index:03d}", "ns", {"k": "v"}))
    names = _names(reader.pages("configmaps", "ns", page_size=200))
    assert len(names) == 505 and len(set(names)) == 505
    asked = [path for path in api.requests if "/configmaps" in path]
    assert len(asked) <= 16, asked  # 505 items one at a time would be 505 requests


def test_one_object_larger_than_the_cap_ends_the_list_with_an_error_naming_it(
        served: tuple[FakeKubernetes, KubeReader]) -> None:
    api, reader = served
    for index in range(10):
        api.add(configmap(f"cm-{index:02d}", "ns", {"data": "x" * 100}))
    api.add(configmap("cm-05-huge", "ns", {"data": "x" * 100_000}))
    seen: list[str] = []
    with pytest.raises(UpstreamError, match="one object of configmaps holds more than 65536 bytes, more than is read"):
        for page in reader.pages("configmaps", "ns", page_size=4):
            seen.extend(item["metadata"]["name"] for item in page)
    assert seen[:6] == [f"cm-{index:02d}" for index in range(6)]  # what came before it was read
    assert "cm-05-huge" not in seen
    # The connection cut short is not reused: the next request gets its answer.
    assert len(_names(reader.pages("configmaps", "ns", label_selector="none=here"))) == 0
    with pytest.raises(PageTooLarge):
        reader.get("configmaps", "ns", "cm-05-huge")
    assert reader.get("configmaps", "ns", "cm-00")["metadata"]["name"] == "cm-00"


def test_pages_of_dense_items_grow_back_only_as_far_as_their_json_objects_allow(
        served: tuple[FakeKubernetes, KubeReader], monkeypatch: pytest.MonkeyPatch) -> None:
    # Items of many small arrays (`[0,1],`: 6 bytes each) reach PAGE_CONTAINERS before the byte cap. Grown back
    # by bytes alone, every other page was refused (read to its end, then asked again): 34 requests for 17 pages.
    api, reader = served
    monkeypatch.setattr(kube_reader, "PAGE_CONTAINERS", 5000)  # as 250,000 is to 4 MiB, about
    for index in range(300):
        api.add(configmap(f"cm-{index:03d}", "ns", {"points.json": "[" + "[0,1]," * 200 + "[0,1]]"}))
    names = _names(reader.pages("configmaps", "ns", page_size=100))
    assert names == [f"cm-{index:03d}" for index in range(300)]
    asked = [path for path in api.requests if "/configmaps" in path]
    assert len(asked) <= 20, len(asked)  # 300 items of 201 arrays: 13 pages at least, and two refused first
