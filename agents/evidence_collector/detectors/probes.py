"""Probe findings: readiness, liveness and startup probes that fail, with the container's own access log.

The pods of one controller whose same probe fails the same way (`grouping`) are one finding.
"""

from __future__ import annotations

import re
from typing import Any

from evidence_collector.detectors.grouping import controller, grouped, masked
from evidence_collector.findings import (
    Evidence,
    Finding,
    Quote,
    _containers,
    _event_pointers,
    _event_quote,
    _name,
    _pod_pointer,
)

_PROBE = re.compile(r"(?i)(readiness|liveness|startup) probe failed: (.*)")


def _describe(first: Finding, workload: str, members: list[Finding]) -> tuple[str, str]:
    """Title and detail of the pods of `workload` whose probe fails as `first`'s does."""
    facts = first.facts
    target = f"{facts.get('path') or ''}:{facts.get('port') or ''}" if facts.get("path") or facts.get("port") \
        else "probe"
    return (f"{facts['probe']} probe fails in {len(members)} pods of {workload} ({target})",
            f"{len(members)} pods of {workload}. {facts['pod']}: {first.detail}")


def detect_probe_failures(evidence: Evidence) -> list[Finding]:
    findings: list[tuple[Finding, tuple[object, ...] | None]] = []
    seen: set[tuple[str, str, str]] = set()
    for event in evidence.events:
        match = _PROBE.search(event.get("message", ""))
        if event.get("reason") != "Unhealthy" or not match:
            continue
        pod_name = event.get("involvedObject", {}).get("name", "")
        probe_kind = match[1].lower()
        field_path = str(event.get("involvedObject", {}).get("fieldPath") or "")
        # One finding per pod, probe and container: each container's probe is a problem of its own.
        if (pod_name, probe_kind, field_path) in seen:
            continue
        seen.add((pod_name, probe_kind, field_path))
        pod = next((p for p in evidence.pods if _name(p) == pod_name), None)
        container = _probed_container(pod, probe_kind, field_path)
        probe = (container or {}).get(probe_kind + "Probe") or {}
        http = probe.get("httpGet", {})
        status = re.search(r"statuscode: (\d+)", match[2])
        ports = [p.get("containerPort") for p in (container or {}).get("ports", [])]
        facts = {"pod": pod_name, "container": (container or {}).get("name"), "probe": probe_kind,
                 "path": http.get("path"), "port": http.get("port"), "status_code": int(status[1]) if status else None,
                 "container_ports": ports, "message": match[2][:300]}
        target = f"{http.get('path', '')}:{http.get('port', '')}" if http else "probe"

        def same_probe(other: dict[str, Any], pod_name: str = pod_name, probe_kind: str = probe_kind,
                       field_path: str = field_path) -> bool:
            return bool(other.get("involvedObject", {}).get("name") == pod_name
                        and str(other.get("involvedObject", {}).get("fieldPath") or "") == field_path
                        and probe_kind in other.get("message", "").lower())

        pointers = [_pod_pointer(evidence, pod)] if pod else []
        quotes = _event_quote(evidence, same_probe) + _probe_log_quotes(evidence, pod_name, facts)
        owner = controller(pod) if pod else None
        # The same controller, container, probe (kind, path, port), status code and message: one finding.
        key = None if owner is None else ("probe-failure", owner, facts["container"], probe_kind, str(facts["path"]),
                                          str(facts["port"]), facts["status_code"], masked([match[2]], pod_name))
        findings.append((Finding(
            "probe-failure", "high", f"{probe_kind} probe of {pod_name} fails ({target})",
            f"{match[1]} probe failed: {match[2][:300]} ({event.get('count', 1)} times).",
            [f"pod/{pod_name}"], [*pointers, *_event_pointers(evidence, same_probe)], facts, quotes), key))
    return grouped(evidence, findings, _describe)


_FIELD_PATH = re.compile(r"spec\.(?:initContainers|containers)\{([^{}]+)\}")


def _probed_container(pod: dict[str, Any] | None, probe_kind: str, field_path: str) -> dict[str, Any] | None:
    """The container whose probe the event reports: the one its fieldPath names (`spec.containers{web}`, the name
    whole: "web" is not "web-proxy"), else the only container with a probe of that kind; None when it is not known."""
    probed = [spec for spec in (_containers(pod) if pod else []) if isinstance(spec.get(probe_kind + "Probe"), dict)]
    if field_path:
        named = _FIELD_PATH.fullmatch(field_path)
        probed = [spec for spec in probed if named and spec.get("name") == named[1]]
    return probed[0] if len(probed) == 1 else None


def _probe_log_quotes(evidence: Evidence, pod: str, facts: dict[str, Any]) -> list[Quote]:
    """The container's own last log lines that mention the probe's path (its access log)."""
    path, container = facts.get("path"), facts.get("container")
    entry = evidence.log_tails.get((pod, str(container), False))
    if not isinstance(path, str) or len(path) < 2 or entry is None:
        return []
    file, lines, first = entry
    pattern = re.compile(re.escape(path) + r"(?![\w/.-])")
    hits = [i for i, line in enumerate(lines) if pattern.search(line)][-2:]
    return [Quote(file, first + i, lines[i].rstrip("\n")) for i in hits]
