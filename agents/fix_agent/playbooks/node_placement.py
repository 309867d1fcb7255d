"""A pod no node accepts because of its nodeSelector / required node affinity, which the workload does not need.

The scheduler says `didn't match Pod's node affinity/selector` (and nothing about capacity). When
no container requests an extended resource (a GPU, `vendor/resource`), nothing in the workload
needs the special nodes: the nodeSelector and the required node affinity go. With such a request
beside it the placement is likely intentional (the nodes are missing, not the rule wrong): no_fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fix_agent.identity import locate, snapshot_objects
from fix_agent.line_edits import block_candidates
from fix_agent.playbooks.playbook import (
    Playbook,
    begin_attempt,
    findings_of_kind,
    no_fix,
    prove_and_propose,
)
from fix_agent.proof import Expectation
from fix_agent.proposal import Attempt, Proposal
from fix_agent.rendering import containers, flatten
from fix_agent.snapshot import Snapshot
from fix_agent.worktree import Worktree

SELECTOR_MISMATCH = re.compile(r"didn't match (?:Pod's )?node affinity/selector|node\(s\) didn't match node selector")
CAPACITY = re.compile(r"(?i)Insufficient|untolerated taint|had taint|volume node affinity|didn't have free ports")


def extended_requests(pod: dict[str, Any]) -> list[str]:
    """Resources other than cpu/memory/storage that a container asks for (nvidia.com/gpu, ...)."""
    found: set[str] = set()
    for container in containers(pod):
        resources = container.get("resources") or {}
        for part in ("requests", "limits"):
            found |= {str(r) for r in (resources.get(part) or {}) if "/" in str(r) and not str(r).startswith(
                "hugepages-")}
    return sorted(found)


@dataclass
class NodePlacementPlaybook(Playbook):
    name: str = "node-placement"
    preconditions: str = ("pods are unschedulable only because no node matches their nodeSelector / required node "
                          "affinity (no capacity or taint reason); no container requests an extended resource (GPU); "
                          "the nodeSelector and required node affinity go")
    confidence: float = 0.6

    def propose(self, snapshot: Snapshot, tree: Worktree, attempts: list[Attempt]) -> Proposal | None:
        findings = [f for f in findings_of_kind(snapshot, "unschedulable")
                    if SELECTOR_MISMATCH.search(str(f["facts"].get("message") or ""))]
        attempt = begin_attempt(self.name, findings, attempts, "no pod unschedulable on a node selector or affinity")
        if attempt is None:
            return None
        facts = findings[0]["facts"]
        message = str(facts.get("message") or "")
        if other := CAPACITY.search(message):
            return no_fix(attempt, f"the scheduler also reports {other[0]!r}: not only the placement rule")
        pods = [p for p in snapshot_objects(snapshot, "objects/pods.jsonl")
                if (p.get("metadata") or {}).get("name") == facts.get("pod")]
        first = next(iter(containers(pods[0])), None) if pods else None
        target = locate(snapshot, facts.get("pod"), (first or {}).get("name"))
        if isinstance(target, str):
            return no_fix(attempt, f"cannot tell which workload fails: {target}")
        spec = pods[0].get("spec") or {}
        placement: dict[str, Any] = {}
        if spec.get("nodeSelector"):
            placement["nodeSelector"] = spec["nodeSelector"]
        node_affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
        if node_affinity:
            placement["affinity"] = {"nodeAffinity": node_affinity}
        if not placement:
            return no_fix(attempt, f"{target.kind.lower()}/{target.name} has no nodeSelector or node affinity to "
                                    "correct")
        if extended := extended_requests(pods[0]):
            return no_fix(attempt, f"{target.kind.lower()}/{target.name} requests {', '.join(extended)}: its "
                                    f"placement {placement} is likely intentional; the cluster lacks such nodes, "
                                    "a person decides")
        attempt.notes.append(f"{target.kind.lower()}/{target.name} asks for {placement}, which no node matches, and "
                             "needs no special resource")
        expectation = Expectation(target, {}, pod_required={path: None for path in flatten(placement)},
                                  check_chain=False)
        return prove_and_propose(
            snapshot, tree, attempt, expectation,
            block_candidates(tree.root, frozenset(k for k in ("nodeSelector", "nodeAffinity")
                                                  if k in placement or (k == "nodeAffinity" and node_affinity))),
            playbook=self.name,
            summary=f"Drop the node placement of {target.kind.lower()}/{target.name} that no node matches",
            rationale=(f"Pods of {target.kind.lower()}/{target.name} cannot be scheduled: {message[:200]} They ask "
                       f"for {placement}, and no container requests a resource that needs special nodes."),
            confidence=self.confidence, recommended_checks=[f"the pods of {target.name} are scheduled and ready"])
