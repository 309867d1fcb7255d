"""Service findings: services that select no pod, no ready pod, or a port no pod exposes."""

from __future__ import annotations

from typing import Any

from evidence_collector.findings import Evidence, Finding, Pointer, _containers, _name


class _PodsByLabel:
    """The pods a selector selects, found from an index of their labels: judged against every pod, 5,000
    Services and 11,000 pods took 57 s of CPU."""

    def __init__(self, pods: list[dict[str, Any]]) -> None:
        self.pods = pods
        self.labels: list[dict[str, Any]] = []  # each pod's labels (none when they are not a map)
        self.postings: dict[tuple[Any, Any], list[int]] = {}  # (label, value) -> the indexes of the pods holding it
        for index, pod in enumerate(pods):
            labels = pod.get("metadata", {}).get("labels", {})
            self.labels.append(labels if isinstance(labels, dict) else {})
            for pair in self.labels[-1].items():
                self.postings.setdefault(pair, []).append(index)

    def selected(self, selector: dict[str, Any]) -> list[dict[str, Any]]:
        """The pods holding every label of the selector, in the pods' order (none for an empty selector):
        the pods of its rarest label, each checked for the others (a label every pod holds, `team: shop`,
        is never gone through)."""
        if not selector:
            return []
        try:
            rarest = min((self.postings.get(pair, []) for pair in selector.items()), key=len)
        except TypeError:  # a value that is no key (a list): nothing selects by it
            return []
        return [self.pods[index] for index in rarest
                if all(self.labels[index].get(key) == value for key, value in selector.items())]


def detect_service_problems(evidence: Evidence) -> list[Finding]:
    """Services that select no pod, no ready pod, or a port no pod exposes (only when pods were all read)."""
    findings: list[Finding] = []
    if "pods" in evidence.unread:
        return findings
    pods = _PodsByLabel(evidence.pods)
    ready_of: dict[str, int] = {}  # Endpoints by name (the first of a name, as before): its ready addresses
    for endpoints in evidence.endpoints:
        ready_of.setdefault(_name(endpoints),
                            sum(len(s.get("addresses", [])) for s in endpoints.get("subsets", []) or []))
    for index, service in enumerate(evidence.services):
        selector = service.get("spec", {}).get("selector") or {}
        if not selector:
            continue
        name = _name(service)
        pointer = Pointer("objects/services.jsonl", (index + 1, index + 1))
        ready = ready_of.get(name, 0)
        selected = pods.selected(selector)
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
