"""What changed in a deployment's last rollout: the pod template of the current ReplicaSet against the previous."""

from __future__ import annotations

from typing import Any


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list):
        out = {}
        for index, item in enumerate(value):
            name = item.get("name") if isinstance(item, dict) else None
            out.update(_flatten(item, f"{prefix}[{name if name is not None else index}]"))
        return out
    return {prefix: value}


def template_diff(current: dict[str, Any], previous: dict[str, Any]) -> list[dict[str, Any]]:
    """Paths of the pod template that changed from the previous ReplicaSet to the current one."""
    old = _flatten(previous.get("spec", {}).get("template", {}))
    new = _flatten(current.get("spec", {}).get("template", {}))
    ignored = ("metadata.labels.pod-template-hash",)
    return [{"path": path, "previous": old.get(path), "current": new.get(path)}
            for path in sorted(set(old) | set(new)) if old.get(path) != new.get(path) and path not in ignored]
