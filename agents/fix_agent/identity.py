"""Who is failing, by identity: pod -> owner chain -> workload and container, as the cluster reported it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fix_agent.rendering import ObjectKey, Root, containers
from fix_agent.snapshot import Snapshot

MAX_OBJECTS_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class Target:
    kind: str
    name: str
    namespace: str
    container: str
    pod: str
    live_container: dict[str, Any]  # the container's spec as the pod runs it
    live_labels: dict[str, Any]

    def describe(self) -> str:
        return f"{self.kind.lower()}/{self.name} container {self.container}"


def snapshot_objects(snapshot: Snapshot, name: str) -> list[dict[str, Any]]:
    """The objects of one JSON Lines file of the snapshot (bounded; lines that are not objects skipped)."""
    path = snapshot.root / name
    if not path.is_file() or path.stat().st_size > MAX_OBJECTS_BYTES:
        return []
    objects = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            objects.append(value)
    return objects


def _controller(obj: dict[str, Any]) -> dict[str, Any] | None:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return next((r for r in refs if r.get("controller")), refs[0] if refs else None)


def locate(snapshot: Snapshot, pod_name: str | None, container: str | None) -> Target | str:
    """The workload and container behind a failing pod; a reason string when the evidence cannot say."""
    if not pod_name or not container:
        return "the finding names no pod and container"
    pods = [p for p in snapshot_objects(snapshot, "objects/pods.jsonl")
            if (p.get("metadata") or {}).get("name") == pod_name]
    if len(pods) != 1:
        return f"pod {pod_name} is not in the snapshot's objects/pods.jsonl"
    pod = pods[0]
    live = next((c for c in containers(pod) if c.get("name") == container), None)
    if live is None:
        return f"pod {pod_name} has no container {container}"
    owners = snapshot_objects(snapshot, "objects/owners.jsonl")
    by_uid = {str((o.get("metadata") or {}).get("uid")): o for o in owners}
    kind, name = "Pod", pod_name
    ref = _controller(pod)
    seen = 0
    while ref is not None and seen < 5:
        seen += 1
        owner = by_uid.get(str(ref.get("uid"))) or next(
            (o for o in owners if o.get("kind") == ref.get("kind")
             and (o.get("metadata") or {}).get("name") == ref.get("name")), None)
        kind, name = str(ref.get("kind")), str(ref.get("name"))
        if owner is None:
            if kind == "ReplicaSet":
                return f"the owner chain of {pod_name} stops at ReplicaSet {name}, which the snapshot lacks"
            break
        ref = _controller(owner)
    namespace = str((pod.get("metadata") or {}).get("namespace") or snapshot.manifest.get("target_namespace") or "")
    return Target(kind, name, namespace, container, pod_name, live,
                  dict((pod.get("metadata") or {}).get("labels") or {}))


def replicas(snapshot: Snapshot, pod_name: str) -> set[str]:
    """The pods of the snapshot with the same controller (uid) as pod_name, itself included: replicas, one pod
    spec. Just pod_name when it has no controller, or is listed under that name more than once."""
    owners: dict[str, list[str]] = {}
    for pod in snapshot_objects(snapshot, "objects/pods.jsonl"):
        ref = _controller(pod)
        owners.setdefault(str((pod.get("metadata") or {}).get("name")), []).append(
            str(ref.get("uid") or "") if isinstance(ref, dict) else "")
    mine = owners.get(pod_name, [])
    if len(mine) != 1 or not mine[0]:
        return {pod_name}
    return {name for name, uids in owners.items() if uids == mine}


def find_in_root(root: Root, target: Target, any_namespace: bool = False) -> tuple[ObjectKey, dict[str, Any]] | None:
    """The object of a rendered root that is the target workload: same kind and name (any namespace the root
    gives, or none), else, for Helm (names derive from the release), the one object of that kind with the
    target's container. any_namespace: the same workload as another environment renders it (an overlay of
    the same base)."""
    def has_container(obj: dict[str, Any]) -> bool:
        return any(c.get("name") == target.container for c in containers(obj))

    exact = [(key, obj) for key, obj in root.objects.items() if key[0] == target.kind and key[2] == target.name
             and (any_namespace or key[1] in {"", target.namespace}) and has_container(obj)]
    if len(exact) == 1:
        return exact[0]
    if exact or root.kind != "helm":
        return None
    loose = [(key, obj) for key, obj in root.objects.items() if key[0] == target.kind and has_container(obj)]
    return loose[0] if len(loose) == 1 else None
