"""Collect the evidence of one incident from one namespace, bounded, redacted and complete.

The traversal: access, focus, pods, their owners and rollouts, events, services, ConfigMaps,
then the logs (container_logs). Every list is read page by page within one wall-clock
deadline and one byte budget; whatever could not be read (403, 404, 5xx after retries,
deadline, truncation, budget) becomes a gap in the manifest, never silence, and a section
that was not read completely is never taken as empty by the detectors.

This module is the traversal; the rest is elsewhere: the budget (`bounds`), the logs
(`container_logs`, `stack_traces`), events (`events`), ConfigMap and Secret references
(`references`), rollout diffs (`rollouts`), the source commit (`source_commit`), the
findings (`detectors`) and the written files (`staging`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Generator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from evidence_collector.bounds import Bounds
from evidence_collector.container_logs import LogBounds, LogReader, LogTail, LogTask, plan
from evidence_collector.detectors import Evidence, Finding, detect
from evidence_collector.detectors.crashes import read_tail
from evidence_collector.events import EventSpool
from evidence_collector.findings import TailReading
from evidence_collector.opening import OWNER_LISTS, OWNER_PAGE_SIZE, PAGE_SIZE, Ahead, Focus, Opening
from evidence_collector.references import configmap_references, secret_references
from evidence_collector.rollouts import template_diff
from evidence_collector.shapes import DNS_SUBDOMAIN_NAME, conform
from evidence_collector.source_commit import replicaset_commit, workload_source
from evidence_collector.staging import Staging
from evidence_collector.window import TimeWindow
from pathops_contracts.errors import Forbidden, UpstreamError
from pathops_runtime.kube_reader import (
    KIND_TO_PLURAL,
    ByteAllowance,
    DeadlineReached,
    KubeReader,
    ListCut,
    NotFound,
    PageTooLarge,
    ReadForbidden,
    page_items,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
U = TypeVar("U")

CONFIGMAP_PAGE_SIZE = 50  # ConfigMaps can be large (up to 1 MiB each): fewer per page
# Keys listed of a ConfigMap no pod references, and of all of those together (a referenced one's are all
# listed): ten thousand keys in each of a hundred ConfigMaps held 2 million strings until written.
CONFIGMAP_KEYS_LISTED = 200
CONFIGMAP_KEYS_TOTAL = 20_000
CONFIGMAPS_LISTED = 10_000  # ConfigMaps summarised at most: the list is read no further (a gap says so)
# Items of a list held whole until written (Services, Endpoints, EndpointSlices, HPAs, PDBs, quotas, limit ranges),
# at most; Kubernetes is tested to 5,000 Services a namespace. 16,000 Services of 200 bytes fitted their bytes, each
# judged against every pod and Endpoints object; with as many Endpoints, EndpointSlices and HPAs, 142 MB.
LISTED_WHOLE = 5_000
# Events read at most: an index entry each is held (EventSpool). Twice the budget in answers was 486,000 events of
# 200 bytes, 147 MB; an event lives an hour, a namespace's are tens of thousands.
EVENTS_LISTED = 200_000
KEPT_ANNOTATION = 256  # characters of a pod annotation's value kept in memory (all are written)
# Of a referenced ConfigMap's values, the head of each (redacted first, then cut): a pod mounting fifty Grafana
# dashboards of 900 KB each held 45 MB of values, and 373 MB peak while they were written.
CONFIGMAP_VALUE_KEPT = 4096
MALFORMED_EXAMPLES = 5  # of each kind, named in its gap
# Links followed from a pod through ownerReferences: pod -> ReplicaSet -> Deployment and pod -> Job -> CronJob are
# two. An API whose every owner is owned by another it makes up was asked until the deadline (1,389 MB in 30 s).
OWNER_GENERATIONS = 4


@dataclass
class Collected:
    findings: list[Finding]
    workload: dict[str, str] | None
    source_commit: str | None
    source_image: str | None
    source_from: str | None
    notes: list[str] = field(default_factory=list)  # what the summary must say before any finding


def _slim(obj: dict[str, Any]) -> dict[str, Any]:
    """An object as kept in memory: without managedFields, which no detector reads."""
    obj.get("metadata", {}).pop("managedFields", None)
    return obj


def _slim_pod(pod: dict[str, Any]) -> dict[str, Any]:
    """A pod as kept in memory once written to pods.jsonl: without what no detector reads and thousands of
    pods would hold (2,000 pods with 40 KiB of annotations each were 190 MB): long annotation values (a
    commit is at most 64 characters) and plain env values (only references to ConfigMaps and Secrets are read)."""
    _slim(pod)
    metadata = pod["metadata"]
    annotations = metadata.get("annotations")
    if annotations:
        metadata["annotations"] = {key: value for key, value in annotations.items()
                                   if not isinstance(value, str) or len(value) <= KEPT_ANNOTATION}
    spec = pod.get("spec") or {}
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            if isinstance(container, dict) and container.get("env"):
                container["env"] = [env for env in container["env"] if isinstance(env, dict) and "valueFrom" in env]
    return pod


class OwnersAsked:
    """The owners asked for by GET, from the threads of `_fetch_owners`: until their answers reach `cap` bytes
    (`Bounds.list_bytes("owners")`); the ownerReferences past it are counted, by kind, not followed."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.read = 0  # bytes of the answers
        self.objects = 0
        self.skipped: dict[str, int] = {}  # plural -> ownerReferences not followed
        self._lock = threading.Lock()

    def may_ask(self, plural: str) -> bool:
        with self._lock:
            if self.read < self.cap:
                return True
            self.skipped[plural] = self.skipped.get(plural, 0) + 1
            return False

    def answered(self, size: int) -> None:
        with self._lock:
            self.read += size
            self.objects += 1


def _ready_only(endpoints: dict[str, Any]) -> dict[str, Any]:
    """Endpoints as held once written: their name and, of each subset, as many (empty) addresses as are ready
    (what detect_service_problems counts)."""
    ready: dict[str, Any] = {}  # one dict for all: a list of n references to it is what len() needs
    return {"metadata": {"name": endpoints["metadata"]["name"]},
            "subsets": [{"addresses": [ready] * len(subset.get("addresses") or [])}
                        for subset in endpoints.get("subsets") or [] if isinstance(subset, dict)]}


def _revision(replicaset: dict[str, Any]) -> int:
    return int(replicaset["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision", 0))


def _json_bytes(obj: Any) -> int:
    """About the bytes of `obj` in an answer (what memory held of it is counted in)."""
    return len(json.dumps(obj, separators=(",", ":")))


def _history_only(replicaset: dict[str, Any]) -> int:
    """An old ReplicaSet as rollout history: of its pod template, its containers' and init containers' names
    and images (what image-rollback reads: a migration image whose tag is missing is rolled back too); a
    Deployment keeps ten of them, each with the whole template. Returns about the bytes no longer held."""
    spec = replicaset.get("spec") or {}
    template = spec.get("template")
    if not isinstance(template, dict):
        return 0
    pod_spec = template.get("spec") or {}
    spec["template"] = {"spec": {key: [{"name": c.get("name"), "image": c.get("image")}
                                       for c in pod_spec.get(key) or [] if isinstance(c, dict)]
                                 for key in ("initContainers", "containers") if pod_spec.get(key)}}
    return _json_bytes(template) - _json_bytes(spec["template"])


def _owner_key(ref: dict[str, Any]) -> tuple[str, str, str] | None:
    """(plural, name, uid) of an ownerReference this collector follows; None for a kind it does not read."""
    plural = KIND_TO_PLURAL.get(ref.get("kind", ""))
    return None if plural is None else (plural, str(ref.get("name")), str(ref.get("uid")))


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



def services_near(services: list[dict[str, Any]], pods: list[dict[str, Any]], chosen: str | None
                  ) -> list[dict[str, Any]]:
    """Of a focused collection: the Services that select the pods, the one the focus names (`chosen`), and
    those one label value off the pods' labels (a Service that selects no pod because of a typo is what the
    incident is about)."""
    labels = [p["metadata"].get("labels", {}) for p in pods]
    return [s for s in services if s["metadata"]["name"] == chosen or (
        (sel := s.get("spec", {}).get("selector"))
        and any(sum(lab.get(k) != v for k, v in sel.items()) <= 1 and all(k in lab for k in sel) for lab in labels))]


class Collector:
    def __init__(self, reader: KubeReader, staging: Staging, namespace: str, window: TimeWindow, bounds: Bounds,
                 focus: Focus, opening: Opening) -> None:
        """`opening`: the first requests, begun by the caller (Opening.begin with `read_ahead(focus)`) as soon
        as the API was known; its deadline is the collection's."""
        self.reader = reader
        self.staging = staging
        self.namespace = namespace
        self.window = window
        self.bounds = bounds
        self.focus = focus
        self._opening = opening
        self._deadline = self._opening.deadline  # on the reader too: no request, retry or log stream outlives it
        self.rollouts: list[dict[str, Any]] = []
        self.evidence: Evidence | None = None  # what the detectors read, once the collection is done
        self.history_only = 0  # old ReplicaSets kept as rollout history only (`_history_only`)
        self._history_lock = threading.Lock()
        self.unread: set[str] = set()  # sections not read completely
        self.kept_lines: dict[str, int] = {}
        self.notes: list[str] = []
        self.namespace_exists: bool | None = None
        self._ahead: dict[Ahead, Future[bytes]] = {}  # (plural, selector) -> its first page, requested ahead
        self._namespace_check: Future[bool | None] | None = None
        self._wholes: dict[str, dict[str, dict[str, Any]] | None] = {}  # plural -> its items by uid, if read whole
        # plural -> (how many of its objects were malformed, what was left out of the first few): a hostile API
        # may send any number, and the owner chain is read from threads.
        self._malformed: dict[str, tuple[int, list[str]]] = {}
        self._malformed_lock = threading.Lock()
        self.repaired: set[str] = set()  # uids of the objects kept without what was malformed in them

    def _remaining(self) -> float:
        return self._deadline - time.monotonic()

    def _failed(self, what: str, error: Exception) -> None:
        """Record why `what` could not be read as a gap."""
        if isinstance(error, ReadForbidden):
            self.staging.gap(what, "forbidden", str(error))
        elif isinstance(error, NotFound):
            self.staging.gap(what, "not_found", str(error))
        elif isinstance(error, DeadlineReached) or "timed out" in str(error).lower():
            self.staging.gap(what, "timeout", str(error))
        else:
            self.staging.gap(what, "error", str(error))

    def _read(self, what: str, read: Callable[[], T], default: T) -> T:
        """Run one read; a 403/404/failure becomes a gap and the default."""
        try:
            return read()
        except (ReadForbidden, NotFound, UpstreamError) as error:
            self._failed(what, error)
        return default

    def _get(self, plural: str, name: str, namespace: str | None = None, asked: OwnersAsked | None = None
             ) -> dict[str, Any] | None:
        """One object, asked for; `asked`: counted among the owners' answers."""
        def read() -> dict[str, Any]:
            found, size = self.reader.get_sized(plural, namespace or self.namespace, name)
            if asked is not None:
                asked.answered(size)
            return found

        found: dict[str, Any] | None = self._read(f"{plural}/{name}", read, None)
        if found is None:
            return None
        kept = self._conformed(plural, [found])
        return kept[0] if kept else None

    def _conformed(self, plural: str, items: list[Any]) -> list[dict[str, Any]]:
        """The items with the shape the collector reads (`shapes`): a malformed one without what is wrong, or
        left out; either is remembered for the kind's gap, and the kind counts as not read completely."""
        kept: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            obj, problems = conform(plural, item)
            if problems:
                name = item["metadata"].get("name") if isinstance(item, dict) and isinstance(
                    item.get("metadata"), dict) else None
                who = f"{plural}/{name}" if isinstance(name, str) and DNS_SUBDOMAIN_NAME.match(name) else \
                    f"item {index} of a page of {plural}"
                with self._malformed_lock:
                    count, examples = self._malformed.get(plural, (0, []))
                    if len(examples) < MALFORMED_EXAMPLES:
                        examples.append(f"{who}{'' if obj is not None else ' (left out whole)'}: "
                                        f"{'; '.join(problems[:3])}")
                    self._malformed[plural] = (count + 1, examples)
                    if obj is not None:
                        self.repaired.add(str(obj["metadata"]["uid"]))
                self.unread.add(plural)
            if obj is not None:
                kept.append(obj)
        return kept

    def _pages(self, plural: str, selector: str | None = None, page_size: int = PAGE_SIZE,
               shared: ByteAllowance | None = None, max_items: int | None = None
               ) -> Generator[list[dict[str, Any]], None, None]:
        """The list page by page; a failure ends it with a gap and marks the section unread, as does a list
        longer than is read of it (`Bounds.list_bytes`): then what was read is kept, the rest not asked for.
        `shared`: the bytes it shares with lists read at once; the caller says in one gap how many were cut."""
        count = 0
        # The first page requested ahead (Opening), kept unparsed until here; errors come with it. It may be
        # smaller than the pages after it (ConfigMaps'): the next ones continue from it, `page_size` each.
        ahead = self._ahead.pop((plural, selector), None)
        try:
            first, start_size = None, None
            if ahead is not None:
                try:
                    first = ahead.result()
                except PageTooLarge as error:  # asked again, with fewer items
                    start_size = error.fewer()
            for page in self.reader.pages(plural, self.namespace, label_selector=selector, page_size=page_size,
                                          first=first, start_size=start_size,
                                          max_bytes=self.bounds.list_bytes(plural) if shared is None else shared,
                                          max_items=max_items):
                count += len(page)
                yield self._conformed(plural, page)
        except ListCut as cut:
            self.unread.add(plural)
            if shared is None:
                self.staging.gap(plural, "truncated", str(cut))
        except (ReadForbidden, NotFound, UpstreamError) as error:
            self.unread.add(plural)
            self._failed(plural, UpstreamError(f"{error} (after {count} items)") if count and isinstance(
                error, UpstreamError) and not isinstance(error, DeadlineReached) else error)

    def _whole(self, plural: str) -> dict[str, dict[str, Any]] | None:
        """The namespace's `plural` by uid, when its first page read ahead held the whole list; else None
        (the caller then asks for what it needs, and a failure is recorded there, as a gap)."""
        if plural not in self._wholes:
            ahead = self._ahead.pop((plural, None), None)
            items: dict[str, dict[str, Any]] | None = None
            if ahead is not None:
                try:
                    found, more = page_items(ahead.result(), plural)
                except (ReadForbidden, NotFound, UpstreamError):
                    found, more = [], "unread"
                if not more:
                    items = {str(item["metadata"]["uid"]): _slim(item) for item in self._conformed(plural, found)
                             if item["metadata"].get("uid")}
            self._wholes[plural] = items
        return self._wholes[plural]

    def _owner(self, plural: str, ref: dict[str, Any], asked: OwnersAsked) -> dict[str, Any] | None:
        """The object an ownerReference names: from its list read whole when it is there, else asked for while
        the owners' answers are within their bytes (held without managedFields, as the listed ones are)."""
        whole = self._whole(plural) if plural in OWNER_LISTS else None
        if whole is not None and str(ref.get("uid")) in whole:
            return whole[str(ref.get("uid"))]
        if not asked.may_ask(plural):
            return None
        found = self._get(plural, str(ref["name"]), asked=asked)
        return None if found is None else _slim(found)

    def _list(self, plural: str, selector: str | None = None, shared: ByteAllowance | None = None,
              page_size: int = PAGE_SIZE) -> list[dict[str, Any]]:
        """The list held whole until written (LISTED_WHOLE items at most), or, `shared`, with lists read at once."""
        return [_slim(item) for page in self._pages(plural, selector, page_size, shared,
                                                    LISTED_WHOLE if shared is None else None) for item in page]

    def _write(self, name: str, objects: list[dict[str, Any]]) -> None:
        self.kept_lines[name] = self.staging.write_jsonl(name, objects, cap=self.bounds.section_cap(name))

    def collect(self) -> Collected:
        try:
            return self._collect()
        finally:
            self._opening.cancel()  # what is left unread (a run that failed) is not sent
            for ahead in self._ahead.values():
                ahead.cancel()
            if self._namespace_check is not None:
                self._namespace_check.cancel()

    def _collect(self) -> Collected:
        self._check_access()
        workload_obj, selector = self._resolve_focus()
        pods = self._pods(selector)
        owners = self._owner_chain(pods, workload_obj)
        replicasets = [o for o in owners if o.get("kind") == "ReplicaSet"]
        workloads = [o for o in owners if o.get("kind") != "ReplicaSet"]
        chain_names = {o["metadata"]["name"] for o in owners} | {p["metadata"]["name"] for p in pods}
        events = self._events(chain_names if (workload_obj or selector) else None)
        services, endpoints = self._services(pods)
        configmaps = self._configmaps(pods)
        for plural in ("horizontalpodautoscalers", "poddisruptionbudgets", "resourcequotas", "limitranges"):
            self._write(f"objects/{plural}.jsonl", self._list(plural))
        self._write("objects/owners.jsonl", owners)
        if self.history_only:
            self.staging.gap("objects/owners.jsonl", "truncated",
                             f"{self.history_only} older ReplicaSet(s) running no pod keep of their pod template "
                             f"only the containers' names and images")
        self._write("objects/rollout-diffs.jsonl", self.rollouts)
        self._write("objects/services.jsonl", services)
        self.staging.write_json("objects/secret-references.json", secret_references(pods, events))
        warned = {e.get("involvedObject", {}).get("name") for e in events if e.get("type") == "Warning"}
        bounds = self.bounds
        log_bounds = LogBounds(bounds.log_bytes, bounds.tail_lines, bounds.healthy_tail_lines, bounds.excerpt_head,
                               bounds.excerpt_tail, bounds.concurrency, bounds.stream_seconds)
        tail_readings: dict[tuple[str, str, bool], TailReading | None] = {}

        def read_crashed(task: LogTask, tail: LogTail) -> None:
            tail_readings[(task.pod, task.container, task.previous)] = read_tail(tail)

        log_tails = LogReader(self.reader, self.staging, self.namespace, self.window, log_bounds,
                              self._deadline).read_all(plan(pods, warned), read_crashed)
        self._argocd_application()
        self._check_namespace()
        for plural, (count, examples) in self._malformed.items():
            self.staging.gap(plural, "error", f"the API sent {count} malformed object(s), read without what "
                                              f"was wrong: {' | '.join(examples)}")
        self._take_notes(pods, events, services, configmaps)
        evidence = Evidence(pods, events, services, endpoints, configmaps, replicasets, workloads, log_tails,
                            self.rollouts, frozenset(self.unread), dict(self.kept_lines), frozenset(self.repaired),
                            tail_readings)
        self.evidence = evidence  # what the CLI leaves to the process's exit (`left_to_exit`), not freed here
        findings = detect(evidence)
        image, commit, found_in = workload_source(pods, workloads, workload_obj)
        workload = None
        if workload_obj is not None:
            workload = {"kind": workload_obj["kind"], "name": workload_obj["metadata"]["name"]}
        return Collected(findings, workload, commit, image, found_in, self.notes)

    def _take_notes(self, pods: list[dict[str, Any]], events: list[dict[str, Any]],
                    services: list[dict[str, Any]], configmaps: list[dict[str, Any]]) -> None:
        """What the summary must say: a missing or empty namespace, sections not read, the deadline."""
        if self.namespace_exists is False:
            self.notes.append(f"namespace {self.namespace} does not exist (check TARGET_NAMESPACE)")
        elif not (pods or events or services or configmaps) and not self.unread:
            self.notes.append(f"namespace {self.namespace} is empty or does not exist: no pod, event, service "
                              f"or ConfigMap was found in it")
        if self.unread:
            self.notes.append(f"not read completely (see the gaps): {', '.join(sorted(self.unread))}")
        if self._remaining() <= 0:
            self.notes.append("the collection deadline was reached: the snapshot is partial")

    def _argocd_application(self) -> None:
        """The app's Argo CD Application (sync, health, last operation), when asked and allowed."""
        if self.focus.argocd_application is None:
            return
        namespace, name = self.focus.argocd_application
        application = self._get("applications", name, namespace)
        if application is None:
            return
        status = application.get("status", {})
        self.staging.write_json("objects/argocd-application.json", {
            "name": name, "namespace": namespace, "source": application.get("spec", {}).get("source"),
            "sync": status.get("sync"), "health": status.get("health"),
            "operationState": status.get("operationState"), "conditions": status.get("conditions", [])})

    def _check_access(self) -> None:
        """RBAC refusing pods fails the run (exit 6); any other failure is a gap and the run goes on.

        The probe was sent by the Opening, and after it the first pages read ahead (kept unparsed, one page
        each: memory stays bounded; `_pages` takes them over) and whether the namespace exists (its answer
        is needed only for the notes, once the rest is read: `_check_namespace`).
        """
        try:
            self._opening.probe.result()
        except ReadForbidden as error:
            raise Forbidden(f"the collector may not read pods in namespace {self.namespace}: {error}") from error
        except NotFound as error:
            self.namespace_exists = False
            self.staging.gap(f"namespaces/{self.namespace}", "not_found", str(error))
            return
        except UpstreamError as error:
            self._failed("access probe (pods)", error)
        # Taken over, not shared: a page popped once read is let go, not held until the run ends.
        self._ahead, self._namespace_check = self._opening.take()

    def _check_namespace(self) -> None:
        """Whether the namespace exists, as the API answered the question asked ahead."""
        check, self._namespace_check = self._namespace_check, None
        if check is None:
            return
        try:
            self.namespace_exists = check.result()
        except UpstreamError:
            self.namespace_exists = None  # unknown; an empty namespace is still reported by _take_notes
        if self.namespace_exists is False:
            self.staging.gap(f"namespaces/{self.namespace}", "not_found", "the API has no such namespace")

    def _resolve_focus(self) -> tuple[dict[str, Any] | None, str | None]:
        if self.focus.workload is not None:
            plural, name = self.focus.workload
            if plural == "services":  # its selector may be what is broken: the pods it should front are read whole
                self.notes.append(f"focused on service/{name}: the namespace's pods are read to find those it fronts")
                return None, self.focus.label_selector
            obj = self._get(plural, name)
            if obj is not None:  # a GET names the kind; an API that does not is taken at its word on the plural
                obj.setdefault("kind", next(k for k, p in KIND_TO_PLURAL.items() if p == plural))
            if obj is None:
                self.notes.append(f"{plural}/{name} could not be read (see the gaps): the namespace is read whole")
                return None, self.focus.label_selector
            selector = obj.get("spec", {}).get("selector") or {}
            if plural == "pods":
                return obj, None
            return obj, _selector_string(selector) or self.focus.label_selector
        return None, self.focus.label_selector

    def _owner_chain(self, pods: list[dict[str, Any]], workload: dict[str, Any] | None) -> list[dict[str, Any]]:
        fetched = self._fetch_owners(pods, workload)
        found: dict[str, dict[str, Any]] = {}
        pending = [ref for pod in pods for ref in pod["metadata"].get("ownerReferences", [])]
        if workload is not None and workload.get("kind") != "Pod":
            found[workload["metadata"]["uid"]] = workload
        while pending:
            ref = pending.pop()
            key = _owner_key(ref)
            if key is None or ref.get("uid") in found:
                continue
            obj = fetched.get(key)
            if obj is not None:
                obj.setdefault("kind", ref["kind"])
                found[obj["metadata"]["uid"]] = obj
                pending.extend(obj["metadata"].get("ownerReferences", []))
        owners = list(found.values())
        deployments = [d for d in owners if d.get("kind") == "Deployment"]
        known = frozenset(o["metadata"]["uid"] for o in owners)
        # Listed at once, all held until written: the bytes of their answers still held are shared (each list
        # had them, eight at once, each held whole); what the older ReplicaSets' history leaves out is given back.
        # Answers of at most an eighth of them each: eight lists are read at once, each page with room for it.
        total = self.bounds.list_bytes("replicasets")
        shared = ByteAllowance(total, page_bytes=total // max(self.bounds.concurrency, 1))
        replicasets = self._concurrently(partial(self._replicasets_of, known=known, shared=shared), deployments)
        if shared.cut:
            self.staging.gap("replicasets", "truncated",
                             f"the Deployments' ReplicaSets were read no further than {shared.spent / 1e6:.1f} MB of "
                             f"answers: {shared.cut} of {len(deployments)} Deployments' lists cut or not read")
        self.rollouts = [self._rollout(d, sets, owners) for d, sets in zip(deployments, replicasets, strict=True)]
        return owners

    def _fetch_owners(self, pods: list[dict[str, Any]], workload: dict[str, Any] | None
                      ) -> dict[tuple[str, str, str], dict[str, Any] | None]:
        """Every object the pods' ownerReferences lead to, each asked for once (a refused or missing one is one
        gap, not one per pod), a generation at a time: a generation's requests at once."""
        for plural in OWNER_LISTS:
            self._whole(plural)  # read here, before the threads that read the answers
        known = {workload["metadata"]["uid"]} if workload is not None and workload.get("kind") != "Pod" else set()
        fetched: dict[tuple[str, str, str], dict[str, Any] | None] = {}
        generation = [ref for pod in pods for ref in pod["metadata"].get("ownerReferences", [])]
        asked = OwnersAsked(self.bounds.list_bytes("owners"))
        links = 0
        while generation:
            if any((whole := self._wholes.get(listed or "")) is not None and str(ref.get("uid")) not in whole
                   for ref in generation if (listed := KIND_TO_PLURAL.get(ref.get("kind", ""))) in OWNER_LISTS):
                # An owner missing from its page read ahead: the pages are older than the pods (a rollout under
                # way changed the Deployment too). None of them is trusted: each owner is asked for, and the
                # Deployments' ReplicaSets listed, after the pods.
                self._wholes.update(dict.fromkeys(OWNER_LISTS))
            wanted: dict[tuple[str, str, str], dict[str, Any]] = {}
            for ref in generation:
                key = _owner_key(ref)
                if key is not None and key not in fetched and ref.get("uid") not in known:
                    wanted.setdefault(key, ref)
            if wanted and links == OWNER_GENERATIONS:  # a chain no controller makes: the API's, not followed
                self.unread.update(plural for plural, _, _ in wanted)
                self.staging.gap("objects/owners.jsonl", "truncated",
                                 f"ownerReferences followed {OWNER_GENERATIONS} links from the pods and no further: "
                                 f"{len(wanted)} owner(s) past them not asked for")
                break
            links += 1
            answers = self._concurrently(partial(self._owner_of, asked=asked), list(wanted.items()))
            fetched.update(zip(wanted, answers, strict=True))
            generation = [ref for obj in answers if obj is not None
                          for ref in obj["metadata"].get("ownerReferences", [])]
        if asked.skipped:
            self.unread.update(asked.skipped)
            self.staging.gap("objects/owners.jsonl", "truncated",
                             f"owners asked for no further than {asked.objects} objects ({asked.read / 1e6:.1f} MB "
                             f"of answers): {sum(asked.skipped.values())} ownerReference(s) not followed")
        return fetched

    def _owner_of(self, wanted: tuple[tuple[str, str, str], dict[str, Any]], asked: OwnersAsked
                  ) -> dict[str, Any] | None:
        (plural, _, _), ref = wanted
        return self._owner(plural, ref, asked)

    def _concurrently(self, read: Callable[[T], U], items: list[T]) -> list[U]:
        """read(item) for each item, `concurrency` at a time; the answers in the items' order."""
        if len(items) <= 1:
            return [read(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(len(items), max(self.bounds.concurrency, 1)),
                                thread_name_prefix="owners") as pool:
            return list(pool.map(read, items))

    def _replicasets_of(self, deployment: dict[str, Any], known: frozenset[str], shared: ByteAllowance
                        ) -> list[dict[str, Any]]:
        """The ReplicaSets the Deployment owns (they match its selector): from the list read whole, else listed.

        Those older than the two newest that run no pod and own none of the pods read (`known`) are kept as
        history only (`_history_only`) as soon as they are read: 100 Deployments' lists of 11 ReplicaSets with
        300 env vars each held 121 MB at once."""
        uid = deployment["metadata"]["uid"]
        # Owned by the Deployment: they match its selector. The page is trusted only when every owner the pods
        # led to was on it (_fetch_owners): a ReplicaSet read after it, in a rollout under way, makes it None.
        whole = self._whole("replicasets")
        candidates = list(whole.values()) if whole is not None else self._list(
            "replicasets", _selector_string(deployment.get("spec", {}).get("selector") or {}), shared,
            OWNER_PAGE_SIZE)  # read eight at once: what the lists sharing their bytes read past them stays small
        owned: list[dict[str, Any]] = []
        others: list[dict[str, Any]] = []
        for rs in candidates:
            owns = any(o.get("uid") == uid for o in rs["metadata"].get("ownerReferences", []))
            (owned if owns else others).append(rs)
        # Bytes of the answers no longer held: what the lists share is what they hold.
        let_go = sum(_json_bytes(rs) for rs in others) if whole is None else 0
        for rs in sorted(owned, key=_revision, reverse=True)[2:]:  # the current one and the one it is diffed with
            if rs["metadata"]["uid"] not in known and not (rs.get("status") or {}).get("replicas"):
                let_go += _history_only(rs)
                with self._history_lock:
                    self.history_only += 1
        if whole is None:
            shared.settle(0, -let_go)
        return owned

    def _rollout(self, deployment: dict[str, Any], sets: list[dict[str, Any]], owners: list[dict[str, Any]]
                 ) -> dict[str, Any]:
        """The deployment's ReplicaSets (`sets`) join the owners; returns what changed in its last rollout."""
        known = {o["metadata"]["uid"] for o in owners}
        for rs in sets:
            rs.setdefault("kind", "ReplicaSet")
            if rs["metadata"]["uid"] not in known:
                owners.append(rs)

        ordered = sorted(sets, key=_revision, reverse=True)
        return {"deployment": deployment["metadata"]["name"],
                "current": ordered[0]["metadata"]["name"] if ordered else None,
                "previous": ordered[1]["metadata"]["name"] if len(ordered) > 1 else None,
                "changes": self._redacted_diff(ordered[0], ordered[1]) if len(ordered) > 1 else [],
                # What the culprit search of mr-creator starts from: previous..current.
                "current_source_commit": replicaset_commit(ordered[0]) if ordered else None,
                "previous_source_commit": replicaset_commit(ordered[1]) if len(ordered) > 1 else None,
                "current_created": ordered[0]["metadata"].get("creationTimestamp") if ordered else None,
                "previous_created": ordered[1]["metadata"].get("creationTimestamp") if len(ordered) > 1 else None}

    def _redacted_diff(self, current: dict[str, Any], previous: dict[str, Any]) -> list[dict[str, Any]]:
        """The diff of the two templates as each is written (redacted), so no value leaves in clear."""
        where = "objects/rollout-diffs.jsonl"
        scrub = self.staging.redactor.scrub_object
        return template_diff(scrub(current, where), scrub(previous, where))

    def _pods(self, selector: str | None) -> list[dict[str, Any]]:
        """Pods written page by page, read while pods.jsonl can keep them: the ones whose line it did not keep
        are not held, so stay out of the logs and the findings, and the pods count as not read completely."""
        name = "objects/pods.jsonl"
        section = self.staging.jsonl(name, self.bounds.section_cap(name))
        pods: list[dict[str, Any]] = []
        pages = self._pages("pods", selector)
        full = False
        for page in pages:
            kept = section.add(page)
            pods.extend(_slim_pod(pod) for pod in page[:kept])
            if kept < len(page):  # full: the rest of the list is not asked for
                full = True
                pages.close()
                self.unread.add("pods")
                break
        self.kept_lines[name] = section.close(read_further=not full)
        return pods

    def _events(self, names: set[str] | None) -> list[dict[str, Any]]:
        """The window's events (of the focused objects only, when focused), oldest first, slim."""
        spool = EventSpool(self.staging, self.window, names, self.staging.root.parent)
        for page in self._pages("events", max_items=EVENTS_LISTED):
            spool.add(page)
        events = spool.finish(self.bounds.section_cap("objects/events.jsonl"))
        self.kept_lines["objects/events.jsonl"] = len(events)
        return events

    def _services(self, pods: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        services = self._list("services")
        focused = self.focus.workload is not None or self.focus.label_selector is not None
        if focused:
            chosen = self.focus.workload[1] if self.focus.workload and self.focus.workload[0] == "services" else None
            services = services_near(services, pods, chosen)
        names = {s["metadata"]["name"] for s in services}
        # Written page by page; held, of each, only what the detectors read: how many addresses are ready (5,000
        # Endpoints of 30 addresses each, held whole with 11,000 pods: 152 MB).
        name = "objects/endpoints.jsonl"
        written = self.staging.jsonl(name, self.bounds.section_cap(name))
        endpoints: list[dict[str, Any]] = []
        for page in self._pages("endpoints", max_items=LISTED_WHOLE):
            kept = [_slim(e) for e in page if e["metadata"]["name"] in names]
            written.add(kept)
            endpoints.extend(_ready_only(e) for e in kept)
        self.kept_lines[name] = written.close()
        # No detector reads them: written page by page, not held (dense ones, 30 addresses each, were 70 MB).
        name = "objects/endpointslices.jsonl"
        slices = self.staging.jsonl(name, self.bounds.section_cap(name))
        for page in self._pages("endpointslices"):
            slices.add([_slim(s) for s in page if s["metadata"].get("labels", {}).get("kubernetes.io/service-name")
                        in names])
        self.kept_lines[name] = slices.close()
        return services, endpoints

    def _configmaps(self, pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Names and keys of every ConfigMap (of the first CONFIGMAPS_LISTED); values only of those the pods
        reference, redacted. Of the others,
        at most CONFIGMAP_KEYS_LISTED keys each and CONFIGMAP_KEYS_TOTAL in all: a list cut has `keys_cut`
        and `key_count`. Of a referenced one's values, the first CONFIGMAP_VALUE_KEPT characters each once
        redacted: `values_cut` names the keys whose value was cut."""
        referenced = configmap_references(pods)
        summary: list[dict[str, Any]] = []
        listed = 0  # keys listed of ConfigMaps no pod references
        pages = self._pages("configmaps", page_size=CONFIGMAP_PAGE_SIZE)
        for configmap in (c for page in pages for c in page):
            if len(summary) == CONFIGMAPS_LISTED:  # an entry each, however small: the rest is not asked for
                pages.close()
                self.unread.add("configmaps")
                self.staging.gap("configmaps", "truncated", f"read no further than {CONFIGMAPS_LISTED} ConfigMaps")
                break
            name = configmap["metadata"]["name"]
            data = configmap.get("data") or {}
            keys = sorted(data) + sorted(configmap.get("binaryData") or {})
            entry: dict[str, Any] = {"name": name, "keys": keys}
            if name in referenced:
                entry["data"], cut = {}, []
                for key, value in data.items():  # one whole value at a time: redacted, then its head kept
                    redacted = self.staging.redactor.redact_env_value(key, str(value), "objects/configmaps.json")
                    if len(redacted) > CONFIGMAP_VALUE_KEPT:
                        redacted = redacted[:CONFIGMAP_VALUE_KEPT]
                        cut.append(key)
                    entry["data"][key] = redacted
                if cut:
                    entry["values_cut"] = sorted(cut)
            else:  # held until written: bounded, and a list cut says so
                room = max(0, min(CONFIGMAP_KEYS_LISTED, CONFIGMAP_KEYS_TOTAL - listed))
                if len(keys) > room:
                    entry.update(keys=keys[:room], keys_cut=True, key_count=len(keys))
                listed += len(entry["keys"])
            summary.append(entry)
        self.staging.write_json("objects/configmaps.json", {"configmaps": summary, "referenced": sorted(referenced)})
        return summary
