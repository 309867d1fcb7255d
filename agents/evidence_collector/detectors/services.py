"""Service findings: services that select no pod, no ready pod, or a port no pod exposes."""

from __future__ import annotations

from evidence_collector.findings import Evidence, Finding, Pointer, _containers, _name


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def detect_service_problems(evidence: Evidence) -> list[Finding]:
    """Services that select no pod, no ready pod, or a port no pod exposes (only when pods were all read)."""
    findings: list[Finding] = []
    if "pods" in evidence.unread:
        return findings
    for index, service in enumerate(evidence.services):
        selector = service.get("spec", {}).get("selector") or {}
        if not selector:
            continue
        name = _name(service)
        pointer = Pointer("objects/services.jsonl", (index + 1, index + 1))
        endpoints = next((e for e in evidence.endpoints if _name(e) == name), {})
        ready = sum(len(s.get("addresses", [])) for s in endpoints.get("subsets", []) or [])
        selected = [p for p in evidence.pods if _selects(selector, p.get("metadata", {}).get("labels", {}))]
        ports = {p.get("containerPort") for pod in selected for c in _containers(pod) for p in c.get("ports", [])}
        named = {p.get("name") for pod in selected for c in _containers(pod) for p in c.get("ports", [])}
        for port in service.get("spec", {}).get("ports", []):
            target = port.get("targetPort", port.get("port"))
            if selected and ((isinstance(target, int) and ports and target not in ports)
                             or (isinstance(target, str) and target not in named)):
                findings.append(Finding(
                    "service-port-mismatch", "high", f"service {name} targets port {target} that no pod exposes",
                    f"targetPort {target}; the selected pods expose {sorted(p for p in ports if p)}.",
                    [f"service/{name}"], [pointer],
                    {"service": name, "target_port": target, "container_ports": sorted(p for p in ports if p)}))
        if not selected:
            findings.append(Finding(
                "service-no-pods", "high", f"service {name} selects no pod",
                f"Selector {selector} matches none of the namespace's pods.", [f"service/{name}"], [pointer],
                {"service": name, "selector": selector}))
        elif ready == 0 and "endpoints" not in evidence.unread:
            findings.append(Finding(
                "service-no-endpoints", "high", f"service {name} has no ready endpoints",
                f"{len(selected)} pod(s) match its selector but none is ready.", [f"service/{name}"], [pointer],
                {"service": name, "selected_pods": [_name(p) for p in selected]}))
    return findings
