"""OOMKilled: the killed container's memory limit is raised by a documented rule."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fix_agent.line_edits import line_candidates
from fix_agent.playbooks.playbook import (
    Playbook,
    field_at,
    findings_of_kind,
    no_fix,
    open_case,
    prove_and_propose,
)
from fix_agent.proof import Expectation
from fix_agent.proposal import Attempt, Proposal
from fix_agent.snapshot import Snapshot
from fix_agent.worktree import Worktree

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
        findings = findings_of_kind(snapshot, "oom-killed")
        case = open_case(snapshot, self.name, findings, attempts, "no oom-killed finding in the snapshot")
        if case is None:
            return None
        attempt, target = case.attempt, case.target
        facts = case.facts
        limit_text = field_at(target.live_container, "resources", "limits", "memory")
        current = parse_memory(str(limit_text)) if limit_text is not None else None
        if current is None:
            return no_fix(attempt, "the killed container has no memory limit to raise")
        new = raised_memory_limit(current)
        if new is None:
            return no_fix(attempt, f"memory limit {limit_text} is already at the {format_memory(MEMORY_CAP)} cap")
        new_text = format_memory(new)
        required: dict[tuple[str, ...], Any] = {("resources", "limits", "memory"): new_text}
        request = field_at(target.live_container, "resources", "requests", "memory")
        follows = request is not None and parse_memory(str(request)) == current
        if follows:
            required[("resources", "requests", "memory")] = new_text
        # Sizing is per environment: the same workload elsewhere (another overlay) keeps its limit.
        expectation = Expectation(target, required, other_environments=False)
        olds = {str(limit_text)} | ({str(request)} if follows else set())
        candidates = line_candidates(tree.root, lambda key, value: new_text if str(value) in olds else None,
                                     prefer=frozenset({"memory", "value"}))
        return prove_and_propose(
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
