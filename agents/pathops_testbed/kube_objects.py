"""Builders of Kubernetes objects as the API returns them, for the fake cluster's scenarios."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from pathops_testbed.kube_api import rfc3339


def ago(minutes: float) -> str:
    return rfc3339(datetime.now(UTC) - timedelta(minutes=minutes))


def container(name: str, image: str, port: int = 8080, probe_path: str | None = "/healthz",
              probe_port: int | None = None, memory: str = "256Mi", env: list[dict[str, Any]] | None = None,
              **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": name, "image": image, "ports": [{"containerPort": port, "name": "http"}],
                            "resources": {"requests": {"cpu": "100m", "memory": memory}, "limits": {"memory": memory}},
                            "env": env or []}
    if probe_path:
        spec["readinessProbe"] = {"httpGet": {"path": probe_path, "port": probe_port or port},
                                  "periodSeconds": 5, "failureThreshold": 3}
    spec.update(extra)
    return spec


def running(name: str, image: str, ready: bool = True, restarts: int = 0,
            last_terminated: dict[str, Any] | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"name": name, "image": image, "ready": ready, "restartCount": restarts,
                              "state": {"running": {"startedAt": ago(20)}}, "lastState": {}}
    if last_terminated:
        status["lastState"] = {"terminated": last_terminated}
    return status


def waiting(name: str, image: str, reason: str, message: str = "", restarts: int = 0,
            last_terminated: dict[str, Any] | None = None) -> dict[str, Any]:
    status = running(name, image, ready=False, restarts=restarts, last_terminated=last_terminated)
    status["state"] = {"waiting": {"reason": reason, "message": message}}
    return status


def deployment(name: str, namespace: str, template_spec: dict[str, Any], *, revision: int = 2,
               labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None,
               replicas: int = 2, ready: int = 0, updated: int | None = None,
               template_annotations: dict[str, str] | None = None) -> dict[str, Any]:
    selector = {"app.kubernetes.io/name": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {**selector, **(labels or {})},
                     "annotations": {"deployment.kubernetes.io/revision": str(revision), **(annotations or {})},
                     "uid": f"uid-deploy-{name}", "generation": revision},
        "spec": {"replicas": replicas, "selector": {"matchLabels": selector},
                 "template": {"metadata": {"labels": dict(selector), "annotations": template_annotations or {}},
                              "spec": template_spec}},
        "status": {"replicas": replicas, "readyReplicas": ready, "updatedReplicas": replicas if updated is None
                   else updated, "observedGeneration": revision,
                   "conditions": [{"type": "Available", "status": "True" if ready else "False"}]},
    }


def replicaset(owner: dict[str, Any], revision: int, template_spec: dict[str, Any], replicas: int,
               ready: int = 0) -> dict[str, Any]:
    name = owner["metadata"]["name"]
    template_hash = hashlib.sha256(repr(template_spec).encode()).hexdigest()[:10]
    labels = {**owner["spec"]["selector"]["matchLabels"], "pod-template-hash": template_hash}
    return {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": f"{name}-{template_hash}", "namespace": owner["metadata"]["namespace"],
                     "labels": labels, "uid": f"uid-rs-{name}-{template_hash}",
                     "annotations": {"deployment.kubernetes.io/revision": str(revision)},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name,
                                          "uid": owner["metadata"]["uid"], "controller": True}]},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": template_spec}},
        "status": {"replicas": replicas, "readyReplicas": ready},
    }


def pod(name: str, owner: dict[str, Any], statuses: list[dict[str, Any]], *, phase: str = "Running",
        ready: bool = False, conditions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    template = owner["spec"]["template"]
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": owner["metadata"]["namespace"],
                     "labels": dict(template["metadata"]["labels"]),
                     "annotations": dict(template["metadata"].get("annotations") or {}),
                     "uid": f"uid-pod-{name}",
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": owner["kind"],
                                          "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
                                          "controller": True}]},
        "spec": template["spec"],
        "status": {"phase": phase, "containerStatuses": statuses,
                   "conditions": conditions or [{"type": "Ready", "status": "True" if ready else "False"},
                                                {"type": "PodScheduled", "status": "True"}]},
    }


def service(name: str, namespace: str, selector: dict[str, str], port: int = 80,
            target_port: int | str = 8080) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": selector, "ports": [{"name": "http", "port": port, "targetPort": target_port}]}}


def endpoints(name: str, namespace: str, ready: list[str], not_ready: list[str], port: int = 8080) -> dict[str, Any]:
    subset: dict[str, Any] = {"ports": [{"name": "http", "port": port}]}
    if ready:
        subset["addresses"] = [{"ip": ip} for ip in ready]
    if not_ready:
        subset["notReadyAddresses"] = [{"ip": ip} for ip in not_ready]
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": namespace},
            "subsets": [subset] if ready or not_ready else []}


def event(namespace: str, kind: str, name: str, reason: str, message: str, minutes_ago: float,
          count: int = 1, kind_of_event: str = "Warning", field_path: str = "") -> dict[str, Any]:
    digest = hashlib.sha256(f"{name}{reason}{message}{minutes_ago}".encode()).hexdigest()[:8]
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{name}.{digest}", "namespace": namespace, "creationTimestamp": ago(minutes_ago)},
            "involvedObject": {"kind": kind, "name": name, "namespace": namespace, "fieldPath": field_path},
            "reason": reason, "message": message, "type": kind_of_event, "count": count,
            "firstTimestamp": ago(minutes_ago), "lastTimestamp": ago(minutes_ago)}


def configmap(name: str, namespace: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace},
            "data": data}
