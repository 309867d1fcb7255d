"""Old ReplicaSets kept as rollout history only (`collector._history_only`): what image-rollback reads of them.

image-rollback walks a Deployment's ReplicaSets from the newest down and reads, of each, the image of the
failing container, init containers included (`fix_agent.rendering.containers`): an init container whose tag
does not exist (a migration image) is rolled back like any other.
"""

from __future__ import annotations

import json
from pathlib import Path

from fix_agent.rendering import containers
from pathops_testbed.kube_objects import container, deployment, pod, replicaset, running, waiting
from tests.evidence_collector.conftest import Cluster, unpack
from tests.evidence_collector.scenarios import NS


def _spec(revision: int, migrate: int) -> dict[str, object]:
    return {"initContainers": [container("migrate", f"harbor/shop-migrate:{migrate}", probe_path=None)],
            "containers": [container("app", f"harbor/shop-orders:{revision}")]}


def test_an_old_replicaset_kept_as_history_keeps_its_init_containers_images(cluster: Cluster, tmp_path: Path) -> None:
    # Revisions 1..5; 5 is failing (its init image has no tag), 1 still runs. 2 and 3, scaled to 0, are history.
    owner = deployment("shop-orders", NS, _spec(5, 5), revision=5)
    cluster.api.add(owner)
    sets = {revision: replicaset(owner, revision, _spec(revision, revision), replicas=2 if revision in (1, 5) else 0,
                                 ready=2 if revision == 1 else 0) for revision in range(1, 6)}
    cluster.api.add_all(list(sets.values()))
    cluster.api.add(pod("shop-orders-old", sets[1], [running("app", "harbor/shop-orders:1")], ready=True))
    cluster.api.add(pod("shop-orders-new", sets[5], [waiting("app", "harbor/shop-orders:5", "PodInitializing")]))
    run = cluster.collect("--no-upload", "--output-dir", str(tmp_path / "out"))
    assert run.returncode == 0, run.stderr[-2000:]
    owners = [json.loads(line) for line in (unpack(tmp_path / "out") / "objects/owners.jsonl").read_text().splitlines()]
    images = {int(o["metadata"]["annotations"]["deployment.kubernetes.io/revision"]):
              {c["name"]: c["image"] for c in containers(o)} for o in owners if o.get("kind") == "ReplicaSet"
              and o["metadata"]["ownerReferences"][0]["name"] == "shop-orders"}
    assert images == {revision: {"migrate": f"harbor/shop-migrate:{revision}", "app": f"harbor/shop-orders:{revision}"}
                      for revision in range(1, 6)}
    # Kept as history: the templates of revisions 2 and 3 (running no pod, older than the two newest).
    history = [o for o in owners if o.get("kind") == "ReplicaSet" and "resources" not in json.dumps(o["spec"])]
    assert sorted(o["metadata"]["annotations"]["deployment.kubernetes.io/revision"] for o in history) == ["2", "3"]

