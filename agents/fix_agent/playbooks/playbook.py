"""What every playbook shares: its record of the attempt, the failing container, and the proof before a proposal."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from fix_agent.argocd_source import render_context
from fix_agent.identity import Target, locate, replicas
from fix_agent.line_edits import LineEdit
from fix_agent.proof import Expectation, Search
from fix_agent.proposal import Attempt, Proposal
from fix_agent.snapshot import Snapshot
from fix_agent.worktree import Worktree


def begin_attempt(name: str, findings: Collection[object], attempts: list[Attempt], nothing: str) -> Attempt | None:
    """Record a playbook's attempt; None, with the reason noted, when the evidence has nothing for it."""
    attempt = Attempt("playbook", name, "not_applicable")
    attempts.append(attempt)
    if not findings:
        attempt.notes.append(nothing)
        return None
    return attempt


def no_fix(attempt: Attempt, reason: str | None = None) -> Proposal | None:
    """The playbook applies but finds no safe fix: no proposal; the reason goes to analysis.md."""
    attempt.outcome = "no_fix"
    if reason:
        attempt.notes.append(reason)
    return None


def failing_target(snapshot: Snapshot, facts: dict[str, Any], attempt: Attempt) -> Target | None:
    found = locate(snapshot, facts.get("pod"), facts.get("container"))
    if isinstance(found, str):
        no_fix(attempt, f"cannot tell which workload fails: {found}")
        return None
    attempt.notes.append(f"failing container: {found.describe()} (pod {found.pod})")
    return found


@dataclass(frozen=True)
class Case:
    """A playbook's attempt at the first finding it handles, with that finding's failing container found."""

    attempt: Attempt
    finding: dict[str, Any]
    target: Target

    @property
    def facts(self) -> dict[str, Any]:
        return dict(self.finding["facts"])


def open_case(snapshot: Snapshot, name: str, findings: list[dict[str, Any]], attempts: list[Attempt],
              nothing: str) -> Case | None:
    """The preamble of most playbooks: record the attempt, then trace the first finding's pod and container to
    its workload. None, with the reason noted, when there is no finding for it or no workload to trace to."""
    attempt = begin_attempt(name, findings, attempts, nothing)
    if attempt is None:
        return None
    target = failing_target(snapshot, findings[0]["facts"], attempt)
    return None if target is None else Case(attempt, findings[0], target)


def findings_of_kind(snapshot: Snapshot, kind: str) -> list[dict[str, Any]]:
    """The snapshot's findings of a kind that are well formed (a dict of facts): evidence is input, not trusted."""
    return [f for f in snapshot.findings if isinstance(f, dict) and f.get("kind") == kind
            and isinstance(f.get("facts"), dict)]


def of_container(snapshot: Snapshot, findings: list[dict[str, Any]], target: Target) -> list[dict[str, Any]]:
    """The findings about target's container in its pod or in a replica of it (the same controller, so the same
    spec): the collector merges a probe's failures across replicas, and each merged finding is its own first
    pod's, so the readiness finding may name one pod and the liveness finding another."""
    pods = replicas(snapshot, target.pod)
    return [f for f in findings if f["facts"].get("container") == target.container
            and isinstance(f["facts"].get("pod"), str) and f["facts"]["pod"] in pods]


def probe_status(finding: dict[str, Any]) -> int | None:
    """The HTTP status a probe got, when the finding has a sane one."""
    code = (finding.get("facts") or {}).get("status_code")
    return code if isinstance(code, int) and not isinstance(code, bool) and 100 <= code < 600 else None


def field_at(container: dict[str, Any], *path: str | int) -> Any:
    value: Any = container
    for part in path:
        if isinstance(part, int):
            value = value[part] if isinstance(value, list) and len(value) > part else None
        else:
            value = value.get(part) if isinstance(value, dict) else None
    return value


def prove_and_propose(snapshot: Snapshot, tree: Worktree, attempt: Attempt, expectation: Expectation,
                       candidates: list[LineEdit], **proposal: Any) -> Proposal | None:
    if not candidates:
        return no_fix(attempt, "no line of the repository's YAML holds the value to change")
    search = Search(tree.root, render_context(snapshot), expectation)
    edits = search.run(candidates)
    attempt.notes += search.notes[-3:]
    if edits is None:
        return no_fix(attempt, "no edit could be proven: " + (search.notes[-1] if search.notes else "none tried"))
    attempt.outcome = "proposed"
    return Proposal(engine="playbook", edits=edits, expectation=expectation, proven=True, **proposal)


@dataclass
class Playbook:
    name: str = ""
    preconditions: str = ""
    confidence: float = 0.0

    def propose(self, snapshot: Snapshot, tree: Worktree, attempts: list[Attempt]) -> Proposal | None:
        raise NotImplementedError
