"""What the pods refer to: ConfigMaps (whose values may be read) and Secrets (by name only, never read)."""

from __future__ import annotations

from typing import Any


def configmap_references(pods: list[dict[str, Any]]) -> set[str]:
    names: set[str] = set()
    for pod in pods:
        spec = pod.get("spec", {})
        for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
            for env in container.get("env", []):
                ref = (env.get("valueFrom") or {}).get("configMapKeyRef")
                if ref:
                    names.add(ref["name"])
            for source in container.get("envFrom", []):
                if source.get("configMapRef"):
                    names.add(source["configMapRef"]["name"])
        for volume in spec.get("volumes", []):
            if volume.get("configMap"):
                names.add(volume["configMap"]["name"])
            for projected in (volume.get("projected") or {}).get("sources", []):
                if projected.get("configMap"):
                    names.add(projected["configMap"]["name"])
    return names


def secret_references(pods: list[dict[str, Any]], events: list[dict[str, Any]]) -> dict[str, Any]:
    """Secrets the pods refer to, by name and key only; missing ones as the API reported them.

    No Secret is ever read: whether one is missing comes from container statuses and events.
    """
    references: list[dict[str, Any]] = []
    for pod in pods:
        spec = pod.get("spec", {})
        pod_name = pod["metadata"]["name"]
        for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
            for env in container.get("env", []):
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    references.append({"pod": pod_name, "container": container["name"], "kind": "Secret",
                                       "name": ref.get("name"), "key": ref.get("key"),
                                       "optional": bool(ref.get("optional"))})
            for source in container.get("envFrom", []):
                if source.get("secretRef"):
                    references.append({"pod": pod_name, "container": container["name"], "kind": "Secret",
                                       "name": source["secretRef"].get("name"), "key": None,
                                       "optional": bool(source["secretRef"].get("optional"))})
        for volume in spec.get("volumes", []):
            if volume.get("secret"):
                references.append({"pod": pod_name, "volume": volume["name"], "kind": "Secret",
                                   "name": volume["secret"].get("secretName"), "key": None,
                                   "optional": bool(volume["secret"].get("optional"))})
    messages = [s.get("state", {}).get("waiting", {}).get("message", "") for pod in pods
                for s in pod.get("status", {}).get("containerStatuses", []) + pod.get("status", {}).get(
                    "initContainerStatuses", [])]
    messages += [e.get("message", "") for e in events]
    for reference in references:
        name, key = reference["name"], reference["key"]
        reference["reported_missing"] = any(
            f'secret "{name}" not found' in m or (key is not None and f"couldn't find key {key} in Secret" in m
                                                   and f"/{name}" in m)
            for m in messages)
    return {"references": references, "note": "Secrets are never read; 'reported_missing' comes from the API's "
                                              "own status messages and events."}
