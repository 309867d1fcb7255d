"""What another engine's change to the failing container must make sense as: the rules the playbooks follow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fix_agent.identity import Target
from fix_agent.playbooks.app_source import exposed_ports, source_env_reads, source_routes
from fix_agent.playbooks.memory_limit import MEMORY_CAP, format_memory, parse_memory
from fix_agent.playbooks.pod_logs import (
    listen_ports,
    pod_log,
    served_paths,
)
from fix_agent.playbooks.probe_path import PROBE_ROUTE_TIERS, route_role
from fix_agent.snapshot import Snapshot


def change_judge(snapshot: Snapshot, root: Path, kind: str, target: Target) -> Any:
    """For a finding of this kind, a judge of each change another engine makes to the failing container: the
    same rules the playbooks follow (a probe route of the right role that the app serves, a port it listens
    on, a larger memory limit under the cap, an existing ConfigMap key, a variable the code reads, a tag
    change only)."""
    routes = source_routes(root)
    log = pod_log(snapshot, target)
    served = served_paths(log)
    listening = listen_ports(log) or exposed_ports(root)
    configmaps = (snapshot.json_file("objects/configmaps.json") or {}).get("configmaps", [])

    def judge(path: tuple[str, ...], old: Any, new: Any) -> str | None:
        last = path[-1] if path else ""
        if kind == "probe-failure" and last == "path" and path[0].endswith("Probe"):
            role = path[0].removesuffix("Probe")
            ok = new in routes or any(200 <= c < 300 for c in served.get(str(new), set()))
            if not ok or route_role(str(new)) not in PROBE_ROUTE_TIERS.get(role, ()):
                return f"{path[0]} path {new!r} is not a route the app serves for a {role} probe"
        elif kind == "probe-failure" and last in {"port", "containerPort"} and isinstance(new, int) and listening \
                and new not in listening:
            return f"port {new} is not one the app listens on ({sorted(listening)})"
        elif kind == "oom-killed" and path[:1] == ("resources",) and path[-1:] == ("memory",):
            before, after = parse_memory(str(old)), parse_memory(str(new))
            if before is None or after is None or after <= before or after > MEMORY_CAP:
                return f"memory {old} -> {new} is not a raise within the {format_memory(MEMORY_CAP)} cap"
        elif kind == "image-pull" and path == ("image",) and \
                str(old).rpartition(":")[0] != str(new).rpartition(":")[0]:
            return f"the image repository changes ({old} -> {new}), not only its tag"
        elif kind == "config-error" and last == "key" and not any(
                new in (c.get("keys") or []) for c in configmaps if isinstance(c, dict)):
            return f"no ConfigMap has the key {new!r}"
        elif kind == "crash-loop" and last == "name" and path[:1] == ("env",) and new not in source_env_reads(root):
            return f"the code never reads {new!r}"
        return None

    return judge
