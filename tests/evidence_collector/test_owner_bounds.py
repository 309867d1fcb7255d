"""Owners asked for one GET per ownerReference: an API that invents them has no end of its own.

The pods' ownerReferences are followed a generation at a time (`Collector._fetch_owners`), each owner
held until owners.jsonl is written. Nothing bounded the chain nor the fan-out: an API whose every
ReplicaSet is owned by a new one was asked until the deadline (30 s: 13,000 GETs, 1,389 MB peak
with 100 KB owners), and one pod naming 2,000 owners had all 2,000 asked for and held.

Now a chain is followed `OWNER_GENERATIONS` links from the pods, and owners are asked for until
their answers reach `Bounds.list_bytes("owners")`; past either, a `truncated` gap on owners.jsonl
says so and the kinds not followed count as not read completely.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Response

from pathops_testbed.kube_api import FakeKubernetes, _json
from pathops_testbed.kube_objects import container, deployment, pod, replicaset, running
from tests.evidence_collector import scenarios
from tests.evidence_collector.conftest import RSS_LIMIT_MB, served_peak, unpack


def _invented(name: str, namespace: str, pad: int, owner: str | None) -> dict[str, Any]:
    """A ReplicaSet the API makes up on a GET, owned by `owner` (another one it makes up)."""
    refs = [] if owner is None else [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner,
                                      "uid": f"uid-{owner}"}]
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "resourceVersion": "1",
                         "annotations": {"example.com/pad": "x" * pad}, "ownerReferences": refs},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "x"}},
                     "template": {"spec": {"containers": [{"name": "c", "image": "harbor/c:1"}]}}},
            "status": {"replicas": 1}}


class InventedOwners(FakeKubernetes):
    """A GET of any ReplicaSet named `made-<n>` answers one, `pad` bytes, owned by `made-<n+1>` if `chain`."""

    def __init__(self, pad: int, chain: bool) -> None:
        super().__init__()
        self.pad, self.chain = pad, chain

    def _get(self, plural: str, namespace: str, name: str) -> Response:
        if plural == "replicasets" and name.startswith("made-"):
            owner = f"made-{int(name.removeprefix('made-')) + 1}" if self.chain else None
            return _json(_invented(name, namespace, self.pad, owner))
        return super()._get(plural, namespace, name)


def _pod_owned_by(names: list[str]) -> dict[str, Any]:
    spec = {"containers": [container("app", "harbor/app:1")]}
    made = pod("owned-0", replicaset(deployment("owned", scenarios.NS, spec), 1, spec, replicas=1),
               [running("app", "harbor/app:1")], ready=True)
    made["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": name,
                                            "uid": f"uid-{name}"} for name in names]
    return made


def _owner_gaps(folder: Path) -> list[dict[str, Any]]:
    manifest = json.loads((folder / "manifest.json").read_text())
    return [g for g in manifest["gaps"] if g["what"] == "objects/owners.jsonl"]


def _gets(api: FakeKubernetes) -> list[str]:
    return [path for path in api.requests if f"/namespaces/{scenarios.NS}/replicasets/made-" in path]


def test_an_owner_chain_that_never_ends_is_followed_a_few_links(tmp_path: Path) -> None:
    """Before: asked until the deadline, past 150 MB. Now: OWNER_GENERATIONS GETs, then a gap."""
    api = InventedOwners(pad=20_000, chain=True)
    api.add(_pod_owned_by(["made-0"]))
    peak = served_peak(api, tmp_path, EVIDENCE_DEADLINE_SECONDS="30")
    assert peak <= RSS_LIMIT_MB, f"peak RSS {peak:.0f} MB"
    assert 2 <= len(_gets(api)) <= 6
    folder = unpack(tmp_path / "out")
    gaps = _owner_gaps(folder)
    assert [g["reason"] for g in gaps] == ["truncated"], gaps
    assert "links" in gaps[0]["detail"], gaps
    findings = json.loads((folder / "findings.json").read_text())
    assert "not read completely" in findings["summary"] and "replicasets" in findings["summary"]
    assert "deadline" not in findings["summary"]


def test_a_pod_naming_two_thousand_owners_has_them_asked_for_up_to_their_bytes(tmp_path: Path) -> None:
    """Before: 2,000 GETs of 100 KB owners, all held. Now: asked for until their answers reach the owners' share."""
    api = InventedOwners(pad=100_000, chain=False)
    api.add(_pod_owned_by([f"made-{n}" for n in range(2_000)]))
    peak = served_peak(api, tmp_path, EVIDENCE_DEADLINE_SECONDS="120")
    assert peak <= RSS_LIMIT_MB, f"peak RSS {peak:.0f} MB"
    assert 10 < len(_gets(api)) < 200
    gaps = _owner_gaps(unpack(tmp_path / "out"))
    assert any(g["reason"] == "truncated" and "ownerReference" in g["detail"] for g in gaps), gaps


def test_the_deployments_replicaset_lists_share_their_bytes(tmp_path: Path) -> None:
    """Each Deployment's ReplicaSets were listed up to `list_bytes("replicasets")` on its own, eight at once,
    and all held (those running pods are kept whole): 20 Deployments of 300 such ReplicaSets, 317 MB. Now the
    lists share those bytes; one gap says how many were cut."""
    api = FakeKubernetes()
    env = [{"name": f"SETTING_{index:04d}", "value": "v" * 20} for index in range(100)]
    for index in range(20):
        owner = deployment(f"app-{index:02d}", scenarios.NS, {"containers": [container("app", "harbor/app:1")]},
                           revision=300)
        api.add(owner)
        for revision in range(1, 301):
            rs = replicaset(owner, revision, {"containers": [container("app", f"harbor/app:{revision}", env=env)]},
                            replicas=1)
            api.add(rs)
        api.add(pod(f"app-{index:02d}-p", rs, [running("app", "harbor/app:300")], ready=True))
    peak = served_peak(api, tmp_path)
    assert peak <= RSS_LIMIT_MB, f"peak RSS {peak:.0f} MB"
    gaps = json.loads((unpack(tmp_path / "out") / "manifest.json").read_text())["gaps"]
    cut = [g for g in gaps if g["what"] == "replicasets"]
    assert len(cut) == 1 and cut[0]["reason"] == "truncated" and "Deployments" in cut[0]["detail"], cut
