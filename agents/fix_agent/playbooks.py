"""Deterministic fixes that the evidence and the source determine, tried before any model.

Each playbook (1) finds the failing container by identity (pod -> owner chain -> workload and
container), (2) works out from the evidence and the source what that container's field must
become, and (3) searches the repository for the line that renders it, keeping only an edit that
`proof` shows changes exactly that field of exactly that container in what is deployed. Each
states its preconditions and confidence (they go to analysis.md); when a precondition fails or
the evidence is ambiguous it proposes nothing and says why, naming the candidates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fix_agent.identity import Target, locate, snapshot_objects
from fix_agent.line_edits import LineEdit, line_candidates
from fix_agent.proof import Expectation, Search
from fix_agent.proposal import Attempt, Proposal
from fix_agent.rendering import RenderContext, render_all
from fix_agent.similarity import closest
from fix_agent.snapshot import Snapshot
from fix_agent.worktree import Worktree

SOURCE_SUFFIXES = {".py", ".js", ".ts", ".mjs", ".cjs", ".go", ".rb", ".java", ".kt", ".rs", ".php", ".cs"}
HEALTH_ROUTE = re.compile(r"""["'`](/(?:[\w-]+/)*(?:health|healthz|healthcheck|ready|readyz|readiness|live|livez|"""
                          r"""liveness|alive|startup|startupz|started|ping|status|_health|-/healthy|-/ready)"""
                          r"""(?:/[\w.-]*)*)["'`]""")
EXPOSE = re.compile(r"(?im)^\s*EXPOSE\s+(\d{2,5})")
MI = 1024 * 1024
MEMORY_CAP = 4 * 1024 * MI
_UNITS = {"Ki": 1024, "Mi": MI, "Gi": 1024 * MI, "K": 1000, "M": 1000**2, "G": 1000**3, "": 1}
MAX_SOURCE_FILES = 5000
MAX_SOURCE_FILE_BYTES = 1024 * 1024


def parse_memory(text: str) -> int | None:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|K|M|G|)", str(text).strip())
    return int(float(match[1]) * _UNITS[match[2]]) if match else None


def format_memory(size: int) -> str:
    return f"{size // (1024 * MI)}Gi" if size % (1024 * MI) == 0 else f"{size // MI}Mi"


def raised_memory_limit(current: int) -> int | None:
    """The OOM rule: double, rounded up to a multiple of 64Mi, at most 4Gi; None when already at the cap."""
    doubled = -(-current * 2 // (64 * MI)) * (64 * MI)
    new = min(doubled, MEMORY_CAP)
    return new if new > current else None


def _source_lines(root: Path) -> list[tuple[str, int, str]]:
    """(file, line number, text) of the application's source files, bounded."""
    out = []
    for count, path in enumerate(sorted(root.rglob("*"))):
        if count > MAX_SOURCE_FILES:
            break
        relative = path.relative_to(root)
        if path.suffix not in SOURCE_SUFFIXES or not path.is_file() or ".git" in relative.parts \
                or "node_modules" in relative.parts or path.stat().st_size > MAX_SOURCE_FILE_BYTES:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            out.append((relative.as_posix(), number, line))
    return out


def source_routes(root: Path) -> dict[str, list[str]]:
    """Health-like routes in the application's code: path -> where (file:line)."""
    routes: dict[str, list[str]] = {}
    for file, number, line in _source_lines(root):
        for route in HEALTH_ROUTE.findall(line):
            routes.setdefault(route, []).append(f"{file}:{number}")
    return routes


_ENV_READS = (
    re.compile(r"""os\.environ\s*\[\s*["'](\w+)["']"""), re.compile(r"""os\.environ\.get\(\s*["'](\w+)["']"""),
    re.compile(r"""os\.getenv\(\s*["'](\w+)["']"""), re.compile(r"""process\.env\.(\w+)"""),
    re.compile(r"""process\.env\[\s*["'](\w+)["']"""), re.compile(r"""os\.(?:Getenv|LookupEnv)\(\s*"(\w+)"\)"""),
    re.compile(r"""System\.getenv\(\s*"(\w+)"\)"""), re.compile(r"""ENV\s*(?:\[|\.fetch\()\s*["'](\w+)["']"""),
    re.compile(r"""std::env::var\(\s*"(\w+)"\)"""), re.compile(r"""env::var\(\s*"(\w+)"\)"""),
)


def source_env_reads(root: Path) -> dict[str, list[str]]:
    """Environment variables the code reads: name -> where (file:line)."""
    reads: dict[str, list[str]] = {}
    for file, number, line in _source_lines(root):
        for pattern in _ENV_READS:
            for name in pattern.findall(line):
                reads.setdefault(name, []).append(f"{file}:{number}")
    return reads


def exposed_ports(root: Path) -> set[int]:
    ports: set[int] = set()
    for dockerfile in root.rglob("Dockerfile*"):
        if dockerfile.is_file() and ".git" not in dockerfile.parts:
            ports |= {int(p) for p in EXPOSE.findall(dockerfile.read_text(encoding="utf-8", errors="replace"))}
    return ports


_REQUEST = re.compile(r'"?(?:GET|HEAD|POST)\s+(/[\w./-]*)[^"\n]*?"?\s+(\d{3})\b')
# "Listening on 0.0.0.0:8080", "Uvicorn running on http://0.0.0.0:8000", "Server started on port 3000": a local
# bind address or a bare port, never "connected to redis at redis:6379".
_LISTEN = re.compile(r"(?i)\b(?:listening|serving|started|starting|running|bound)\b[^\n]*?(?:(?:on|at)\s+(?:https?://)?"
                     r"(?:0\.0\.0\.0|\[::\]|::|\*|localhost|127\.0\.0\.1)?:|\bport\s+:?)(\d{2,5})\b")
MAX_LOG_BYTES = 4 * 1024 * 1024


def pod_log(snapshot: Snapshot, target: Target) -> str:
    """The failing container's collected log (current and previous), bounded: other workloads' logs say
    nothing about this one."""
    parts = []
    for suffix in (".previous.log", ".log"):
        path = snapshot.root / "logs" / target.pod / f"{target.container}{suffix}"
        if path.is_file() and path.resolve().is_relative_to(snapshot.root.resolve()):
            with path.open("rb") as handle:
                parts.append(handle.read(MAX_LOG_BYTES).decode("utf-8", errors="replace"))
    return "\n".join(parts)


def served_paths(log: str) -> dict[str, set[int]]:
    """Request paths the app answered in its log, with the status codes seen."""
    seen: dict[str, set[int]] = {}
    for path, status in _REQUEST.findall(log):
        seen.setdefault(path, set()).add(int(status))
    return seen


def listen_ports(log: str) -> set[int]:
    return {int(port) for port in _LISTEN.findall(log)}


def render_context(snapshot: Snapshot) -> RenderContext:
    """Release name, namespace and values files as Argo CD renders the app (defaults: the app id, values.yaml)."""
    application = snapshot.json_file("objects/argocd-application.json") or {}
    source = application.get("source") if isinstance(application, dict) else None
    helm = (source or {}).get("helm") or {} if isinstance(source, dict) else {}
    release = str(helm.get("releaseName") or snapshot.manifest.get("app_id") or "release")
    files: dict[str, tuple[str, ...]] = {}
    if isinstance(source, dict) and source.get("path") and helm.get("valueFiles"):
        files[str(source["path"]).strip("/")] = tuple(str(f) for f in helm["valueFiles"])
    return RenderContext(release, str(snapshot.manifest.get("target_namespace") or ""), files)


def _begin(name: str, findings: list[dict[str, Any]], attempts: list[Attempt], nothing: str) -> Attempt | None:
    """Record a playbook's attempt; None, with the reason noted, when the evidence has nothing for it."""
    attempt = Attempt("playbook", name, "not_applicable")
    attempts.append(attempt)
    if not findings:
        attempt.notes.append(nothing)
        return None
    return attempt


def _no_fix(attempt: Attempt, reason: str | None = None) -> Proposal | None:
    """The playbook applies but finds no safe fix: no proposal; the reason goes to analysis.md."""
    attempt.outcome = "no_fix"
    if reason:
        attempt.notes.append(reason)
    return None


def _target(snapshot: Snapshot, facts: dict[str, Any], attempt: Attempt) -> Target | None:
    found = locate(snapshot, facts.get("pod"), facts.get("container"))
    if isinstance(found, str):
        _no_fix(attempt, f"cannot tell which workload fails: {found}")
        return None
    attempt.notes.append(f"failing container: {found.describe()} (pod {found.pod})")
    return found


def _of_kind(snapshot: Snapshot, kind: str) -> list[dict[str, Any]]:
    """The snapshot's findings of a kind that are well formed (a dict of facts): evidence is input, not trusted."""
    return [f for f in snapshot.findings if isinstance(f, dict) and f.get("kind") == kind
            and isinstance(f.get("facts"), dict)]


def _status(finding: dict[str, Any]) -> int | None:
    """The HTTP status a probe got, when the finding has a sane one."""
    code = (finding.get("facts") or {}).get("status_code")
    return code if isinstance(code, int) and not isinstance(code, bool) and 100 <= code < 600 else None


def _get(container: dict[str, Any], *path: str | int) -> Any:
    value: Any = container
    for part in path:
        if isinstance(part, int):
            value = value[part] if isinstance(value, list) and len(value) > part else None
        else:
            value = value.get(part) if isinstance(value, dict) else None
    return value


def _prove_and_propose(snapshot: Snapshot, tree: Worktree, attempt: Attempt, expectation: Expectation,
                       candidates: list[LineEdit], **proposal: Any) -> Proposal | None:
    if not candidates:
        return _no_fix(attempt, "no line of the repository's YAML holds the value to change")
    search = Search(tree.root, render_context(snapshot), expectation)
    edits = search.run(candidates)
    attempt.notes += search.notes[-3:]
    if edits is None:
        return _no_fix(attempt, "no edit could be proven: " + (search.notes[-1] if search.notes else "none tried"))
    attempt.outcome = "proposed"
    return Proposal(engine="playbook", edits=edits, expectation=expectation, proven=True, **proposal)


@dataclass
class Playbook:
    name: str = ""
    preconditions: str = ""
    confidence: float = 0.0

    def propose(self, snapshot: Snapshot, tree: Worktree, attempts: list[Attempt]) -> Proposal | None:
        raise NotImplementedError


# -- probe path ------------------------------------------------------------------------------------------------

_ROLE_WORDS = {"ready": re.compile(r"read(?:y|iness)"), "live": re.compile(r"live(?:ness)?|alive"),
               "startup": re.compile(r"start(?:up|ed)")}
_TIERS = {"readiness": ("ready", "generic"), "liveness": ("live", "generic"), "startup": ("startup", "generic", "live")}


def route_role(path: str) -> str:
    last = path.rstrip("/").rsplit("/", 1)[-1].lower()
    return next((role for role, words in _ROLE_WORDS.items() if words.search(last)), "generic")


def _stem(path: str) -> str:
    return re.sub(r"z$", "", path.rstrip("/").lower())


def choose_probe_path(probe: str, old: str, routes: set[str], served: dict[str, set[int]]) -> tuple[str | None, str]:
    """The route a probe of this role should use instead of old, or None with the reason and candidates.

    Order: a one-to-one rename of old (/x <-> /xz) that fits the role; then routes of the probe's
    own role (readiness: ready/readyz, liveness: live/livez, startup: startup), then generic health
    routes (health, healthz, status, ping), for startup also liveness routes. Never a route of the
    other role, never one that failed in the logs. Several in the same tier: the one answered
    2xx in the logs, else ambiguous.
    """
    good = {p for p in routes | {p for p, codes in served.items() if any(200 <= c < 300 for c in codes)}
            if p != old and HEALTH_ROUTE.fullmatch(f'"{p}"')
            and not (served.get(p) and all(c >= 400 for c in served[p]))}
    tiers = _TIERS.get(probe)
    if tiers is None:
        return None, f"unknown probe role {probe!r}"
    renamed = [p for p in good if _stem(p) == _stem(old) and route_role(p) in tiers]
    if len(renamed) == 1:
        return renamed[0], f"{old} was renamed to {renamed[0]} (one-to-one), which fits the {probe} probe"
    for tier in tiers:
        options = sorted(p for p in good if route_role(p) == tier)
        if len(options) == 1:
            return options[0], f"{options[0]} is the only {tier} route for the {probe} probe"
        answered = [p for p in options if any(200 <= c < 300 for c in served.get(p, set()))]
        if len(answered) == 1:
            return answered[0], f"{answered[0]} is the {tier} route that answered 2xx in the logs"
        if options:
            return None, f"several {tier} routes fit the {probe} probe: {', '.join(options)}"
    return None, f"no route fits the {probe} probe (routes seen: {', '.join(sorted(good)) or 'none'})"


@dataclass
class ProbePathPlaybook(Playbook):
    name: str = "probe-path"
    preconditions: str = ("an HTTP probe fails with 4xx; the pod's owner chain is in the snapshot; the new route is "
                          "in the source or answered 2xx in the logs, fits the probe's role (or is a one-to-one "
                          "rename of the old path), and is the only such route")
    confidence: float = 0.9

    def propose(self, snapshot: Snapshot, tree: Worktree, attempts: list[Attempt]) -> Proposal | None:
        findings = [f for f in _of_kind(snapshot, "probe-failure")
                    if _status(f) is not None and 400 <= (_status(f) or 0) < 500]
        attempt = _begin(self.name, findings, attempts, "no probe failing with an HTTP 4xx in the snapshot")
        if attempt is None:
            return None
        facts = findings[0]["facts"]
        target = _target(snapshot, facts, attempt)
        if target is None:
            return None
        # Every probe of this container that fails with 4xx is fixed together (renames come in sets), or none.
        roles = sorted({str(f["facts"].get("probe")) for f in findings
                        if (f["facts"].get("pod"), f["facts"].get("container")) == (target.pod, target.container)})
        routes = source_routes(tree.root)
        served = served_paths(pod_log(snapshot, target))
        changes: list[tuple[str, str, str, str]] = []  # probe, old, new, why
        for probe in roles:
            old = _get(target.live_container, f"{probe}Probe", "httpGet", "path")
            if not isinstance(old, str):
                return _no_fix(attempt, f"container {target.container} has no HTTP {probe} probe")
            if old in routes:  # the route exists: the 404 comes from elsewhere (a base path, a proxy, a bug)
                return _no_fix(attempt, f"the source serves {old} ({', '.join(routes[old][:2])}): the {probe} probe "
                                        "path is not the problem")
            new, why = choose_probe_path(probe, old, set(routes), served)
            attempt.notes.append(why)
            if new is None:
                return _no_fix(attempt)
            changes.append((probe, old, new, why))
        expectation = Expectation(target, {(f"{probe}Probe", "httpGet", "path"): new for probe, _, new, _ in changes})
        renames = {old: new for _, old, new, _ in changes}
        if len(renames) != len({old for _, old, _, _ in changes}):
            return _no_fix(attempt, "two probes share a path but need different routes")
        candidates = line_candidates(tree.root, lambda key, value: renames.get(value) if isinstance(value, str)
                                     else None, prefer=frozenset({"path", "value"}))
        confirmed = all(any(200 <= c < 300 for c in served.get(new, set())) for _, _, new, _ in changes)
        described = "; ".join(f"the {probe} probe requests {old} (HTTP 4xx); the application serves {new} "
                              f"({', '.join(routes.get(new, [])[:2]) or 'seen in the logs'}): {why}"
                              for probe, old, new, why in changes)
        probes = " and ".join(probe for probe, _, _, _ in changes)
        paths = ", ".join(f"{old} -> {new}" for _, old, new, _ in changes)
        return _prove_and_propose(
            snapshot, tree, attempt, expectation, candidates, playbook=self.name,
            summary=f"Fix {probes} probe path{'s' if len(changes) > 1 else ''}: {paths}",
            rationale=(f"{target.describe()}: {described}. The edit was proven by rendering what is deployed: only "
                       "those probe paths change."),
            confidence=self.confidence if confirmed else 0.75,
            recommended_checks=[f"the {probes} probe{'s' if len(changes) > 1 else ''} succeed in preflight",
                                "all replicas become Ready after the rollout"])


# -- port chain ------------------------------------------------------------------------------------------------

@dataclass
class PortChainPlaybook(Playbook):
    name: str = "port-chain"
    preconditions: str = ("a probe's connection is refused, or a Service targets a port no pod declares; the app "
                          "listens on exactly one port (its logs, else the Dockerfile's EXPOSE); every element of "
                          "the chain on the old port (containerPort, probe ports, Service targetPort) moves to it")
    confidence: float = 0.8

    def propose(self, snapshot: Snapshot, tree: Worktree, attempts: list[Attempt]) -> Proposal | None:
        refused = [f for f in _of_kind(snapshot, "probe-failure") if "refused" in str(f["facts"].get("message", ""))]
        mismatched = _of_kind(snapshot, "service-port-mismatch")
        attempt = _begin(self.name, refused + mismatched, attempts,
                         "no refused probe and no Service targeting an undeclared port in the snapshot")
        if attempt is None:
            return None
        if refused:
            facts = refused[0]["facts"]
            target = _target(snapshot, facts, attempt)
            if target is None:
                return None
            port = _get(target.live_container, f"{facts.get('probe')}Probe", "httpGet", "port") or \
                _get(target.live_container, f"{facts.get('probe')}Probe", "tcpSocket", "port")
        else:
            facts = mismatched[0]["facts"]
            found = self._service_target(snapshot, str(facts.get("service")))
            if isinstance(found, str):
                return _no_fix(attempt, found)
            target = found
            attempt.notes.append(f"failing container: {target.describe()} (behind Service {facts.get('service')})")
            port = facts.get("target_port")
        ports = target.live_container.get("ports") or []
        if isinstance(port, str):
            port = next((p.get("containerPort") for p in ports if p.get("name") == port), None)
        if not isinstance(port, int):
            return _no_fix(attempt, "the failing port is not a number the container declares")
        listening = listen_ports(pod_log(snapshot, target)) or exposed_ports(tree.root)
        attempt.notes.append(f"ports the app listens on (logs, else Dockerfile EXPOSE): {sorted(listening) or '?'}")
        if len(listening) != 1:
            return _no_fix(attempt, "the app's listening port is unknown or not unique")
        (new,) = listening
        if new == port:
            return _no_fix(attempt, f"the app listens on {port} already: the refusal has another cause")
        required: dict[tuple[str, ...], Any] = {}
        for index, entry in enumerate(ports):
            if entry.get("containerPort") == port:
                required[("ports", f"[{index}]", "containerPort")] = new
        for role in ("readinessProbe", "livenessProbe", "startupProbe"):
            for handler in ("httpGet", "tcpSocket", "grpc"):
                if _get(target.live_container, role, handler, "port") == port:
                    required[(role, handler, "port")] = new
        expectation = Expectation(target, required, service_ports={port: new})
        candidates = line_candidates(tree.root, lambda key, value: new if value == port else None,
                                     prefer=frozenset({"containerPort", "port", "targetPort", "value"}))
        return _prove_and_propose(
            snapshot, tree, attempt, expectation, candidates, playbook=self.name,
            summary=f"Move {target.container}'s port chain from {port} to {new}",
            rationale=(f"{target.describe()} is reached on port {port}, but the application listens on {new}. "
                       f"The container port, the probes and the Service targetPort that pointed at {port} now point "
                       f"at {new}; the rendered chain was checked to be consistent and nothing else changes."),
            confidence=self.confidence,
            recommended_checks=["the probes succeed in preflight", "the Service has ready endpoints"])

    @staticmethod
    def _service_target(snapshot: Snapshot, service: str) -> Target | str:
        services = [s for s in snapshot_objects(snapshot, "objects/services.jsonl")
                    if (s.get("metadata") or {}).get("name") == service]
        selector = ((services[0].get("spec") or {}).get("selector") or {}) if services else {}
        if not selector:
            return f"Service {service} or its selector is not in the snapshot"
        pods = [p for p in snapshot_objects(snapshot, "objects/pods.jsonl")
                if all(((p.get("metadata") or {}).get("labels") or {}).get(k) == v for k, v in selector.items())]
        found = {}
        for pod in pods:
            spec = (pod.get("spec") or {}).get("containers") or []
            if len(spec) != 1:
                return f"the pods behind Service {service} run several containers: which one is meant is unclear"
            located = locate(snapshot, (pod.get("metadata") or {}).get("name"), spec[0].get("name"))
            if isinstance(located, Target):
                found[(located.kind, located.name, located.container)] = located
        if len(found) != 1:
            return f"Service {service} selects {len(found)} workloads: not one to fix"
        return next(iter(found.values()))


# -- OOMKilled -------------------------------------------------------------------------------------------------

@dataclass
class OomPlaybook(Playbook):
    """OOMKilled: raise the killed container's memory limit by a documented rule.

    Limit: doubled, rounded up to a multiple of 64Mi, at most 4Gi (at the cap: no fix, a person
    decides). Request: unchanged, except a request equal to the old limit (Guaranteed QoS), which
    follows the limit so the pod stays Guaranteed. Only the container that was OOMKilled changes.
    """

    name: str = "oom-memory-limit"
    preconditions: str = ("a container was OOMKilled; it has a memory limit under 4Gi; exactly that container's "
                          "limit (and a request equal to it) can be changed without changing anything else")
    confidence: float = 0.75

    def propose(self, snapshot: Snapshot, tree: Worktree, attempts: list[Attempt]) -> Proposal | None:
        findings = _of_kind(snapshot, "oom-killed")
        attempt = _begin(self.name, findings, attempts, "no oom-killed finding in the snapshot")
        if attempt is None:
            return None
        facts = findings[0]["facts"]
        target = _target(snapshot, facts, attempt)
        if target is None:
            return None
        limit_text = _get(target.live_container, "resources", "limits", "memory")
        current = parse_memory(str(limit_text)) if limit_text is not None else None
        if current is None:
            return _no_fix(attempt, "the killed container has no memory limit to raise")
        new = raised_memory_limit(current)
        if new is None:
            return _no_fix(attempt, f"memory limit {limit_text} is already at the {format_memory(MEMORY_CAP)} cap")
        new_text = format_memory(new)
        required: dict[tuple[str, ...], Any] = {("resources", "limits", "memory"): new_text}
        request = _get(target.live_container, "resources", "requests", "memory")
        follows = request is not None and parse_memory(str(request)) == current
        if follows:
            required[("resources", "requests", "memory")] = new_text
        # Sizing is per environment: the same workload elsewhere (another overlay) keeps its limit.
        expectation = Expectation(target, required, other_environments=False)
        olds = {str(limit_text)} | ({str(request)} if follows else set())
        candidates = line_candidates(tree.root, lambda key, value: new_text if str(value) in olds else None,
                                     prefer=frozenset({"memory", "value"}))
        return _prove_and_propose(
            snapshot, tree, attempt, expectation, candidates, playbook=self.name,
            summary=f"Raise memory limit of {target.container}: {limit_text} -> {new_text}",
            rationale=(f"Container {target.container} of {target.describe()} was OOMKilled "
                       f"({facts.get('restart_count')} restarts) at its {limit_text} limit. Rule: double the limit, "
                       f"rounded up to 64Mi, at most 4Gi; the request "
                       + ("equals the limit (Guaranteed QoS) and follows it." if follows else "stays as it is.")
                       + " Only this container's resources change in what is deployed."),
            confidence=self.confidence,
            recommended_checks=["no OOMKilled restarts during the observation window",
                                "memory working set stays under 80% of the new limit",
                                "the namespace's ResourceQuota still admits the pods"])


# -- ConfigMap / Secret key reference --------------------------------------------------------------------------

@dataclass
class ConfigKeyPlaybook(Playbook):
    name: str = "configmap-key-typo"
    preconditions: str = ("a container cannot start because a ConfigMap (or Secret) key it references is missing; "
                          "the keys that exist are known (cluster for ConfigMaps, the repository for Secrets); one "
                          "key is strictly closest (Damerau-Levenshtein, within len/4 edits); ties are refused")
    confidence: float = 0.85

    def propose(self, snapshot: Snapshot, tree: Worktree, attempts: list[Attempt]) -> Proposal | None:
        findings = [f for f in _of_kind(snapshot, "config-error")
                    if f["facts"].get("missing_key") or f["facts"].get("missing_secret_key")]
        attempt = _begin(self.name, findings, attempts, "no missing ConfigMap or Secret key in the snapshot")
        if attempt is None:
            return None
        facts = findings[0]["facts"]
        target = _target(snapshot, facts, attempt)
        if target is None:
            return None
        secret = not facts.get("missing_key")
        missing = str(facts.get("missing_secret_key") if secret else facts.get("missing_key"))
        ref = "secretKeyRef" if secret else "configMapKeyRef"
        env = target.live_container.get("env") or []
        if "[REDACTED" in missing:  # the collector masked the key: the references whose key the object lacks
            lacking = {str(_get(e, "valueFrom", ref, "key")) for e in env
                       if _get(e, "valueFrom", ref, "key") is not None and str(_get(e, "valueFrom", ref, "key"))
                       not in self._keys(tree, snapshot, secret, str(_get(e, "valueFrom", ref, "name")))}
            if len(lacking) != 1:
                return _no_fix(attempt, f"the missing key was redacted and {len(lacking)} references lack their key")
            (missing,) = lacking
        # Which object: the container's own reference (the event's text may be redacted or truncated).
        entries = [(index, _get(entry, "valueFrom", ref) or {}) for index, entry in enumerate(env)
                   if _get(entry, "valueFrom", ref, "key") == missing]
        names = {str(found.get("name")) for _, found in entries}
        if len(names) != 1:
            return _no_fix(attempt, f"container {target.container} references key {missing!r} through "
                                    f"{len(names)} {ref} objects: not one to fix")
        (source,) = names
        keys = self._keys(tree, snapshot, secret, source)
        if not keys:
            return _no_fix(attempt, f"the keys of {'Secret' if secret else 'ConfigMap'} {source} are unknown")
        new, why = closest(missing, keys)
        attempt.notes.append(f"keys of {source}: {sorted(keys)}; {why}")
        if new is None:
            return _no_fix(attempt)
        required: dict[tuple[str, ...], Any] = {("env", f"[{index}]", "valueFrom", ref, "key"): new
                                                for index, _ in entries}
        expectation = Expectation(target, required)
        candidates = line_candidates(tree.root, lambda key, value: new if value == missing else None,
                                     prefer=frozenset({"key", "value"}))
        return _prove_and_propose(
            snapshot, tree, attempt, expectation, candidates, playbook=self.name,
            summary=f"Fix {'Secret' if secret else 'ConfigMap'} key reference: {missing} -> {new}",
            rationale=(f"Container {target.container} cannot start: {source} has no key {missing!r}. It has "
                       f"{new!r}, the one strictly closest key ({why})."),
            confidence=self.confidence, recommended_checks=[f"{target.container} starts and reads {new}"])

    def _keys(self, tree: Worktree, snapshot: Snapshot, secret: bool, name: str) -> list[str]:
        return self._secret_keys(tree, snapshot, name) if secret else self._configmap_keys(snapshot, name)

    @staticmethod
    def _configmap_keys(snapshot: Snapshot, name: str) -> list[str]:
        configmaps = (snapshot.json_file("objects/configmaps.json") or {}).get("configmaps", [])
        return [str(k) for c in configmaps if c.get("name") == name for k in c.get("keys") or []]

    @staticmethod
    def _secret_keys(tree: Worktree, snapshot: Snapshot, name: str) -> list[str]:
        keys: set[str] = set()
        for root in render_all(tree.root, render_context(snapshot)).values():
            for key, obj in root.objects.items():
                if key[2] != name:
                    continue
                if key[0] == "Secret":
                    keys |= {str(k) for k in {**(obj.get("data") or {}), **(obj.get("stringData") or {})}}
                elif key[0] == "SealedSecret":
                    keys |= {str(k) for k in ((obj.get("spec") or {}).get("encryptedData") or {})}
                elif key[0] == "ExternalSecret":
                    keys |= {str(d.get("secretKey")) for d in (obj.get("spec") or {}).get("data") or []
                             if isinstance(d, dict) and d.get("secretKey")}
        return sorted(keys)


# -- env var name vs source ------------------------------------------------------------------------------------

_MISSING_ENV = (re.compile(r"KeyError: '([A-Z][A-Z0-9_]{2,})'"),
                re.compile(r"""(?i)(?:env(?:ironment)?(?: variable| var)?)\s+["'`]?([A-Z][A-Z0-9_]{2,})["'`]?\s+"""
                           r"""(?:is\s+)?(?:not set|unset|missing|required|undefined|empty)"""),
                re.compile(r"""(?i)(?:missing|required|undefined|unset)\s+(?:required\s+)?env(?:ironment)?"""
                           r"""(?: variable| var)?:?\s+["'`]?([A-Z][A-Z0-9_]{2,})"""),
                re.compile(r"""\b([A-Z][A-Z0-9_]{2,})\s+(?:is\s+)?(?:not set|must be set|is required|is undefined)"""))


def missing_env_names(lines: list[str]) -> list[str]:
    names: list[str] = []
    for line in lines:
        for pattern in _MISSING_ENV:
            names += [n for n in pattern.findall(line) if n not in names]
    return names


def crash_lines(snapshot: Snapshot, finding: dict[str, Any], tail: int = 60) -> list[str]:
    """The crash's last lines: the finding's excerpt and the end of the container's previous log."""
    facts = finding.get("facts") or {}
    lines = [str(x) for x in facts.get("last_lines") or []] + str(finding.get("detail") or "").splitlines()
    pod, container = facts.get("pod"), facts.get("container")
    if isinstance(pod, str) and isinstance(container, str) and "/" not in pod + container and ".." not in pod:
        path = snapshot.root / "logs" / pod / f"{container}.previous.log"
        if path.is_file():
            with path.open("rb") as handle:
                lines += handle.read(MAX_LOG_BYTES).decode("utf-8", errors="replace").splitlines()[-tail:]
    return lines


@dataclass
class EnvNamePlaybook(Playbook):
    name: str = "env-var-name"
    preconditions: str = ("a container crashes because an environment variable is missing (KeyError, 'not set'); "
                          "the source reads that name (os.environ/os.getenv/process.env/os.Getenv...); the container "
                          "sets exactly one strictly closest name that the source never reads")
    confidence: float = 0.85

    def propose(self, snapshot: Snapshot, tree: Worktree, attempts: list[Attempt]) -> Proposal | None:
        findings = [f for f in _of_kind(snapshot, "crash-loop") if missing_env_names(crash_lines(snapshot, f))]
        attempt = _begin(self.name, findings, attempts, "no crash on a missing environment variable in the snapshot")
        if attempt is None:
            return None
        facts = findings[0]["facts"]
        target = _target(snapshot, facts, attempt)
        if target is None:
            return None
        reads = source_env_reads(tree.root)
        wanted = [n for n in missing_env_names(crash_lines(snapshot, findings[0])) if n in reads]
        if len(wanted) != 1:
            return _no_fix(attempt, f"the missing variable the source reads is not one name: {wanted or 'none'}")
        (missing,) = wanted
        env = target.live_container.get("env") or []
        names = [str(e.get("name")) for e in env if isinstance(e, dict)]
        if missing in names:
            return _no_fix(attempt, f"{target.container} sets {missing} already: the crash has another cause")
        unread = [n for n in names if n not in reads]
        new_name_for, why = closest(missing, unread)
        attempt.notes.append(f"the code reads {missing} ({', '.join(reads[missing][:2])}); env names the code never "
                             f"reads: {unread or 'none'}; {why}")
        if new_name_for is None:
            return _no_fix(attempt)
        old = new_name_for
        required: dict[tuple[str, ...], Any] = {("env", f"[{index}]", "name"): missing
                                                for index, name in enumerate(names) if name == old}
        expectation = Expectation(target, required)
        candidates = line_candidates(tree.root, lambda key, value: missing if value == old else None,
                                     rename=lambda key: missing if key == old else None,
                                     prefer=frozenset({"name", "value"}))
        return _prove_and_propose(
            snapshot, tree, attempt, expectation, candidates, playbook=self.name,
            summary=f"Rename env var of {target.container}: {old} -> {missing}",
            rationale=(f"{target.describe()} crashes: the code reads {missing} ({', '.join(reads[missing][:2])}), "
                       f"which the container does not set; it sets {old}, which the code never reads ({why})."),
            confidence=self.confidence, recommended_checks=[f"{target.container} starts and stays up"])


# -- image tag -------------------------------------------------------------------------------------------------

@dataclass
class ImageTagPlaybook(Playbook):
    """An image tag that names another commit than the one built: CI tags images with the commit hash."""

    name: str = "image-tag-commit"
    preconditions: str = ("the image pull fails; its tag is a hex commit prefix that is not a prefix of the deployed "
                          "commit (known from the snapshot); the tag becomes the deployed commit's prefix of the same "
                          "length, wherever it lives (image:, kustomize images: newTag, Helm image.tag)")
    confidence: float = 0.7

    def propose(self, snapshot: Snapshot, tree: Worktree, attempts: list[Attempt]) -> Proposal | None:
        findings = _of_kind(snapshot, "image-pull")
        attempt = _begin(self.name, findings, attempts, "no image pull failure in the snapshot")
        if attempt is None:
            return None
        facts = findings[0]["facts"]
        target = _target(snapshot, facts, attempt)
        if target is None:
            return None
        commit = (snapshot.manifest.get("source") or {}).get("commit_sha")
        image = str(target.live_container.get("image") or "")
        repository, _, tag = image.rpartition(":")
        if "@" in image or not commit or not repository or "/" in tag or not re.fullmatch(r"[0-9a-f]{7,40}", tag):
            return _no_fix(attempt, f"tag of {image!r} is not a commit hash, or the deployed commit is unknown")
        if str(commit).startswith(tag):
            return _no_fix(attempt, f"{image} already names the deployed commit; the registry lacks the image")
        new_tag = str(commit)[:len(tag)]
        new_image = f"{repository}:{new_tag}"
        expectation = Expectation(target, {("image",): new_image})

        def choose(key: str, value: Any) -> Any:
            if value == image:
                return new_image
            if value == tag or (key in {"tag", "newTag"} and isinstance(value, str)):
                return new_tag
            return None

        return _prove_and_propose(
            snapshot, tree, attempt, expectation,
            line_candidates(tree.root, choose, prefer=frozenset({"image", "tag", "newTag", "value"})),
            playbook=self.name,
            summary=f"Point the image at the deployed commit: {tag} -> {new_tag}",
            rationale=(f"The pull of {image} fails. Its tag names commit {tag}, but the workload runs commit "
                       f"{str(commit)[:12]}, whose image is tagged {new_tag} by the same convention."),
            confidence=self.confidence,
            recommended_checks=[f"{new_image} exists in the registry", "the pods pull the image and start"])


# -- what a model's change must make sense as --------------------------------------------------------------------

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
            if not ok or route_role(str(new)) not in _TIERS.get(role, ()):
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


# -- out of class ----------------------------------------------------------------------------------------------

_OUTAGE = re.compile(r"(?i)connection refused|could not connect|couldn't connect|timed? ?out|no route to host|"
                     r"name or service not known|temporary failure in name resolution|ECONNREFUSED|ETIMEDOUT|"
                     r"unavailable")


@dataclass
class OutOfClassNotes(Playbook):
    """Never proposes: says why findings no playbook handles are not fixed by a change to the repository."""

    name: str = "out-of-class"
    preconditions: str = "none: explains findings that no playbook fixes"
    confidence: float = 0.0

    def propose(self, snapshot: Snapshot, tree: Worktree, attempts: list[Attempt]) -> Proposal | None:
        notes = []
        for finding in snapshot.findings:
            if not isinstance(finding, dict) or not isinstance(finding.get("facts"), dict):
                continue
            facts = finding["facts"]
            if finding.get("kind") == "unschedulable":
                notes.append(f"{facts.get('pod')} cannot be scheduled ({str(facts.get('message'))[:120]}): a capacity "
                             "or placement problem of the cluster, not fixed by a change to the repository")
            elif finding.get("kind") == "crash-loop" and not missing_env_names(crash_lines(snapshot, finding)):
                lines = " | ".join(x.strip() for x in crash_lines(snapshot, finding)[-2:])[:200]
                cause = "a dependency it cannot reach" if _OUTAGE.search(lines) else "an application exception"
                notes.append(f"{facts.get('pod')}/{facts.get('container')} crashes on {cause} ({lines}): not a "
                             "configuration mistake a playbook can prove; a person (or the LLM engine) decides")
            elif finding.get("kind") == "probe-failure" and (_status(finding) or 0) >= 500:
                notes.append(f"the {facts.get('probe')} probe of {facts.get('pod')} gets HTTP "
                             f"{facts.get('status_code')}: the app is unhealthy, the probe is not misconfigured")
        if notes:
            attempts.append(Attempt("playbook", self.name, "no_fix", notes[:5]))
        return None


CORE_PLAYBOOKS: tuple[Playbook, ...] = (ProbePathPlaybook(), PortChainPlaybook(), ConfigKeyPlaybook(),
                                        EnvNamePlaybook(), OomPlaybook(), ImageTagPlaybook())
_registry: list[tuple[Playbook, ...]] = []


def __getattr__(name: str) -> tuple[Playbook, ...]:
    """PLAYBOOKS, in the order they are tried. The everyday classes live in their own modules, which build on
    this one's helpers, so the full list is assembled on first use."""
    if name != "PLAYBOOKS":
        raise AttributeError(name)
    if not _registry:
        from fix_agent.playbooks_command import CommandOverridePlaybook
        from fix_agent.playbooks_image import ImageRollbackPlaybook
        from fix_agent.playbooks_placement import NodePlacementPlaybook
        from fix_agent.playbooks_rbac import RbacGrantPlaybook
        from fix_agent.playbooks_service import ServiceSelectorPlaybook
        from fix_agent.playbooks_stock_probe import StockProbePlaybook

        _registry.append((*CORE_PLAYBOOKS, ImageRollbackPlaybook(), StockProbePlaybook(), ServiceSelectorPlaybook(),
                          CommandOverridePlaybook(), NodePlacementPlaybook(), RbacGrantPlaybook(),
                          OutOfClassNotes()))
    return _registry[0]
