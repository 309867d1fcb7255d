"""Deterministic fixes that the evidence and the source determine, tried before any model.

Each playbook reads the snapshot's findings, looks in the source for where the setting
really lives (plain manifests, kustomize overlays and patches, Helm values), and edits
it there with ruamel.yaml so comments and order survive. A playbook that is not sure
proposes nothing and says why.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fix_agent import yaml_edit
from fix_agent.proposal import Attempt, Proposal
from fix_agent.snapshot import Snapshot
from fix_agent.worktree import Worktree

SOURCE_SUFFIXES = {".py", ".js", ".ts", ".mjs", ".go", ".rb", ".java", ".kt", ".rs", ".php", ".cs"}
HEALTH_ROUTE = re.compile(r"""["'`](/(?:health|healthz|healthcheck|ready|readyz|readiness|live|livez|liveness|ping|"""
                          r"""status|_health|-/healthy|-/ready)[\w/.-]*)["'`]""")
EXPOSE = re.compile(r"(?im)^\s*EXPOSE\s+(\d{2,5})")
MI = 1024 * 1024
MEMORY_CAP = 4 * 1024 * MI
_UNITS = {"Ki": 1024, "Mi": MI, "Gi": 1024 * MI, "K": 1000, "M": 1000**2, "G": 1000**3, "": 1}


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


def source_routes(root: Path, limit_files: int = 5000) -> dict[str, list[str]]:
    """Health-like routes in the application's code: path -> where (file:line)."""
    routes: dict[str, list[str]] = {}
    for count, path in enumerate(sorted(root.rglob("*"))):
        if count > limit_files:
            break
        if path.suffix not in SOURCE_SUFFIXES or not path.is_file() or ".git" in path.parts:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            for route in HEALTH_ROUTE.findall(line):
                routes.setdefault(route, []).append(f"{path.relative_to(root).as_posix()}:{number}")
    return routes


def exposed_ports(root: Path) -> set[int]:
    ports: set[int] = set()
    for dockerfile in root.rglob("Dockerfile*"):
        if dockerfile.is_file() and ".git" not in dockerfile.parts:
            ports |= {int(p) for p in EXPOSE.findall(dockerfile.read_text(encoding="utf-8", errors="replace"))}
    return ports


Match = tuple[yaml_edit.YamlFile, yaml_edit.KeyPath, Any, Any]


def _set_all(changes: list[tuple[Match, Any]]) -> dict[str, str]:
    """Set each matched scalar to its new value; the new text of every file touched."""
    changed: dict[str, yaml_edit.YamlFile] = {}
    for (loaded, key_path, parent, _), value in changes:
        yaml_edit.set_scalar(parent, key_path, value)
        changed[loaded.relative] = loaded
    return {relative: loaded.dump() for relative, loaded in changed.items()}


def _edits(matches: list[Match], new_value: Callable[[Any], Any]) -> dict[str, str]:
    return _set_all([(match, new_value(match[3])) for match in matches])


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


def _lower(path: yaml_edit.KeyPath) -> str:
    return ".".join(str(p) for p in path).lower()


@dataclass
class ProbePlaybook:
    """A probe's path or port does not match what the app serves."""

    name: str = "probe-path"

    def propose(self, snapshot: Snapshot, tree: Worktree, attempts: list[Attempt]) -> Proposal | None:
        findings = snapshot.of_kind("probe-failure")
        attempt = _begin(self.name, findings, attempts, "no probe-failure finding in the snapshot")
        if attempt is None:
            return None
        facts = findings[0]["facts"]
        probe, old_path, old_port = facts.get("probe"), facts.get("path"), facts.get("port")
        if facts.get("status_code") and 400 <= int(facts["status_code"]) < 500 and old_path:
            return self._fix_path(snapshot, tree, attempt, str(probe), str(old_path), findings)
        if "refused" in str(facts.get("message", "")) and isinstance(old_port, int):
            return self._fix_port(snapshot, tree, attempt, str(probe), old_port, findings)
        attempt.notes.append(f"probe fails with {facts.get('message')!r}: neither a 4xx nor a refused connection")
        return None

    def _fix_path(self, snapshot: Snapshot, tree: Worktree, attempt: Attempt, probe: str, old_path: str,
                  findings: list[dict[str, Any]]) -> Proposal | None:
        routes = source_routes(tree.root)
        served = {path for path, codes in snapshot.served_paths().items() if any(200 <= c < 400 for c in codes)}
        candidates = [p for p in routes if p in served and p != old_path] or \
                     [p for p in routes if p != old_path and p not in snapshot.served_paths()]
        attempt.notes.append(f"health routes in the source: {sorted(routes) or 'none'}; answered 2xx/3xx in the "
                             f"logs: {sorted(served) or 'none'}")
        if not candidates:
            return _no_fix(attempt, f"no served route to point the {probe} probe at instead of {old_path}")
        new_path = max(candidates, key=lambda p: difflib.SequenceMatcher(None, p, old_path).ratio())
        matches = yaml_edit.find(tree.root, lambda key, value: value == old_path and key[-1] == "path"
                                 and (probe in _lower(key) or "probe" in _lower(key)))
        if not matches:
            matches = yaml_edit.find(tree.root, lambda key, value: value == old_path
                                     and any(word in _lower(key) for word in (probe, "probe", "health")))
        if not matches:
            return _no_fix(attempt, f"no YAML in the repository sets the {probe} probe path {old_path}")
        edits = _edits(matches, lambda _: new_path)
        confirmed = new_path in served
        attempt.outcome = "proposed"
        where = ", ".join(routes[new_path][:3])
        status = findings[0]["facts"].get("status_code")
        return Proposal(
            engine="playbook", playbook=self.name,
            summary=f"Fix {probe} probe path: {old_path} -> {new_path}",
            rationale=(f"The {probe} probe requests {old_path} and gets HTTP {status} ({len(findings)} pod(s) "
                       f"affected). The application serves {new_path} ({where})"
                       + (", and answered it with 2xx in the collected logs." if confirmed else ".")
                       + f" The probe is set in {', '.join(sorted(edits))}; only that value changes."),
            confidence=0.9 if confirmed else 0.7,
            recommended_checks=[f"the {probe} probe on {new_path} succeeds in preflight",
                                "all replicas become Ready after the rollout",
                                f"GET {new_path} answers 200 on the service"],
            edits=edits)

    def _fix_port(self, snapshot: Snapshot, tree: Worktree, attempt: Attempt, probe: str, old_port: int,
                  findings: list[dict[str, Any]]) -> Proposal | None:
        listening = snapshot.listen_ports() or exposed_ports(tree.root)
        attempt.notes.append(f"ports the app listens on (logs, Dockerfile EXPOSE): {sorted(listening) or 'unknown'}")
        if len(listening) != 1 or old_port in listening:
            return _no_fix(attempt)
        (new_port,) = listening
        matches = yaml_edit.find(tree.root, lambda key, value: value == old_port and key[-1] == "port"
                                 and (probe in _lower(key) or "probe" in _lower(key)))
        if not matches:
            return _no_fix(attempt, f"no YAML sets the {probe} probe port {old_port}")
        attempt.outcome = "proposed"
        return Proposal(
            engine="playbook", playbook="probe-port",
            summary=f"Fix {probe} probe port: {old_port} -> {new_port}",
            rationale=f"The {probe} probe connects to port {old_port} and is refused; the application listens on "
                      f"{new_port}.", confidence=0.8,
            recommended_checks=[f"the {probe} probe succeeds in preflight"], edits=_edits(matches, lambda _: new_port))


@dataclass
class OomPlaybook:
    """OOMKilled: raise the memory limit by a documented rule.

    The limit doubles, rounded up to a multiple of 64Mi, at most 4Gi (at the cap: no fix, a
    person decides). A request equal to the old limit (Guaranteed QoS) follows the new limit;
    a request under half the new limit is raised to half of it; others stay.
    """

    name: str = "oom-memory-limit"

    def propose(self, snapshot: Snapshot, tree: Worktree, attempts: list[Attempt]) -> Proposal | None:
        findings = snapshot.of_kind("oom-killed")
        attempt = _begin(self.name, findings, attempts, "no oom-killed finding in the snapshot")
        if attempt is None:
            return None
        limit_text = findings[0]["facts"].get("memory_limit")
        current = parse_memory(limit_text) if limit_text else None
        if current is None:
            return _no_fix(attempt, "the killed container has no memory limit to raise")
        new = raised_memory_limit(current)
        if new is None:
            return _no_fix(attempt, f"memory limit {limit_text} is already at the {format_memory(MEMORY_CAP)} cap")
        # One load for limits and requests, so both edits land in the same dumped file.
        found = yaml_edit.find(tree.root, lambda key, value: _lower(key).endswith(("limits.memory",
                                                                                 "requests.memory")))
        limits = [m for m in found if _lower(m[1]).endswith("limits.memory") and str(m[3]) == str(limit_text)]
        if not limits:
            return _no_fix(attempt, f"no YAML sets resources.limits.memory: {limit_text}")
        new_text = format_memory(new)
        owners = {(id(m[0]), m[1][:-2]) for m in limits}  # the resources blocks whose limit changes
        changes: list[tuple[Match, Any]] = [(m, new_text) for m in limits]
        for match in found:
            if not _lower(match[1]).endswith("requests.memory") or (id(match[0]), match[1][:-2]) not in owners:
                continue
            request = parse_memory(str(match[3])) or 0
            if request == current:  # Guaranteed QoS (request == limit) stays Guaranteed
                changes.append((match, new_text))
            elif request < new // 2:
                changes.append((match, format_memory(new // 2)))
        edits = _set_all(changes)
        attempt.outcome = "proposed"
        facts = findings[0]["facts"]
        return Proposal(
            engine="playbook", playbook=self.name,
            summary=f"Raise memory limit of {facts.get('container')}: {limit_text} -> {new_text}",
            rationale=(f"Container {facts.get('container')} of {facts.get('pod')} was OOMKilled "
                       f"({facts.get('restart_count')} restarts) at its {limit_text} limit. Rule: double the limit, "
                       f"rounded up to 64Mi, at most 4Gi; the request is raised to half the limit when it is lower."),
            confidence=0.75,
            recommended_checks=["no OOMKilled restarts during the observation window",
                                "memory working set stays under 80% of the new limit",
                                "the namespace's ResourceQuota still admits the pods"],
            edits=edits)


@dataclass
class ConfigMapKeyPlaybook:
    """A ConfigMap key referenced with a typo of an existing key."""

    name: str = "configmap-key-typo"

    def propose(self, snapshot: Snapshot, tree: Worktree, attempts: list[Attempt]) -> Proposal | None:
        findings = [f for f in snapshot.of_kind("config-error") if f["facts"].get("missing_key")]
        attempt = _begin(self.name, findings, attempts, "no missing ConfigMap key in the snapshot")
        if attempt is None:
            return None
        facts = findings[0]["facts"]
        missing, configmap = facts["missing_key"], facts.get("configmap")
        configmaps = (snapshot.json_file("objects/configmaps.json") or {}).get("configmaps", [])
        keys: list[str] = next((c["keys"] for c in configmaps if c["name"] == configmap), [])
        close = difflib.get_close_matches(missing, keys, n=2, cutoff=0.8)
        attempt.notes.append(f"keys of ConfigMap {configmap}: {keys}; close to {missing!r}: {close}")
        if len(close) != 1:
            return _no_fix(attempt)
        matches = yaml_edit.find(tree.root, lambda key, value: value == missing and _lower(key).endswith(
            "configmapkeyref.key"))
        if not matches:
            return _no_fix(attempt, f"no configMapKeyRef with key {missing!r} in the repository")
        attempt.outcome = "proposed"
        return Proposal(
            engine="playbook", playbook=self.name,
            summary=f"Fix ConfigMap key reference: {missing} -> {close[0]}",
            rationale=(f"Container {facts.get('container')} cannot start: the ConfigMap {configmap} has no key "
                       f"{missing!r}. It has {close[0]!r}, a near match (the reference has a typo)."),
            confidence=0.85,
            recommended_checks=[f"{facts.get('container')} starts and reads {close[0]}"],
            edits=_edits(matches, lambda _: close[0]))


@dataclass
class ServicePortPlaybook:
    """A Service targetPort that no selected pod exposes, where the pods expose exactly one port."""

    name: str = "service-target-port"

    def propose(self, snapshot: Snapshot, tree: Worktree, attempts: list[Attempt]) -> Proposal | None:
        findings = snapshot.of_kind("service-port-mismatch")
        attempt = _begin(self.name, findings, attempts, "no service-port-mismatch finding in the snapshot")
        if attempt is None:
            return None
        facts = findings[0]["facts"]
        ports = facts.get("container_ports") or []
        if len(ports) != 1:
            return _no_fix(attempt, f"the pods expose {ports}: not one port to point at")
        old, new = facts["target_port"], ports[0]
        matches = []
        for relative in yaml_edit.yaml_files(tree.root):
            loaded = yaml_edit.load(tree.root, relative)
            for document in loaded.documents if loaded else []:
                if isinstance(document, dict) and document.get("kind") == "Service" and \
                        document.get("metadata", {}).get("name") == facts["service"]:
                    matches += [(loaded, key, parent, value) for key, parent, value in yaml_edit.walk(document)
                                if key[-1] == "targetPort" and value == old]
        if not matches:
            return _no_fix(attempt, f"no Service {facts['service']} with targetPort {old} in the repository")
        attempt.outcome = "proposed"
        return Proposal(
            engine="playbook", playbook=self.name,
            summary=f"Point service {facts['service']} at port {new} (was {old})",
            rationale=f"Service {facts['service']} sends traffic to port {old}; its pods expose only {new}.",
            confidence=0.8, recommended_checks=[f"service {facts['service']} has ready endpoints"],
            edits=_edits(matches, lambda _: new))  # type: ignore[arg-type]


@dataclass
class ImageTagPlaybook:
    """An image tag that names another commit than the one built: CI tags images with the commit hash.

    Applies only when the pull of that image fails and its tag is a hex commit prefix that is not
    a prefix of the deployed commit; the tag becomes the deployed commit's prefix of the same length.
    """

    name: str = "image-tag-commit"

    def propose(self, snapshot: Snapshot, tree: Worktree, attempts: list[Attempt]) -> Proposal | None:
        findings = snapshot.of_kind("image-pull")
        attempt = _begin(self.name, findings, attempts, "no image pull failure in the snapshot")
        if attempt is None:
            return None
        commit = snapshot.manifest.get("source", {}).get("commit_sha")
        image = str(findings[0]["facts"].get("image") or "")
        repository, _, tag = image.rpartition(":")
        if not commit or not repository or "/" in tag or not re.fullmatch(r"[0-9a-f]{7,40}", tag):
            return _no_fix(attempt, f"tag of {image!r} is not a commit hash, or the deployed commit is unknown")
        if commit.startswith(tag):
            return _no_fix(attempt, f"{image} already names the deployed commit; the registry lacks the image")
        new_image = f"{repository}:{commit[:len(tag)]}"
        matches = yaml_edit.find(tree.root, lambda key, value: value == image and key[-1] == "image")
        if not matches:
            return _no_fix(attempt, f"no YAML in the repository sets image {image}")
        attempt.outcome = "proposed"
        return Proposal(
            engine="playbook", playbook=self.name,
            summary=f"Point the image at the deployed commit: {tag} -> {commit[:len(tag)]}",
            rationale=(f"The pull of {image} fails. Its tag names commit {tag}, but the workload runs commit "
                       f"{commit[:12]}, whose image is tagged {commit[:len(tag)]} by the same convention."),
            confidence=0.7,
            recommended_checks=[f"{new_image} exists in the registry", "the pods pull the image and start"],
            edits=_edits(matches, lambda _: new_image))


PLAYBOOKS = (ProbePlaybook(), ConfigMapKeyPlaybook(), ServicePortPlaybook(), OomPlaybook(), ImageTagPlaybook())
