"""A fake Kubernetes API server over HTTP that the official client and kubectl can read.

Serves namespaced lists and gets for the core, apps, batch, autoscaling, policy and
discovery groups; honours labelSelector (equality and set-based), fieldSelector, limit
and continue; serves pod logs as text/plain honouring container, previous, sinceTime,
sinceSeconds, tailLines, limitBytes and timestamps, streamed; answers 403 for resources
or namespaces that RBAC would forbid; can add latency to every request. Read-only:
any write verb gets 405, as a collector must never need one.

It can also misbehave the way real API servers and kubelets do: answer 500 or 429 (with
Retry-After) to chosen requests, ignore limitBytes, trickle a log slowly or never end one.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from werkzeug import Request, Response

# Re-exported: callers build a cluster and its logs from this one module.
from pathops_testbed.kube_logs import EndlessLog as EndlessLog
from pathops_testbed.kube_logs import LogSource as LogSource
from pathops_testbed.kube_logs import SharedLog as SharedLog
from pathops_testbed.kube_logs import StaticLog as StaticLog
from pathops_testbed.kube_logs import SyntheticLog as SyntheticLog
from pathops_testbed.kube_logs import TricklingLog as TricklingLog

# plural -> (api prefix, kind, namespaced)
RESOURCES: dict[str, tuple[str, str, bool]] = {
    "pods": ("/api/v1", "Pod", True),
    "events": ("/api/v1", "Event", True),
    "services": ("/api/v1", "Service", True),
    "endpoints": ("/api/v1", "Endpoints", True),
    "configmaps": ("/api/v1", "ConfigMap", True),
    "secrets": ("/api/v1", "Secret", True),
    "serviceaccounts": ("/api/v1", "ServiceAccount", True),
    "resourcequotas": ("/api/v1", "ResourceQuota", True),
    "limitranges": ("/api/v1", "LimitRange", True),
    "replicationcontrollers": ("/api/v1", "ReplicationController", True),
    "persistentvolumeclaims": ("/api/v1", "PersistentVolumeClaim", True),
    "nodes": ("/api/v1", "Node", False),
    "namespaces": ("/api/v1", "Namespace", False),
    "deployments": ("/apis/apps/v1", "Deployment", True),
    "replicasets": ("/apis/apps/v1", "ReplicaSet", True),
    "statefulsets": ("/apis/apps/v1", "StatefulSet", True),
    "daemonsets": ("/apis/apps/v1", "DaemonSet", True),
    "jobs": ("/apis/batch/v1", "Job", True),
    "cronjobs": ("/apis/batch/v1", "CronJob", True),
    "horizontalpodautoscalers": ("/apis/autoscaling/v2", "HorizontalPodAutoscaler", True),
    "poddisruptionbudgets": ("/apis/policy/v1", "PodDisruptionBudget", True),
    "endpointslices": ("/apis/discovery.k8s.io/v1", "EndpointSlice", True),
    "applications": ("/apis/argoproj.io/v1alpha1", "Application", True),
}
_KIND_TO_PLURAL = {(prefix, kind): plural for plural, (prefix, kind, _) in RESOURCES.items()}


def _prefix_of(api_version: str) -> str:
    return "/api/v1" if api_version == "v1" else f"/apis/{api_version}"


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Fault:
    """Answer `status` to the next `times` requests whose path matches `pattern`."""

    pattern: re.Pattern[str]
    status: int
    times: int
    retry_after: str | None = None
    continued: bool = False  # only requests for a list's later pages (with a continue token)


@dataclass(frozen=True)
class _Term:
    key: str
    op: str  # in, notin, exists, !exists
    values: frozenset[str] = frozenset()

    def matches(self, labels: dict[str, str]) -> bool:
        if self.op == "exists":
            return self.key in labels
        if self.op == "!exists":
            return self.key not in labels
        inside = labels.get(self.key) in self.values
        return inside if self.op == "in" else not inside


@dataclass
class _Selector:
    terms: list[_Term] = field(default_factory=list)

    def matches(self, labels: dict[str, str]) -> bool:
        return all(term.matches(labels) for term in self.terms)


def parse_label_selector(text: str) -> _Selector:
    """Equality-based (=, ==, !=) and set-based (in, notin, key, !key) requirements."""
    selector = _Selector()
    for raw in re.findall(r"(?:[^,(]|\([^)]*\))+", text or ""):
        term = raw.strip()
        if not term:
            continue
        if match := re.fullmatch(r"([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)", term):
            values = frozenset(v.strip() for v in match[3].split(","))
            selector.terms.append(_Term(match[1], match[2], values))
        elif match := re.fullmatch(r"([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)", term):
            selector.terms.append(_Term(match[1], "notin" if match[2] == "!=" else "in", frozenset([match[3]])))
        elif match := re.fullmatch(r"!([\w./-]+)", term):
            selector.terms.append(_Term(match[1], "!exists"))
        elif re.fullmatch(r"[\w./-]+", term):
            selector.terms.append(_Term(term, "exists"))
        else:
            raise ValueError(f"unable to parse requirement: {term!r}")
    return selector


def _path(obj: dict[str, Any], dotted: str) -> str:
    value: Any = obj
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def field_matcher(text: str) -> Callable[[dict[str, Any]], bool]:
    terms = []
    for term in filter(None, (t.strip() for t in (text or "").split(","))):
        match = re.fullmatch(r"([\w.]+)\s*(==|=|!=)\s*(.*)", term)
        if not match:
            raise ValueError(f"invalid field selector: {term!r}")
        terms.append((match[1], match[2] == "!=", match[3]))
    return lambda obj: all((_path(obj, key) != value) if negate else (_path(obj, key) == value)
                           for key, negate, value in terms)


class FakeKubernetes:
    """WSGI app holding a cluster's objects and logs in memory."""

    def __init__(self, latency_seconds: float = 0.0) -> None:
        self.latency_seconds = latency_seconds
        self.objects: dict[str, dict[str, dict[str, dict[str, Any]]]] = {plural: {} for plural in RESOURCES}
        self.logs: dict[tuple[str, str, str, bool], LogSource] = {}
        self.forbidden: set[tuple[str | None, str]] = set()  # (namespace or None for all, plural)
        self.allowed_namespaces: set[str] | None = None
        self.requests: list[str] = []
        self.faults: list[Fault] = []
        self._selected: dict[tuple[str, str | None, str, str, int], list[dict[str, Any]]] = {}
        self.ignore_limit_bytes = False
        # Lists streamed without a Content-Length, in 64 KiB chunks, as kube-apiserver sends a large one.
        self.chunked_lists = False
        self._lock = threading.Lock()
        self._version = 1

    # --- state ---------------------------------------------------------------------------

    def add(self, obj: dict[str, Any]) -> dict[str, Any]:
        plural = _KIND_TO_PLURAL[(_prefix_of(obj["apiVersion"]), obj["kind"])]
        metadata = obj.setdefault("metadata", {})
        namespace = metadata.get("namespace", "") if RESOURCES[plural][2] else ""
        metadata.setdefault("uid", f"uid-{plural}-{namespace}-{metadata['name']}")
        metadata.setdefault("creationTimestamp", rfc3339(datetime.now(UTC) - timedelta(hours=1)))
        with self._lock:
            self._version += 1
            metadata["resourceVersion"] = str(self._version)
            self.objects[plural].setdefault(namespace, {})[metadata["name"]] = obj
        if plural != "namespaces" and namespace and namespace not in self.objects["namespaces"].get("", {}):
            self.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        return obj

    def add_all(self, objects: Iterable[dict[str, Any]]) -> None:
        for obj in objects:
            self.add(obj)

    def remove_all(self, plural: str, namespace: str) -> None:
        """Delete every object of a kind in a namespace (a rollout replacing its pods)."""
        with self._lock:
            self._version += 1
            self.objects[plural].pop(namespace, None)

    def set_log(self, namespace: str, pod: str, container: str, source: LogSource, previous: bool = False) -> None:
        self.logs[(namespace, pod, container, previous)] = source

    def forbid(self, plural: str, namespace: str | None = None) -> None:
        self.forbidden.add((namespace, plural))

    def fail(self, path_regex: str, status: int = 500, times: int = 1, retry_after: str | None = None,
             continued: bool = False) -> None:
        """The next `times` requests whose path (without query) matches answer `status`."""
        self.faults.append(Fault(re.compile(path_regex), status, times, retry_after, continued))

    def _fault(self, path: str, request: Request) -> Response | None:
        with self._lock:
            fault = next((f for f in self.faults if f.times > 0 and f.pattern.search(path)
                          and (not f.continued or request.args.get("continue"))), None)
            if fault is None:
                return None
            fault.times -= 1
        reason = "TooManyRequests" if fault.status == 429 else "InternalError"
        response = _status(fault.status, reason, f"injected failure for {path}")
        if fault.retry_after is not None:
            response.headers["Retry-After"] = fault.retry_after
        return response

    # --- HTTP ----------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        self.requests.append(request.full_path)
        if self.latency_seconds:
            time.sleep(self.latency_seconds)
        return self._route(request)(environ, start_response)

    def _route(self, request: Request) -> Response:
        if request.method != "GET":
            return _status(405, "MethodNotAllowed", "this API server is read-only")
        path = request.path.rstrip("/")
        if self.faults and (fault := self._fault(path, request)) is not None:
            return fault
        if path == "/version":
            return _json({"major": "1", "minor": "31", "gitVersion": "v1.31.0-pathops-fake"})
        if path in {"/api", "/apis"} or re.fullmatch(r"/api/v1|/apis/[\w.]+/\w+", path):
            return self._discovery(path)
        match = re.fullmatch(r"(/api/v1|/apis/[\w.]+/\w+)(?:/namespaces/([\w-]+))?/([\w]+)(?:/([\w.-]+))?(?:/(log))?",
                             path)
        if not match:
            return _status(404, "NotFound", f"the server could not find the requested resource ({path})")
        prefix, namespace, plural, name, log = match.groups()
        if plural not in RESOURCES or RESOURCES[plural][0] != prefix:
            return _status(404, "NotFound", f"the server could not find the requested resource ({plural})")
        if namespace is None and RESOURCES[plural][2] and name is None and plural != "namespaces":
            namespace = None  # list across namespaces
        denied = self._denied(namespace, plural + ("/log" if log else ""))
        if denied:
            return denied
        if log:
            return self._log(request, namespace or "", name or "")
        if name is not None:
            return self._get(plural, namespace or "", name)
        return self._list(request, plural, namespace)

    def _denied(self, namespace: str | None, resource: str) -> Response | None:
        plural = resource.split("/")[0]
        blocked = (
            (None, resource) in self.forbidden or (namespace, resource) in self.forbidden
            or (None, plural) in self.forbidden or (namespace, plural) in self.forbidden
            or (self.allowed_namespaces is not None and RESOURCES[plural][2]
                and (namespace is None or namespace not in self.allowed_namespaces))
        )
        if not blocked:
            return None
        where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
        return _status(403, "Forbidden", f'{resource} is forbidden: User "system:serviceaccount:agents:collector" '
                                         f'cannot list resource "{resource}"{where}')

    def _get(self, plural: str, namespace: str, name: str) -> Response:
        key = namespace if RESOURCES[plural][2] else ""
        obj = self.objects[plural].get(key, {}).get(name)
        if obj is None:
            return _status(404, "NotFound", f'{plural} "{name}" not found')
        return _json(obj)

    def _list(self, request: Request, plural: str, namespace: str | None) -> Response:
        try:
            labels = parse_label_selector(request.args.get("labelSelector", ""))
            fields = field_matcher(request.args.get("fieldSelector", ""))
        except ValueError as error:
            return _status(400, "BadRequest", str(error))
        # A list is selected at its first page and kept for its `continue` pages: paging through 60,000
        # events stays linear, and a first page always sees the store as it is now (tests edit
        # `objects` directly, without a version bump).
        key = (plural, namespace, request.args.get("labelSelector", ""), request.args.get("fieldSelector", ""),
               self._version)
        items = self._selected.get(key) if request.args.get("continue") else None
        if items is None:
            buckets = self.objects[plural]
            pool = [obj for ns, objects in sorted(buckets.items()) if namespace is None or ns == namespace
                    for _, obj in sorted(objects.items())]
            items = [obj for obj in pool if labels.matches(obj["metadata"].get("labels", {})) and fields(obj)]
            with self._lock:
                self._selected = {k: v for k, v in self._selected.items() if k[-1] == self._version}
                self._selected[key] = items
        offset = int(base64.b64decode(request.args["continue"]).decode()) if request.args.get("continue") else 0
        limit = int(request.args.get("limit", 0) or 0)
        page = items[offset: offset + limit] if limit else items[offset:]
        more = bool(limit) and offset + limit < len(items)
        prefix, kind, _ = RESOURCES[plural]
        metadata: dict[str, Any] = {"resourceVersion": str(self._version)}
        if more:
            metadata["continue"] = base64.b64encode(str(offset + limit).encode()).decode()
            metadata["remainingItemCount"] = len(items) - offset - limit
        api_version = "v1" if prefix == "/api/v1" else prefix.removeprefix("/apis/")
        answer = {"kind": f"{kind}List", "apiVersion": api_version, "metadata": metadata, "items": page}
        if self.chunked_lists:
            body = json.dumps(answer).encode()
            return Response((body[at: at + 65536] for at in range(0, len(body), 65536)),
                            content_type="application/json")
        return _json(answer)

    def _log(self, request: Request, namespace: str, pod_name: str) -> Response:
        pod = self.objects["pods"].get(namespace, {}).get(pod_name)
        if pod is None:
            return _status(404, "NotFound", f'pods "{pod_name}" not found')
        containers = [c["name"] for key in ("initContainers", "containers") for c in pod["spec"].get(key, [])]
        container = request.args.get("container") or (containers[0] if len(containers) == 1 else "")
        if container not in containers:
            return _status(400, "BadRequest", f"a container name must be specified for pod {pod_name}, "
                                              f"choose one of: {containers}")
        previous = request.args.get("previous") == "true"
        source = self.logs.get((namespace, pod_name, container, previous))
        if source is None:
            if previous:
                return _status(400, "BadRequest",
                               f'previous terminated container "{container}" in pod "{pod_name}" not found')
            source = StaticLog([])
        since: datetime | None = None
        if request.args.get("sinceTime"):
            since = datetime.strptime(request.args["sinceTime"][:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
        elif request.args.get("sinceSeconds"):
            since = datetime.now(UTC) - timedelta(seconds=int(request.args["sinceSeconds"]))
        tail = int(request.args["tailLines"]) if request.args.get("tailLines") else None
        limit = int(request.args["limitBytes"]) if request.args.get("limitBytes") else None
        if self.ignore_limit_bytes:
            limit = None
        stamps = request.args.get("timestamps") == "true"
        return Response(source.render(since, tail, limit, stamps), content_type="text/plain")

    def _discovery(self, path: str) -> Response:
        if path == "/api":
            return _json({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
        groups = sorted({prefix.removeprefix("/apis/") for prefix, _, _ in RESOURCES.values() if prefix != "/api/v1"})
        if path == "/apis":
            return _json({"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": g.split("/")[0], "versions": [{"groupVersion": g, "version": g.split("/")[1]}],
                 "preferredVersion": {"groupVersion": g, "version": g.split("/")[1]}} for g in groups]})
        resources = [
            {"name": plural, "singularName": "", "namespaced": namespaced, "kind": kind, "verbs": ["get", "list"]}
            for plural, (prefix, kind, namespaced) in RESOURCES.items() if prefix == path
        ]
        if path == "/api/v1":
            resources.append({"name": "pods/log", "singularName": "", "namespaced": True, "kind": "Pod",
                              "verbs": ["get"]})
        return _json({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": path.removeprefix("/apis/")
                      if path != "/api/v1" else "v1", "resources": resources})


def _json(payload: Any) -> Response:
    return Response(json.dumps(payload), content_type="application/json")


def _status(code: int, reason: str, message: str) -> Response:
    return Response(json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                "message": message, "reason": reason, "code": code}),
                    status=code, content_type="application/json")


def write_kubeconfig(path: Path, server: str, namespace: str, token: str = "fake-token") -> Path:  # noqa: S107
    """A kubeconfig pointing at the fake (or any) API server."""
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "pathops",
        "clusters": [{"name": "pathops", "cluster": {"server": server}}],
        "users": [{"name": "collector", "user": {"token": token}}],
        "contexts": [{"name": "pathops", "context": {"cluster": "pathops", "user": "collector",
                                                      "namespace": namespace}}],
    }
    path.write_text(json.dumps(config))
    return path
