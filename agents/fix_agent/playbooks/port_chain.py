"""A port chain (containerPort, probes, Service targetPort) on a port the app does not listen on: moved to its port."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fix_agent.identity import Target, locate, snapshot_objects
from fix_agent.line_edits import line_candidates
from fix_agent.playbooks.app_source import exposed_ports
from fix_agent.playbooks.playbook import (
    Playbook,
    begin_attempt,
    failing_target,
    field_at,
    findings_of_kind,
    no_fix,
    prove_and_propose,
)
from fix_agent.playbooks.pod_logs import (
    listen_ports,
    pod_log,
)
from fix_agent.proof import Expectation
from fix_agent.proposal import Attempt, Proposal
from fix_agent.snapshot import Snapshot
from fix_agent.worktree import Worktree


@dataclass
class PortChainPlaybook(Playbook):
    name: str = "port-chain"
    preconditions: str = ("a probe's connection is refused, or a Service targets a port no pod declares; the app "
                          "listens on exactly one port (its logs, else the Dockerfile's EXPOSE); every element of "
                          "the chain on the old port (containerPort, probe ports, Service targetPort) moves to it")
    confidence: float = 0.8

    def propose(self, snapshot: Snapshot, tree: Worktree, attempts: list[Attempt]) -> Proposal | None:
        refused = [f for f in findings_of_kind(snapshot, "probe-failure")
                   if "refused" in str(f["facts"].get("message", ""))]
        mismatched = findings_of_kind(snapshot, "service-port-mismatch")
        attempt = begin_attempt(self.name, refused + mismatched, attempts,
                         "no refused probe and no Service targeting an undeclared port in the snapshot")
        if attempt is None:
            return None
        if refused:
            facts = refused[0]["facts"]
            target = failing_target(snapshot, facts, attempt)
            if target is None:
                return None
            port = field_at(target.live_container, f"{facts.get('probe')}Probe", "httpGet", "port") or \
                field_at(target.live_container, f"{facts.get('probe')}Probe", "tcpSocket", "port")
        else:
            facts = mismatched[0]["facts"]
            found = self._service_target(snapshot, str(facts.get("service")))
            if isinstance(found, str):
                return no_fix(attempt, found)
            target = found
            attempt.notes.append(f"failing container: {target.describe()} (behind Service {facts.get('service')})")
            port = facts.get("target_port")
        ports = target.live_container.get("ports") or []
        if isinstance(port, str):
            port = next((p.get("containerPort") for p in ports if p.get("name") == port), None)
        if not isinstance(port, int):
            return no_fix(attempt, "the failing port is not a number the container declares")
        listening = listen_ports(pod_log(snapshot, target)) or exposed_ports(tree.root)
        attempt.notes.append(f"ports the app listens on (logs, else Dockerfile EXPOSE): {sorted(listening) or '?'}")
        if len(listening) != 1:
            return no_fix(attempt, "the app's listening port is unknown or not unique")
        (new,) = listening
        if new == port:
            return no_fix(attempt, f"the app listens on {port} already: the refusal has another cause")
        required: dict[tuple[str, ...], Any] = {}
        for index, entry in enumerate(ports):
            if entry.get("containerPort") == port:
                required[("ports", f"[{index}]", "containerPort")] = new
        for role in ("readinessProbe", "livenessProbe", "startupProbe"):
            for handler in ("httpGet", "tcpSocket", "grpc"):
                if field_at(target.live_container, role, handler, "port") == port:
                    required[(role, handler, "port")] = new
        expectation = Expectation(target, required, service_ports={port: new})
        candidates = line_candidates(tree.root, lambda key, value: new if value == port else None,
                                     prefer=frozenset({"containerPort", "port", "targetPort", "value"}))
        return prove_and_propose(
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
