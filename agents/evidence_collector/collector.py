"""Collect the evidence of one incident from one namespace, bounded, redacted and complete.

Every section has a deadline and draws from one byte budget; whatever could not be read
(403, 404, timeout, truncation, budget) becomes a gap in the manifest, never silence.
"""

from __future__ import annotations

import codecs
import logging
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from evidence_collector.detectors import Evidence, Finding, detect
from evidence_collector.source_commit import find_source_commit
from evidence_collector.staging import Staging
from evidence_collector.window import TimeWindow, parse_timestamp
from pathops_contracts.errors import Forbidden, UpstreamError
from pathops_contracts.kube_reader import KIND_TO_PLURAL, KubeReader, NotFound, ReadForbidden

log = logging.getLogger(__name__)
T = TypeVar("T")

FINDINGS_RESERVE = 1024 * 1024  # room kept for findings.json and the redaction report
MIN_LOG_BYTES = 4 * 1024
STACK_START = ("Traceback (most recent call last)", "Exception in thread", "panic:", "goroutine ", "Caused by:")
STACK_CONTINUE = (" ", "\t", "Caused by:", "...")


@dataclass(frozen=True)
class Bounds:
    total_bytes: int = 50 * 1024 * 1024
    log_bytes: int = 256 * 1024
    tail_lines: int = 2000
    concurrency: int = 8
    deadline_seconds: float = 300.0
    healthy_tail_lines: int = 200  # containers with nothing wrong get a short tail, for comparison
    excerpt_head: int = 20
    excerpt_tail: int = 60


@dataclass(frozen=True)
class LogTask:
    pod: str
    container: str
    previous: bool
    crashed: bool
    suspect: bool

    def file_name(self) -> str:
        return f"logs/{self.pod}/{self.container}{'.previous' if self.previous else ''}.log"


@dataclass(frozen=True)
class Focus:
    workload: tuple[str, str] | None = None  # (plural, name)
    label_selector: str | None = None
    argocd_application: tuple[str, str] | None = None  # (namespace, name), read when RBAC allows


@dataclass
class Collected:
    findings: list[Finding]
    workload: dict[str, str] | None
    source_commit: str | None
    source_image: str | None
    source_from: str | None


def _timestamp(event: dict[str, Any]) -> datetime | None:
    for key in ("lastTimestamp", "eventTime", "firstTimestamp"):
        value = event.get(key)
        if value:
            return parse_timestamp(str(value))
    created = event.get("metadata", {}).get("creationTimestamp")
    return parse_timestamp(created) if created else None


def _selector_string(selector: dict[str, Any]) -> str:
    terms = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if operator == "In":
            terms.append(f"{key} in ({','.join(values)})")
        elif operator == "NotIn":
            terms.append(f"{key} notin ({','.join(values)})")
        elif operator == "Exists":
            terms.append(key)
        elif operator == "DoesNotExist":
            terms.append(f"!{key}")
    return ",".join(terms)


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


class Collector:
    def __init__(self, reader: KubeReader, staging: Staging, namespace: str, window: TimeWindow, bounds: Bounds,
                 focus: Focus) -> None:
        self.reader = reader
        self.staging = staging
        self.namespace = namespace
        self.window = window
        self.bounds = bounds
        self.focus = focus
        self._deadline = time.monotonic() + bounds.deadline_seconds
        self.rollouts: list[dict[str, Any]] = []

    def _remaining(self) -> float:
        return self._deadline - time.monotonic()

    def _read(self, what: str, read: Callable[[], T], default: T) -> T:
        """Run one read; a 403/404/failure becomes a gap and the default."""
        if self._remaining() <= 0:
            self.staging.gap(what, "timeout", "collection deadline reached before this was read")
            return default
        try:
            return read()
        except ReadForbidden as error:
            self.staging.gap(what, "forbidden", str(error))
        except NotFound as error:
            self.staging.gap(what, "not_found", str(error))
        except UpstreamError as error:
            self.staging.gap(what, "timeout" if "timed out" in str(error).lower() else "error", str(error))
        return default

    def _get(self, plural: str, name: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self._read(
            f"{plural}/{name}", lambda: self.reader.get(plural, self.namespace, name), None)
        return found

    def _list(self, plural: str, selector: str | None = None) -> list[dict[str, Any]]:
        return self._read(plural, lambda: self.reader.list(plural, self.namespace, label_selector=selector), [])

    def collect(self) -> Collected:
        self._check_access()
        workload_obj, selector = self._resolve_focus()
        pods = self._list("pods", selector)
        owners = self._owner_chain(pods, workload_obj)
        replicasets = [o for o in owners if o.get("kind") == "ReplicaSet"]
        workloads = [o for o in owners if o.get("kind") != "ReplicaSet"]
        chain_names = {o["metadata"]["name"] for o in owners} | {p["metadata"]["name"] for p in pods}
        events = self._events(chain_names if (workload_obj or selector) else None)
        services, endpoints = self._services(pods)
        configmaps = self._configmaps(pods)
        for plural in ("horizontalpodautoscalers", "poddisruptionbudgets", "resourcequotas", "limitranges"):
            self.staging.write_jsonl(f"objects/{plural}.jsonl", self._list(plural))
        self.staging.write_jsonl("objects/pods.jsonl", pods)
        self.staging.write_jsonl("objects/owners.jsonl", owners)
        self.staging.write_jsonl("objects/rollout-diffs.jsonl", self.rollouts)
        self.staging.write_jsonl("objects/events.jsonl", events)
        self.staging.write_jsonl("objects/services.jsonl", services)
        self.staging.write_jsonl("objects/endpoints.jsonl", endpoints)
        self.staging.write_json("objects/secret-references.json", secret_references(pods, events))
        warned = {e.get("involvedObject", {}).get("name") for e in events if e.get("type") == "Warning"}
        log_tails = self._logs(pods, warned)
        self._argocd_application()
        evidence = Evidence(pods, events, services, endpoints, configmaps, replicasets, workloads, log_tails,
                            self.rollouts)
        findings = detect(evidence)
        image, commit, found_in = self._source(pods, workloads, workload_obj)
        workload = None
        if workload_obj is not None:
            workload = {"kind": workload_obj["kind"], "name": workload_obj["metadata"]["name"]}
        return Collected(findings, workload, commit, image, found_in)

    def _argocd_application(self) -> None:
        """The app's Argo CD Application (sync, health, last operation), when asked and allowed."""
        if self.focus.argocd_application is None:
            return
        namespace, name = self.focus.argocd_application
        application: dict[str, Any] | None = self._read(
            f"applications/{name}", lambda: self.reader.get("applications", namespace, name), None)
        if application is None:
            return
        status = application.get("status", {})
        self.staging.write_json("objects/argocd-application.json", {
            "name": name, "namespace": namespace, "source": application.get("spec", {}).get("source"),
            "sync": status.get("sync"), "health": status.get("health"),
            "operationState": status.get("operationState"), "conditions": status.get("conditions", [])})

    def _check_access(self) -> None:
        try:
            self.reader.probe("pods", self.namespace)
        except ReadForbidden as error:
            raise Forbidden(f"the collector may not read pods in namespace {self.namespace}: {error}") from error

    def _resolve_focus(self) -> tuple[dict[str, Any] | None, str | None]:
        if self.focus.workload is not None:
            plural, name = self.focus.workload
            obj = self._get(plural, name)
            if obj is None:
                return None, self.focus.label_selector
            selector = obj.get("spec", {}).get("selector") or {}
            if plural == "pods":
                return obj, None
            return obj, _selector_string(selector) or self.focus.label_selector
        return None, self.focus.label_selector

    def _owner_chain(self, pods: list[dict[str, Any]], workload: dict[str, Any] | None) -> list[dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        pending = [ref for pod in pods for ref in pod["metadata"].get("ownerReferences", [])]
        if workload is not None and workload.get("kind") != "Pod":
            found[workload["metadata"]["uid"]] = workload
        while pending:
            ref = pending.pop()
            plural = KIND_TO_PLURAL.get(ref.get("kind", ""))
            if plural is None or ref.get("uid") in found:
                continue
            obj = self._get(plural, str(ref["name"]))
            if obj is not None:
                obj.setdefault("kind", ref["kind"])
                found[obj["metadata"]["uid"]] = obj
                pending.extend(obj["metadata"].get("ownerReferences", []))
        owners = list(found.values())
        self.rollouts = [self._rollout(d, owners) for d in owners if d.get("kind") == "Deployment"]
        return owners

    def _rollout(self, deployment: dict[str, Any], owners: list[dict[str, Any]]) -> dict[str, Any]:
        """The deployment's ReplicaSets join the owners; returns what changed in its last rollout."""
        selector = _selector_string(deployment.get("spec", {}).get("selector") or {})
        uid = deployment["metadata"]["uid"]
        sets = [rs for rs in self._list("replicasets", selector)
                if any(o.get("uid") == uid for o in rs["metadata"].get("ownerReferences", []))]
        known = {o["metadata"]["uid"] for o in owners}
        for rs in sets:
            rs.setdefault("kind", "ReplicaSet")
            if rs["metadata"]["uid"] not in known:
                owners.append(rs)

        def revision(rs: dict[str, Any]) -> int:
            return int(rs["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision", 0))

        ordered = sorted(sets, key=revision, reverse=True)
        return {"deployment": deployment["metadata"]["name"],
                "current": ordered[0]["metadata"]["name"] if ordered else None,
                "previous": ordered[1]["metadata"]["name"] if len(ordered) > 1 else None,
                "changes": self._redacted_diff(ordered[0], ordered[1]) if len(ordered) > 1 else []}

    def _redacted_diff(self, current: dict[str, Any], previous: dict[str, Any]) -> list[dict[str, Any]]:
        """The diff of the two templates as each is written (redacted), so no value leaves in clear."""
        where = "objects/rollout-diffs.jsonl"
        scrub = self.staging.redactor.scrub_object
        return template_diff(scrub(current, where), scrub(previous, where))

    def _events(self, names: set[str] | None) -> list[dict[str, Any]]:
        events = [e for e in self._list("events") if self.window.contains(_timestamp(e))
                  and (names is None or e.get("involvedObject", {}).get("name") in names)]
        return sorted(events, key=lambda e: _timestamp(e) or self.window.start)

    def _services(self, pods: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        services = self._list("services")
        focused = self.focus.workload is not None or self.focus.label_selector is not None
        if focused:
            labels = [p["metadata"].get("labels", {}) for p in pods]
            services = [s for s in services if (sel := s.get("spec", {}).get("selector"))
                        and any(all(lab.get(k) == v for k, v in sel.items()) for lab in labels)]
        names = {s["metadata"]["name"] for s in services}
        endpoints = [e for e in self._list("endpoints") if e["metadata"]["name"] in names]
        slices = [s for s in self._list("endpointslices")
                  if s["metadata"].get("labels", {}).get("kubernetes.io/service-name") in names]
        self.staging.write_jsonl("objects/endpointslices.jsonl", slices)
        return services, endpoints

    def _configmaps(self, pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Names and keys of every ConfigMap; values only of those the pods reference, redacted."""
        referenced = configmap_references(pods)
        summary = []
        for configmap in self._list("configmaps"):
            name = configmap["metadata"]["name"]
            data = configmap.get("data") or {}
            entry: dict[str, Any] = {"name": name, "keys": sorted(data) + sorted(configmap.get("binaryData") or {})}
            if name in referenced:
                entry["data"] = {key: self.staging.redactor.redact_env_value(key, str(value), "objects/configmaps.json")
                                 for key, value in data.items()}
            summary.append(entry)
        self.staging.write_json("objects/configmaps.json", {"configmaps": summary, "referenced": sorted(referenced)})
        return summary

    def _logs(self, pods: list[dict[str, Any]], warned: set[str]
              ) -> dict[tuple[str, str, bool], tuple[str, list[str], int]]:
        """Every container's log; suspects (anything wrong with them) get the budget, the healthy a short tail."""
        tasks: list[LogTask] = []
        for pod in pods:
            pod_name = pod["metadata"]["name"]
            statuses = {s["name"]: s for key in ("initContainerStatuses", "containerStatuses")
                        for s in pod.get("status", {}).get(key, [])}
            pod_ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                            for c in pod.get("status", {}).get("conditions", []))
            for container in [*pod["spec"].get("initContainers", []), *pod["spec"].get("containers", [])]:
                status = statuses.get(container["name"], {})
                restarted = status.get("restartCount", 0) > 0 or bool(status.get("lastState", {}).get("terminated"))
                waiting = status.get("state", {}).get("waiting", {}).get("reason", "")
                terminated = status.get("state", {}).get("terminated", {})
                crashed = restarted or waiting == "CrashLoopBackOff" or terminated.get("exitCode", 0) != 0
                suspect = crashed or bool(waiting) or not status.get("ready", True) or not pod_ready \
                    or pod_name in warned
                tasks.append(LogTask(pod_name, container["name"], False, crashed, suspect))
                if restarted:
                    tasks.append(LogTask(pod_name, container["name"], True, crashed, suspect))
        suspects = [t for t in tasks if t.suspect]
        healthy = [t for t in tasks if not t.suspect]
        # Budget: healthy tails are small and bounded; suspects share what is left, fairly, so a large
        # namespace still yields every suspect container's tail rather than all of a few.
        available = self.staging.available() - FINDINGS_RESERVE
        healthy_grant = max(min(self.bounds.log_bytes // 8, available // max(4 * len(tasks), 1)), MIN_LOG_BYTES)
        suspect_grant = max(min(self.bounds.log_bytes, (available - healthy_grant * len(healthy))
                                // max(len(suspects), 1)), MIN_LOG_BYTES)
        tails: dict[tuple[str, str, bool], tuple[str, list[str], int]] = {}
        with ThreadPoolExecutor(max_workers=self.bounds.concurrency, thread_name_prefix="logs") as pool:
            futures = {pool.submit(self._one_log, task, suspect_grant if task.suspect else healthy_grant): task
                       for task in suspects + healthy}
            done, not_done = wait(futures, timeout=max(self._remaining(), 0), return_when=FIRST_EXCEPTION)
            if not_done and self._remaining() > 0:  # an exception: let the rest finish within the deadline
                more, not_done = wait(not_done, timeout=max(self._remaining(), 0))
                done |= more
            for future in not_done:
                future.cancel()
                task = futures[future]
                self.staging.gap(task.file_name(), "timeout", "collection deadline reached")
            for future in done:
                result = future.result()
                if result is not None:
                    tails[result[0]] = result[1]
        return tails

    def _one_log(self, task: LogTask, grant: int
                 ) -> tuple[tuple[str, str, bool], tuple[str, list[str], int]] | None:
        pod, container, previous, crashed = task.pod, task.container, task.previous, task.crashed
        name = task.file_name()
        granted = self.staging.reserve(grant)
        if granted == 0:
            self.staging.gap(name, "budget_exhausted", "snapshot byte budget spent before this log")
            return None
        tail_lines = self.bounds.tail_lines if task.suspect else min(self.bounds.healthy_tail_lines,
                                                                     self.bounds.tail_lines)
        try:
            chunks = self.reader.stream_log(
                self.namespace, pod, container, previous=previous,
                since_time=self.window.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                tail_lines=tail_lines, limit_bytes=granted,
                timeout=max(min(self._remaining(), 60.0), 1.0))
            result = self.staging.write_stream(name, _blocks(chunks), granted, keep=self.bounds.excerpt_tail)
        except (ReadForbidden, NotFound, UpstreamError) as error:
            self.staging.refund(granted)
            reason = "forbidden" if isinstance(error, ReadForbidden) else (
                "not_found" if isinstance(error, NotFound) else "error")
            self.staging.gap(name, reason, str(error))
            return None
        self.staging.refund(granted - result.bytes_written)
        # The API does not say when it cut; a full tailLines or limitBytes worth of log means it probably did.
        if result.cut or result.bytes_written >= granted or result.lines >= tail_lines:
            self.staging.gap(name, "truncated", f"kept {result.bytes_written} bytes (limitBytes {granted}, "
                                                f"tailLines {tail_lines})")
        if crashed:
            lines = self.staging.path(name).read_text(encoding="utf-8").splitlines(keepends=True)
            self._excerpt(pod, container, previous, lines)
        first = max(result.lines - len(result.tail), 0) + 1
        return (pod, container, previous), (name, result.tail, first)

    def _excerpt(self, pod: str, container: str, previous: bool, lines: list[str]) -> None:
        head, tail = self.bounds.excerpt_head, self.bounds.excerpt_tail
        parts = ["== head ==\n", *lines[:head]]
        if len(lines) > head:
            parts += ["== tail ==\n", *lines[max(head, len(lines) - tail):]]
        traces = stack_traces(lines)
        for number, trace in enumerate(traces, 1):
            parts += [f"== stack trace {number} ==\n", *trace]
        suffix = ".previous" if previous else ""
        self.staging.write_text(f"logs/{pod}/{container}{suffix}.excerpt.txt", "".join(parts))

    def _source(self, pods: list[dict[str, Any]], workloads: list[dict[str, Any]],
                focused: dict[str, Any] | None) -> tuple[str | None, str | None, str | None]:
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


def _blocks(chunks: Iterator[bytes]) -> Iterator[str]:
    """Decode a byte stream into blocks of complete lines (the last one newline-terminated too)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    for chunk in chunks:
        pending += decoder.decode(chunk)
        cut = pending.rfind("\n") + 1
        if cut:
            yield pending[:cut]
            pending = pending[cut:]
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending + "\n"


EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.$]*(?:Error|Exception|Panic)\b")
GO_FRAME = re.compile(r"^[\w./*()-]+\(.*\)$")


def _without_timestamp(line: str) -> str:
    """Log lines carry the API's RFC 3339 timestamp first (timestamps=true)."""
    stamp, sep, rest = line.partition(" ")
    return rest if sep and stamp[:4].isdigit() and "T" in stamp else line


def stack_traces(lines: list[str], limit: int = 5, max_lines: int = 80) -> list[list[str]]:
    """Multi-line stack-trace blocks (Python, Java, Go, Node) found in log lines.

    A block starts at a known first line and goes on while lines are indented frames,
    'Caused by:' chains, Go frames or the final 'SomethingError: message' line.
    """
    traces: list[list[str]] = []
    current: list[str] | None = None
    for line in lines:
        text = _without_timestamp(line)
        if text.startswith(STACK_START):
            if current:
                traces.append(current)
            current = [line]
        elif current is not None and len(current) < max_lines and (
                text.startswith(STACK_CONTINUE) or EXCEPTION_LINE.match(text) or GO_FRAME.match(text.strip())):
            current.append(line)
        elif current is not None:
            traces.append(current)
            current = None
        if len(traces) >= limit:
            return traces
    if current:
        traces.append(current)
    return traces[:limit]


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
