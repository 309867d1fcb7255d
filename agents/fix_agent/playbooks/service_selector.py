"""A Service that selects no pod: its selector is one label value off the workload it fronts.

The fix changes the Service's selector, never the workload's (a Deployment's selector is immutable,
and its pods' labels are what runs). The workload is found by identity: the pods whose labels have
every key of the selector and differ from it in exactly one value, traced through their owner
chain; it must be one workload, and it must declare the ports the Service targets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fix_agent.identity import Target, locate, snapshot_objects
from fix_agent.line_edits import line_candidates
from fix_agent.playbooks.playbook import (
    Playbook,
    begin_attempt,
    findings_of_kind,
    no_fix,
    prove_and_propose,
)
from fix_agent.proof import Expectation
from fix_agent.proposal import Attempt, Proposal
from fix_agent.rendering import containers
from fix_agent.snapshot import Snapshot
from fix_agent.worktree import Worktree


def one_value_off(selector: dict[str, Any], labels: dict[str, Any]) -> str | None:
    """The one selector key whose value the labels differ on, when the labels have every key; else None."""
    if not selector or not all(key in labels for key in selector):
        return None
    differing = [key for key, value in selector.items() if labels[key] != value]
    return differing[0] if len(differing) == 1 else None


def _declares(pod: dict[str, Any], port: Any) -> bool:
    ports = [p for c in containers(pod) for p in c.get("ports") or [] if isinstance(p, dict)]
    return any(p.get("name") == port if isinstance(port, str) else p.get("containerPort") == port for p in ports)


@dataclass
class ServiceSelectorPlaybook(Playbook):
    name: str = "service-selector"
    preconditions: str = ("a Service selects no pod; the pods of exactly one workload carry every key of its selector "
                          "and differ from it in exactly one label value; that workload declares every port the "
                          "Service targets; the Service's selector (never the workload's) takes the pods' value")
    confidence: float = 0.8

    def propose(self, snapshot: Snapshot, tree: Worktree, attempts: list[Attempt]) -> Proposal | None:
        findings = [f for f in findings_of_kind(snapshot, "service-no-pods")
                    if isinstance(f["facts"].get("service"), str)]
        attempt = begin_attempt(self.name, findings, attempts, "no Service that selects no pod in the snapshot")
        if attempt is None:
            return None
        name = findings[0]["facts"]["service"]
        services = [s for s in snapshot_objects(snapshot, "objects/services.jsonl")
                    if (s.get("metadata") or {}).get("name") == name]
        if len(services) != 1:
            return no_fix(attempt, f"Service {name} is not in the snapshot's objects/services.jsonl")
        spec = services[0].get("spec") or {}
        raw = spec.get("selector")
        selector: dict[str, Any] = dict(raw) if isinstance(raw, dict) else {}
        fronted: dict[tuple[str, str], tuple[Target, dict[str, Any], str]] = {}
        for pod in snapshot_objects(snapshot, "objects/pods.jsonl"):
            labels = (pod.get("metadata") or {}).get("labels") or {}
            key = one_value_off(selector, labels) if isinstance(labels, dict) else None
            first = next(iter(containers(pod)), None)
            if key is None or first is None:
                continue
            found = locate(snapshot, (pod.get("metadata") or {}).get("name"), first.get("name"))
            if isinstance(found, Target):
                fronted.setdefault((found.kind, found.name), (found, pod, key))
        if len(fronted) != 1:
            names = ", ".join(f"{k.lower()}/{n}" for k, n in sorted(fronted)) or "none"
            return no_fix(attempt, f"the pods one label value off Service {name}'s selector {selector} are not "
                                    f"those of exactly one workload: {names}")
        target, pod, key = next(iter(fronted.values()))
        ports = [p.get("targetPort", p.get("port")) for p in spec.get("ports") or [] if isinstance(p, dict)]
        missing = [p for p in ports if not _declares(pod, p)]
        if missing:
            return no_fix(attempt, f"{target.describe()} does not declare the port(s) {missing} Service {name} "
                                    "targets: it is not the workload the Service fronts")
        old, new = selector[key], target.live_labels[key]
        attempt.notes.append(f"Service {name} selects {key}={old}; the pods of {target.kind.lower()}/{target.name} "
                             f"carry {key}={new} and every other label of the selector")
        expectation = Expectation(target, {}, objects={("Service", name): {("spec", "selector", key): new}})
        candidates = line_candidates(tree.root, lambda k, v: new if k == key and v == old else None,
                                     prefer=frozenset({key}))
        return prove_and_propose(
            snapshot, tree, attempt, expectation, candidates, playbook=self.name,
            summary=f"Point Service {name} at its pods: selector {key}={old} -> {new}",
            rationale=(f"Service {name} selects no pod: its selector has {key}={old}, while the pods of "
                       f"{target.kind.lower()}/{target.name}, which declare every port it targets, carry {key}={new} "
                       "and all its other labels. The Service's selector changes; the workload's does not."),
            confidence=self.confidence, recommended_checks=[f"Service {name} has ready endpoints"])
