"""Deterministic detectors over collected state, in the spirit of k8sgpt's analyzers.

Pure functions: they read the collected objects (as the API returned them) and the
log excerpts, and return findings with pointers into the snapshot (file and line range)
and quotes: the few lines that prove each finding, each with its file and line, for the
merge request and analysis.md to show as they are.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from evidence_collector.stack_traces import stack_traces

SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}


@dataclass
class Pointer:
    file: str
    lines: tuple[int, int]

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "lines": list(self.lines)}


MAX_QUOTE_CHARS = 300
MAX_QUOTES = 12  # a stack trace's frames, or a few log lines and an event


@dataclass
class Quote:
    """One line of the snapshot, as written there (redacted), that proves a finding."""

    file: str
    line: int  # 1-based
    text: str
    time: str | None = None  # when the API says (events)

    def as_dict(self) -> dict[str, Any]:
        quote: dict[str, Any] = {"file": self.file, "line": self.line, "text": self.text[:MAX_QUOTE_CHARS]}
        if self.time:
            quote["time"] = self.time
        return quote


@dataclass
class Finding:
    kind: str
    severity: str
    title: str
    detail: str
    objects: list[str]
    pointers: list[Pointer] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)  # machine-readable specifics for the fix agent
    quotes: list[Quote] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "severity": self.severity, "title": self.title, "detail": self.detail,
                "objects": self.objects, "pointers": [p.as_dict() for p in self.pointers], "facts": self.facts,
                "quotes": [q.as_dict() for q in self.quotes[:MAX_QUOTES]]}


@dataclass
class Evidence:
    """What the detectors read. Lines are 1-based positions in the JSON Lines files."""

    pods: list[dict[str, Any]]
    events: list[dict[str, Any]]
    services: list[dict[str, Any]]
    endpoints: list[dict[str, Any]]
    configmaps: list[dict[str, Any]]
    replicasets: list[dict[str, Any]]
    workloads: list[dict[str, Any]]
    # (pod, container, previous) -> (file in the snapshot, its last lines, line number of the first of them)
    log_tails: dict[tuple[str, str, bool], tuple[str, list[str], int]]
    rollouts: list[dict[str, Any]] = field(default_factory=list)  # one per deployment, as in rollout-diffs.jsonl
    # Sections whose list failed or stopped part-way: an empty or short list there proves nothing.
    unread: frozenset[str] = frozenset()
    # Lines kept of each file the budget cut (head kept): pointers past them are dropped.
    kept_lines: dict[str, int] = field(default_factory=dict)
    pod_lines: dict[int, int] = field(init=False)

    def __post_init__(self) -> None:
        self.pod_lines = {id(pod): index + 1 for index, pod in enumerate(self.pods)}


def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod.get("spec", {})
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def _statuses(pod: dict[str, Any]) -> list[dict[str, Any]]:
    status = pod.get("status", {})
    return [*status.get("initContainerStatuses", []), *status.get("containerStatuses", [])]


def _name(obj: dict[str, Any]) -> str:
    return str(obj.get("metadata", {}).get("name", ""))


def _pod_pointer(evidence: Evidence, pod: dict[str, Any]) -> Pointer:
    line = evidence.pod_lines[id(pod)]
    return Pointer("objects/pods.jsonl", (line, line))


def _event_pointers(evidence: Evidence, match: Callable[[dict[str, Any]], bool]) -> list[Pointer]:
    lines = [i + 1 for i, event in enumerate(evidence.events) if match(event)]
    return [Pointer("objects/events.jsonl", (lines[0], lines[-1]))] if lines else []


def _event_time(event: dict[str, Any]) -> str | None:
    value = event.get("firstTimestamp") or event.get("eventTime") or event.get("lastTimestamp")
    return str(value) if value else None


def _event_quote(evidence: Evidence, match: Callable[[dict[str, Any]], bool]) -> list[Quote]:
    """The first matching event, as a person reads it, with its line in events.jsonl."""
    for index, event in enumerate(evidence.events):
        if match(event):
            involved = event.get("involvedObject", {})
            count = event.get("count", 1)
            text = (f"{event.get('type', 'Normal')} {event.get('reason', '')} "
                    f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}: {event.get('message', '')}"
                    + (f" ({count} times)" if isinstance(count, int) and count > 1 else ""))
            return [Quote("objects/events.jsonl", index + 1, text, _event_time(event))]
    return []


def _line_quotes(file: str, first: int, lines: list[str], offset: int = 0) -> list[Quote]:
    return [Quote(file, first + offset + i, line.rstrip("\n")) for i, line in enumerate(lines)]


ERROR_WORDS = ("error", "exception", "fatal", "panic", "traceback", "failed", "refused", "denied", "killed")
ERROR_LINE = re.compile(r"(?i)\b(" + "|".join(ERROR_WORDS) + r")\b")


def _may_hold_error(text: str) -> bool:
    """False only when no line of text can match ERROR_LINE: on ASCII text a case-insensitive match
    holds one of the words, lower-cased; substring tests are far faster than the case-folding regex.
    (Other text: Unicode case folding matches more than lower() shows, so the regex decides.)"""
    if not text.isascii():
        return True
    lowered = text.lower()
    return any(word in lowered for word in ERROR_WORDS)


def _last_error_line(lines: list[str]) -> int | None:
    """Index of the last line matching ERROR_LINE (searched from the end), or None."""
    if not _may_hold_error("".join(lines)):
        return None
    return next((i for i in range(len(lines) - 1, -1, -1) if ERROR_LINE.search(lines[i])), None)


def _last_error_lines(evidence: Evidence, pod: str, container: str
                      ) -> tuple[list[str], Pointer | None, list[Quote]]:
    """The last error lines of a container's log (the previous one first), and the quotes that show
    them: its last stack trace when the tail holds one, else those lines."""
    for previous in (True, False):
        entry = evidence.log_tails.get((pod, container, previous))
        if entry is None:
            continue
        file, lines, first = entry
        traces = stack_traces(lines)
        trace_quotes: list[Quote] = []
        if traces:
            trace = traces[-1][-MAX_QUOTES:]
            start = max((i for i, line in enumerate(lines) if line is trace[0]), default=0)
            trace_quotes = _line_quotes(file, first, trace, start)
        last = _last_error_line(lines)
        if last is not None:
            start = max(last - 4, 0)
            found = lines[start: last + 1]
            return found, Pointer(file, (first + start, first + last)), \
                trace_quotes or _line_quotes(file, first, found, start)
        if lines:
            start = max(len(lines) - 5, 0)
            return lines[start:], Pointer(file, (first + start, first + len(lines) - 1)), \
                trace_quotes or _line_quotes(file, first, lines[start:], start)
    return [], None, []


def detect_crashes(evidence: Evidence) -> list[Finding]:
    findings = []
    for pod in evidence.pods:
        limits = {c["name"]: c.get("resources", {}).get("limits", {}) for c in _containers(pod)}
        for status in _statuses(pod):
            name = status["name"]
            waiting = status.get("state", {}).get("waiting", {})
            terminated = status.get("lastState", {}).get("terminated") or status.get("state", {}).get("terminated")
            objects = [f"pod/{_name(pod)}", f"container/{name}"]
            if terminated and terminated.get("reason") == "OOMKilled":
                memory = limits.get(name, {}).get("memory")
                findings.append(Finding(
                    "oom-killed", "critical", f"{_name(pod)}/{name} was OOMKilled",
                    f"Container {name} was killed for exceeding its memory limit ({memory or 'no limit set'}); "
                    f"restarts: {status.get('restartCount', 0)}.",
                    objects, [_pod_pointer(evidence, pod)],
                    {"pod": _name(pod), "container": name, "memory_limit": memory,
                     "restart_count": status.get("restartCount", 0)}))
            elif waiting.get("reason") == "CrashLoopBackOff" or (
                    terminated and terminated.get("exitCode", 0) != 0 and status.get("restartCount", 0) > 0):
                lines, pointer, quotes = _last_error_lines(evidence, _name(pod), name)
                code = (terminated or {}).get("exitCode")
                signal = (terminated or {}).get("signal")
                excerpt = "\n".join(line.rstrip() for line in lines)
                findings.append(Finding(
                    "crash-loop", "critical", f"{_name(pod)}/{name} is crash-looping (exit code {code})",
                    f"Exit code {code}{f', signal {signal}' if signal else ''}, restarts "
                    f"{status.get('restartCount', 0)}. Last error lines:\n{excerpt}",
                    objects, [_pod_pointer(evidence, pod), *([pointer] if pointer else [])],
                    {"pod": _name(pod), "container": name, "exit_code": code, "last_lines": lines[-5:]}, quotes))
    return findings


_PROBE = re.compile(r"(?i)(readiness|liveness|startup) probe failed: (.*)")


def detect_probe_failures(evidence: Evidence) -> list[Finding]:
    findings = []
    seen: set[tuple[str, str]] = set()
    for event in evidence.events:
        match = _PROBE.search(event.get("message", ""))
        if event.get("reason") != "Unhealthy" or not match:
            continue
        pod_name = event.get("involvedObject", {}).get("name", "")
        probe_kind = match[1].lower()
        if (pod_name, probe_kind) in seen:
            continue
        seen.add((pod_name, probe_kind))
        pod = next((p for p in evidence.pods if _name(p) == pod_name), None)
        container, probe = None, {}
        field_path = event.get("involvedObject", {}).get("fieldPath", "")
        for spec in _containers(pod) if pod else []:
            if probe_kind + "Probe" in spec and (not field_path or spec["name"] in field_path or container is None):
                container, probe = spec, spec[probe_kind + "Probe"]
        http = probe.get("httpGet", {})
        status = re.search(r"statuscode: (\d+)", match[2])
        ports = [p.get("containerPort") for p in (container or {}).get("ports", [])]
        facts = {"pod": pod_name, "container": (container or {}).get("name"), "probe": probe_kind,
                 "path": http.get("path"), "port": http.get("port"), "status_code": int(status[1]) if status else None,
                 "container_ports": ports, "message": match[2][:300]}
        target = f"{http.get('path', '')}:{http.get('port', '')}" if http else "probe"

        def same_probe(other: dict[str, Any], pod_name: str = pod_name, probe_kind: str = probe_kind) -> bool:
            return bool(other.get("involvedObject", {}).get("name") == pod_name
                        and probe_kind in other.get("message", "").lower())

        pointers = [_pod_pointer(evidence, pod)] if pod else []
        quotes = _event_quote(evidence, same_probe) + _probe_log_quotes(evidence, pod_name, facts)
        findings.append(Finding(
            "probe-failure", "high", f"{probe_kind} probe of {pod_name} fails ({target})",
            f"{match[1]} probe failed: {match[2][:300]} ({event.get('count', 1)} times).",
            [f"pod/{pod_name}"], [*pointers, *_event_pointers(evidence, same_probe)], facts, quotes))
    return findings


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


def _status_quote(evidence: Evidence, pod: dict[str, Any], container: str, reason: str, message: str) -> Quote:
    """A container's waiting state, as its pod's line in pods.jsonl records it."""
    return Quote("objects/pods.jsonl", evidence.pod_lines[id(pod)], f"{container}: {reason}: {message}")


def detect_waiting_errors(evidence: Evidence) -> list[Finding]:
    """Image pull errors and CreateContainerConfigError (missing ConfigMap, Secret or key)."""
    findings = []
    for pod in evidence.pods:
        for status in _statuses(pod):
            waiting = status.get("state", {}).get("waiting", {})
            reason = waiting.get("reason", "")
            message = waiting.get("message", "")
            objects = [f"pod/{_name(pod)}", f"container/{status['name']}"]
            if reason in {"ErrImagePull", "ImagePullBackOff", "InvalidImageName"}:
                findings.append(Finding(
                    "image-pull", "critical", f"{_name(pod)}/{status['name']} cannot pull {status.get('image')}",
                    f"{reason}: {message[:400]}", objects, [_pod_pointer(evidence, pod)],
                    {"pod": _name(pod), "container": status["name"], "image": status.get("image")},
                    [_status_quote(evidence, pod, status["name"], reason, message)]))
            elif reason == "CreateContainerConfigError":
                facts: dict[str, Any] = {"pod": _name(pod), "container": status["name"], "message": message[:400]}
                if match := re.search(r'configmap "([^"]+)" not found', message):
                    facts["missing_configmap"] = match[1]
                if match := re.search(r"couldn't find key (\S+) in ConfigMap \S+/(\S+)", message):
                    facts["missing_key"], facts["configmap"] = match[1], match[2]
                if match := re.search(r'secret "([^"]+)" not found', message):
                    facts["missing_secret"] = match[1]
                if match := re.search(r"couldn't find key (\S+) in Secret \S+/(\S+)", message):
                    facts["missing_secret_key"], facts["secret"] = match[1], match[2]
                findings.append(Finding(
                    "config-error", "critical", f"{_name(pod)}/{status['name']} cannot start: {message[:120]}",
                    f"CreateContainerConfigError: {message[:400]}", objects, [_pod_pointer(evidence, pod)], facts,
                    [_status_quote(evidence, pod, status["name"], reason, message)]))
    return findings


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


def detect_unschedulable(evidence: Evidence) -> list[Finding]:
    findings = []
    for pod in evidence.pods:
        for condition in pod.get("status", {}).get("conditions", []):
            if condition.get("type") == "PodScheduled" and condition.get("reason") == "Unschedulable":
                findings.append(Finding(
                    "unschedulable", "high", f"{_name(pod)} cannot be scheduled",
                    str(condition.get("message", ""))[:400], [f"pod/{_name(pod)}"], [_pod_pointer(evidence, pod)],
                    {"pod": _name(pod), "message": str(condition.get("message", ""))[:400]}))
    return findings


def _rollout_pointers(evidence: Evidence, deployment: str) -> list[Pointer]:
    lines = [i + 1 for i, r in enumerate(evidence.rollouts) if r.get("deployment") == deployment]
    return [Pointer("objects/rollout-diffs.jsonl", (lines[0], lines[0]))] if lines else []


def detect_stuck_rollouts(evidence: Evidence) -> list[Finding]:
    findings = []
    for workload in evidence.workloads:
        if workload.get("kind") != "Deployment":
            continue
        status = workload.get("status", {})
        wanted = workload.get("spec", {}).get("replicas", 1)
        uid = workload.get("metadata", {}).get("uid")
        active = [rs for rs in evidence.replicasets if rs.get("status", {}).get("replicas", 0) > 0
                  and any(o.get("uid") == uid for o in rs.get("metadata", {}).get("ownerReferences", []))]
        deadline = any(c.get("reason") == "ProgressDeadlineExceeded" for c in status.get("conditions", []))
        if deadline or (len(active) > 1 and status.get("updatedReplicas", 0) < wanted):
            findings.append(Finding(
                "rollout-stuck", "high", f"deployment {_name(workload)} is stuck between ReplicaSets",
                f"{status.get('updatedReplicas', 0)}/{wanted} updated, {status.get('readyReplicas', 0)} ready; "
                f"active ReplicaSets: {', '.join(_name(rs) for rs in active)}"
                + ("; progress deadline exceeded" if deadline else ""),
                [f"deployment/{_name(workload)}"], _rollout_pointers(evidence, _name(workload)),
                {"deployment": _name(workload), "active_replicasets": [_name(rs) for rs in active]}))
    return findings


DETECTORS = (detect_crashes, detect_waiting_errors, detect_probe_failures, detect_service_problems,
             detect_unschedulable, detect_stuck_rollouts)


def detect(evidence: Evidence) -> list[Finding]:
    findings = [finding for detector in DETECTORS for finding in detector(evidence)]
    for finding in findings:  # never point at a line the budget did not keep
        finding.pointers = [p for p in finding.pointers
                            if p.file not in evidence.kept_lines or p.lines[1] <= evidence.kept_lines[p.file]]
        finding.quotes = [q for q in finding.quotes
                          if q.file not in evidence.kept_lines or q.line <= evidence.kept_lines[q.file]]
    return sorted(findings, key=lambda f: (SEVERITY_ORDER[f.severity], f.kind, f.title))


def summarize(findings: list[Finding], notes: list[str] | None = None, limit: int = 5) -> str:
    """The callback summary: a few lines a person reads in chat; `notes` (missing namespace,
    unreadable sections) come first, and no finding is then not 'no problem'."""
    notes = notes or []
    if not findings:
        if notes:
            return "\n".join(["No finding, but the evidence is incomplete:", *(f"- {n}" for n in notes)])[:3900]
        return "No problem detected in the collected evidence; see the snapshot for details."
    lines = [f"- {note}" for note in notes] + [f"{len(findings)} finding(s):"]
    lines += [f"- [{f.severity}] {f.title}" for f in findings[:limit]]
    if len(findings) > limit:
        lines.append(f"- ... and {len(findings) - limit} more in findings.json")
    return "\n".join(lines)[:3900]
