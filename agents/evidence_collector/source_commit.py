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
                value = str(values.get(key, "")).lower()
                if FULL_SHA.match(value):
                    return value, f"{what} {place} {key}"
    if image:
        tag = image.split("@")[0].rsplit(":", 1)[-1] if ":" in image.split("/")[-1] else ""
        if FULL_SHA.match(tag.lower()):
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
