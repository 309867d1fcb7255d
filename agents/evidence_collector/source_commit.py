"""Which commit the affected workload runs: the fix-agent build needs the exact SHA."""

from __future__ import annotations

import re
from typing import Any

FULL_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
# Where a commit may be recorded, most explicit first.
ANNOTATIONS = ("pathops.io/source-commit", "org.opencontainers.image.revision", "app.kubernetes.io/commit",
               "git-commit", "commit")
LABELS = ("pathops.io/source-commit", "app.kubernetes.io/version")


def find_source_commit(objects: list[tuple[str, dict[str, Any]]], image: str | None) -> tuple[str | None, str | None]:
    """(sha, where it was found) from annotations and labels of the given objects, then the image tag."""
    for what, obj in objects:
        for place, keys in (("annotation", ANNOTATIONS), ("label", LABELS)):
            values = obj.get("metadata", {}).get(f"{place}s") or {}
            for key in keys:
                found = values.get(key)
                if found is None:  # most objects carry none of them: 2,100 searches for nothing on 300 pods
                    continue
                value = str(found).lower()
                if FULL_SHA.fullmatch(value):
                    return value, f"{what} {place} {key}"
    if image:
        tag = image.split("@")[0].rsplit(":", 1)[-1] if ":" in image.split("/")[-1] else ""
        if FULL_SHA.fullmatch(tag.lower()):
            return tag.lower(), "image tag"
    return None, None


def replicaset_commit(replicaset: dict[str, Any]) -> str | None:
    """The commit a ReplicaSet runs: the Deployment controller copies the Deployment's annotations
    to the ReplicaSet it creates, so an old ReplicaSet still says what the previous rollout deployed."""
    template = replicaset.get("spec", {}).get("template", {})
    containers = template.get("spec", {}).get("containers") or [{}]
    commit, _ = find_source_commit([("replicaset", replicaset), ("pod template", template)],
                                   containers[0].get("image"))
    return commit


def workload_source(pods: list[dict[str, Any]], workloads: list[dict[str, Any]],
                    focused: dict[str, Any] | None) -> tuple[str | None, str | None, str | None]:
    """(image, commit, where the commit was found) of the affected workload: the focused object and its
    pod template first, then the owners, then the pods; the image is the first pod's first container's."""
    candidates: list[tuple[str, dict[str, Any]]] = []
    if focused is not None:
        candidates.append((f"{focused['kind'].lower()}/{focused['metadata']['name']}", focused))
        template = focused.get("spec", {}).get("template")
        if template:
            candidates.append((f"{focused['kind'].lower()} pod template", template))
    candidates += [(f"{w.get('kind', '').lower()}/{w['metadata']['name']}", w) for w in workloads]
    candidates += [(f"pod/{p['metadata']['name']}", p) for p in pods]
    image = None
    for pod in pods:
        containers = pod["spec"].get("containers", [])
        if containers:
            image = containers[0].get("image")
            break
    if image is None and focused is not None:
        containers = focused.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
        image = containers[0].get("image") if containers else None
    commit, found_in = find_source_commit(candidates, image)
    return image, commit, found_in
