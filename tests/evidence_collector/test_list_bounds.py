"""Lists the collector reads no further: an API that pages for ever, a namespace of 30,000 pods.

Pages were bounded in bytes (`kube_reader.PAGE_BYTES`), not lists: every item of every page was held
until the snapshot was written. A list whose `continue` tokens never end (a buggy aggregated API,
an attacker in front of the API server) held new items until the deadline: past 150 MB within
seconds. And pods.jsonl's share of the budget keeps the head of a large namespace's pods, but every
pod listed stayed in memory (and in the findings, pointing at lines that were not kept).

Now a list is read while its section can still keep what it brings: pods until pods.jsonl is full,
the others up to twice their section's share in bytes of answers (managedFields are left out as they
are read) and LISTED_WHOLE items; twice and eight times the whole budget for events and ConfigMaps,
which the collector reduces as it reads. Then it is cut: a `truncated` gap says how far it was read, the
kind counts as not read completely (a detector that judges the whole list, such as "service selects
no pod" on the pods, is off; findings on the objects read stand), and the run goes on to the logs and
delivers its snapshot.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from pathops_testbed.kube_api import FakeKubernetes, _json
from pathops_testbed.kube_objects import container, deployment, pod, replicaset, running, service
from tests.evidence_collector import scenarios
from tests.evidence_collector.conftest import RSS_LIMIT_MB, served_peak, unpack


class EndlessLists(FakeKubernetes):
    """Lists that never end: each page `limit` new items and a continue token never sent before."""

    def __init__(self, items: dict[str, Any]) -> None:
        super().__init__()
        self.items = items  # plural -> item(n)

    def _list(self, request: Request, plural: str, namespace: str | None) -> Response:
        if plural not in self.items:
            return super()._list(request, plural, namespace)
        offset = int(base64.b64decode(request.args["continue"])) if request.args.get("continue") else 0
        limit = int(request.args.get("limit") or 500)
        return _json({"kind": "List", "apiVersion": "v1",
                      "metadata": {"resourceVersion": "1",
                                   "continue": base64.b64encode(str(offset + limit).encode()).decode()},
                      "items": [self.items[plural](offset + n) for n in range(limit)]})


def _service(n: int) -> dict[str, Any]:
    made = service(f"svc-{n:08d}", scenarios.NS, {"app": f"app-{n}"})
    made["metadata"].update(uid=f"uid-svc-{n}", resourceVersion="1")
    return made


def _endpoints(service_name: str, n: int, addresses: int) -> dict[str, Any]:
    """The Endpoints of `service_name`: `addresses` ready addresses."""
    return {"metadata": {"name": service_name, "namespace": scenarios.NS, "uid": f"uid-ep-{n}", "resourceVersion": "1"},
            "subsets": [{"addresses": [{"ip": f"10.0.{i}.1"} for i in range(addresses)]}]}


def _endpoint_slice(service_name: str, n: int, addresses: int) -> dict[str, Any]:
    """An EndpointSlice of `service_name`: `addresses` endpoints."""
    return {"metadata": {"name": f"{service_name}-x", "namespace": scenarios.NS, "uid": f"uid-es-{n}",
                         "resourceVersion": "1", "labels": {"kubernetes.io/service-name": service_name}},
            "addressType": "IPv4", "endpoints": [{"addresses": [f"10.0.{i}.1"]} for i in range(addresses)]}


def _manifest(folder: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((folder / "manifest.json").read_text())
    return manifest


def test_a_services_list_that_never_ends_is_cut_and_the_run_delivers(tmp_path: Path) -> None:
    """Before: read until the deadline, past 150 MB. Now: cut at its section's share, the rest goes on."""
    api = EndlessLists({"services": _service})
    scenarios.build(api)
    peak = served_peak(api, tmp_path, EVIDENCE_DEADLINE_SECONDS="120")
    assert peak <= RSS_LIMIT_MB, f"peak RSS {peak:.0f} MB"
    folder = unpack(tmp_path / "out")
    manifest = _manifest(folder)
    assert [g["reason"] for g in manifest["gaps"] if g["what"] == "services"] == ["truncated"]
    gap = next(g for g in manifest["gaps"] if g["what"] == "services")
    assert "read no further" in gap["detail"] and "items" in gap["detail"], gap
    listed = [path for path in api.requests if path.startswith(f"/api/v1/namespaces/{scenarios.NS}/services?")]
    assert 1 < len(listed) < 100  # cut by bytes, not by the deadline
    findings = json.loads((folder / "findings.json").read_text())
    assert "not read completely" in findings["summary"] and "services" in findings["summary"]
    kept = (folder / "objects/services.jsonl").read_text().splitlines()
    assert 1_000 < len(kept) < 20_000  # what was read is kept: findings on those services stand
    assert any(f["path"].startswith("logs/") for f in manifest["files"])  # the logs were still read


def test_pods_that_never_pass_their_shape_are_read_no_further_than_their_bytes(tmp_path: Path) -> None:
    """pods.jsonl never fills when every pod is left out as malformed: the bytes of the answers cut the list."""
    api = EndlessLists({"pods": lambda n: {"metadata": {"name": f"BAD_{n}", "namespace": scenarios.NS},
                                          "spec": {"containers": [{"name": "c", "image": "i" * 200}]}}})
    peak = served_peak(api, tmp_path, EVIDENCE_DEADLINE_SECONDS="120", EVIDENCE_MAX_BYTES=str(4 * 1024 * 1024))
    assert peak <= RSS_LIMIT_MB, f"peak RSS {peak:.0f} MB"
    gaps = _manifest(unpack(tmp_path / "out"))["gaps"]
    cut = next(g for g in gaps if g["what"] == "pods" and g["reason"] == "truncated")
    assert "read no further" in cut["detail"]
    assert any(g["what"] == "pods" and g["reason"] == "error" and "malformed" in g["detail"] for g in gaps)


def test_thirty_thousand_pods_are_read_while_pods_jsonl_can_keep_them(tmp_path: Path) -> None:
    """Before: all 30,000 held and planned (findings on pods whose line was not kept). Now: read until the
    section is full; the pods kept are the ones the logs, the owners and the findings are about."""
    api = FakeKubernetes()
    spec = {"containers": [container("app", "harbor/app:1")]}
    owner = deployment("big", scenarios.NS, spec, replicas=30_000)
    rs = replicaset(owner, 1, spec, replicas=30_000)
    api.add_all([owner, rs])
    for index in range(30_000):
        api.add(pod(f"big-{index:05d}", rs, [running("app", "harbor/app:1", ready=index % 2 == 0)],
                    ready=index % 2 == 0))
    peak = served_peak(api, tmp_path, EVIDENCE_MAX_BYTES=str(4 * 1024 * 1024))
    assert peak <= RSS_LIMIT_MB, f"peak RSS {peak:.0f} MB"
    folder = unpack(tmp_path / "out")
    kept = (folder / "objects/pods.jsonl").read_text().splitlines()
    assert 0 < len(kept) < 2_000
    gap = next(g for g in _manifest(folder)["gaps"] if g["what"] == "objects/pods.jsonl")
    assert gap["reason"] == "truncated" and "read no further" in gap["detail"], gap
    names = {json.loads(line)["metadata"]["name"] for line in kept}
    logged = {path.split("/")[1] for path in (f["path"] for f in _manifest(folder)["files"])
              if path.startswith("logs/")}
    assert logged and logged <= names  # no log of a pod whose line was not kept
    listed = [p for p in api.requests if p.startswith(f"/api/v1/namespaces/{scenarios.NS}/pods?")]
    assert len(listed) <= 3  # the first page filled the section: the 59 others were not asked for


def test_an_endless_list_of_small_configmaps_is_summarised_up_to_its_count(tmp_path: Path) -> None:
    """Each ConfigMap is an entry of configmaps.json, however small: at most CONFIGMAPS_LISTED are read."""
    api = EndlessLists({"configmaps": lambda n: {"metadata": {"name": f"cm-{n:08d}", "namespace": scenarios.NS,
                                                               "uid": f"uid-cm-{n}", "resourceVersion": "1"},
                                                  "data": {"k": "v"}}})
    scenarios.build(api)
    peak = served_peak(api, tmp_path, EVIDENCE_DEADLINE_SECONDS="120")
    assert peak <= RSS_LIMIT_MB, f"peak RSS {peak:.0f} MB"
    folder = unpack(tmp_path / "out")
    listed = json.loads((folder / "objects/configmaps.json").read_text())["configmaps"]
    assert len(listed) == 10_000
    gap = next(g for g in _manifest(folder)["gaps"] if g["what"] == "configmaps")
    assert gap == {"what": "configmaps", "reason": "truncated", "detail": "read no further than 10000 ConfigMaps"}


def test_an_endless_list_of_events_is_cut_at_its_bytes(tmp_path: Path) -> None:
    """Events are spooled to disk and the window's kept: an endless list is cut at twice the budget."""
    api = EndlessLists({"events": lambda n: {
        "metadata": {"name": f"ev-{n:08d}", "namespace": scenarios.NS, "uid": f"uid-ev-{n}", "resourceVersion": "1"},
        "involvedObject": {"kind": "Pod", "name": f"p-{n % 7}", "namespace": scenarios.NS},
        "reason": "Unhealthy", "message": "Readiness probe failed " + "x" * 300, "type": "Warning"}})
    scenarios.build(api)
    peak = served_peak(api, tmp_path, EVIDENCE_DEADLINE_SECONDS="120", EVIDENCE_MAX_BYTES=str(8 * 1024 * 1024))
    assert peak <= RSS_LIMIT_MB, f"peak RSS {peak:.0f} MB"
    gap = next(g for g in _manifest(unpack(tmp_path / "out"))["gaps"] if g["what"] == "events")
    assert gap["reason"] == "truncated" and "read no further" in gap["detail"], gap


def _applied_service(n: int) -> dict[str, Any]:
    """A Service as `kubectl apply` leaves it: the last applied configuration and managedFields (1.4 KB)."""
    made = service(f"svc-{n:05d}", scenarios.NS, {"app": f"app-{n}"})
    made["metadata"].update(uid=f"uid-svc-{n}", resourceVersion="1", labels={"app": f"app-{n}", "team": "shop"},
                            annotations={"kubectl.kubernetes.io/last-applied-configuration": json.dumps(made) * 2},
                            managedFields=[{"manager": "kubectl-client-side-apply", "operation": "Update",
                                            "apiVersion": "v1", "time": "2026-01-01T00:00:00Z",
                                            "fieldsType": "FieldsV1",
                                            "fieldsV1": {"f:metadata": {"f:annotations": {".": {}}, "f:labels": {
                                                ".": {}, "f:app": {}, "f:team": {}}}, "f:spec": {
                                                "f:ports": {".": {}, 'k:{"port":80,"protocol":"TCP"}': {
                                                    ".": {}, "f:name": {}, "f:port": {}, "f:protocol": {},
                                                    "f:targetPort": {}}}, "f:selector": {}, "f:type": {},
                                                "f:sessionAffinity": {}, "f:internalTrafficPolicy": {}}}}])
    made["spec"].update(clusterIP="10.96.0.1", clusterIPs=["10.96.0.1"], type="ClusterIP", sessionAffinity="None",
                        ipFamilies=["IPv4"], ipFamilyPolicy="SingleStack", internalTrafficPolicy="Cluster")
    return made


def test_three_thousand_applied_services_are_read_whole(tmp_path: Path) -> None:
    """Their answers are 4.8 MB with managedFields, services.jsonl's share 3.3 MB; written without managedFields
    (3.1 MB) they fit it. Cut at once the share in answers' bytes, the list lost 1,000 of them and counted as not
    read. Now the lists held whole are read to twice their share, as pods are."""
    api = FakeKubernetes()
    scenarios.build(api)
    api.add_all(_applied_service(n) for n in range(3_000))
    served_peak(api, tmp_path)
    folder = unpack(tmp_path / "out")
    assert not [g for g in _manifest(folder)["gaps"] if "services" in g["what"]]
    assert len((folder / "objects/services.jsonl").read_text().splitlines()) == len(
        api.objects["services"][scenarios.NS])


def test_lists_held_whole_are_read_no_further_than_a_namespace_holds(tmp_path: Path) -> None:
    """Endless lists of small Services, Endpoints, EndpointSlices and HPAs, all held at once: 16,000 Services of
    200 bytes each fit their bytes, each judged against every pod and endpoint (142 MB with no pod). A list held
    whole is read to LISTED_WHOLE items at most (Kubernetes' scalability limit: 5,000 Services a namespace)."""
    ns = scenarios.NS
    api = EndlessLists({
        "services": _service,
        "endpoints": lambda n: _endpoints(f"svc-{n:08d}", n, 3),
        "endpointslices": lambda n: _endpoint_slice(f"svc-{n:08d}", n, 3),
        "horizontalpodautoscalers": lambda n: {"metadata": {"name": f"h-{n:08d}", "namespace": ns,
                                                            "uid": f"uid-h-{n}", "resourceVersion": "1"},
                                               "spec": {"maxReplicas": 3}}})
    scenarios.build(api)
    peak = served_peak(api, tmp_path, EVIDENCE_DEADLINE_SECONDS="120")
    assert peak <= RSS_LIMIT_MB, f"peak RSS {peak:.0f} MB"
    folder = unpack(tmp_path / "out")
    cut = {g["what"]: g["detail"] for g in _manifest(folder)["gaps"] if g["reason"] == "truncated"}
    for plural in ("services", "endpoints", "horizontalpodautoscalers"):
        assert cut[plural].startswith("read no further than 5000 items"), cut
        assert len((folder / f"objects/{plural}.jsonl").read_text().splitlines()) <= 5_000
    assert cut["endpointslices"].startswith("read no further than")  # not held: cut at their bytes
    findings = json.loads((folder / "findings.json").read_text())
    assert len(findings["findings"]) <= 5_010


def test_dense_endpoints_beside_eleven_thousand_pods_fit_150_mb(tmp_path: Path) -> None:
    """11,000 pods fit pods.jsonl (117 MB alone). Lists held whole are read to twice their share now: Endpoints and
    EndpointSlices of 30 addresses each, held whole beside the pods while read (5,000 Endpoints all of whose
    Services were kept: 152 MB), are written page by page; of the Endpoints only how many addresses are ready is
    held, and the EndpointSlices, which no detector reads, not at all."""
    ns = scenarios.NS
    api = EndlessLists({
        "endpoints": lambda n: _endpoints(f"big-{n:05d}", n, 30),
        "endpointslices": lambda n: _endpoint_slice(f"big-{n:05d}", n, 30)})
    spec = {"containers": [container("app", "harbor/app:1")]}
    owner = deployment("big", ns, spec, replicas=11_000)
    rs = replicaset(owner, 1, spec, replicas=11_000)
    api.add_all([owner, rs])
    for index in range(11_000):
        api.add(pod(f"big-{index:05d}", rs, [running("app", "harbor/app:1")], ready=True))
    for index in range(50):
        api.add(_service(index) | {"metadata": {"name": f"big-{index:05d}", "namespace": ns}})
    peak = served_peak(api, tmp_path, EVIDENCE_DEADLINE_SECONDS="120")
    assert peak <= RSS_LIMIT_MB, f"peak RSS {peak:.0f} MB"
    folder = unpack(tmp_path / "out")
    written = [json.loads(line) for line in (folder / "objects/endpoints.jsonl").read_text().splitlines()]
    assert [e["metadata"]["name"] for e in written] == [f"big-{index:05d}" for index in range(50)]
    assert all(len(e["subsets"][0]["addresses"]) == 30 for e in written)  # written whole
    assert len((folder / "objects/endpointslices.jsonl").read_text().splitlines()) == 50


def test_an_endless_list_of_tiny_events_is_read_to_a_count(tmp_path: Path) -> None:
    """Twice the default budget in answers is 486,000 events of 200 bytes: an index entry each, 147 MB. At most
    EVENTS_LISTED are read (an event lives an hour: a namespace's are tens of thousands)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    api = EndlessLists({"events": lambda n: {
        "metadata": {"name": f"e{n}", "namespace": scenarios.NS, "uid": f"u{n}"},
        "involvedObject": {"kind": "Pod", "name": "p"}, "reason": "R", "type": "Warning", "lastTimestamp": now}})
    scenarios.build(api)
    peak = served_peak(api, tmp_path, EVIDENCE_DEADLINE_SECONDS="120")
    assert peak <= RSS_LIMIT_MB, f"peak RSS {peak:.0f} MB"
    gap = next(g for g in _manifest(unpack(tmp_path / "out"))["gaps"] if g["what"] == "events")
    assert gap["reason"] == "truncated" and gap["detail"].startswith("read no further than 200000 items"), gap
