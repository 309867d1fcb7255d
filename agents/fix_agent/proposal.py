"""What an engine proposes, and what it says when it has nothing to propose."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from fix_agent.snapshot import Snapshot
from fix_agent.worktree import Worktree


@dataclass
class Proposal:
    engine: str  # playbook | llm
    summary: str
    rationale: str
    confidence: float
    recommended_checks: list[str]
    edits: dict[str, str]  # path in the repository -> its new text
    playbook: str | None = None
    model: str | None = None


@dataclass
class Attempt:
    """One engine's or playbook's try, for analysis.md: what it looked at and why it stopped."""

    engine: str
    name: str
    outcome: str  # proposed | not_applicable | no_fix | refused | error
    notes: list[str] = field(default_factory=list)


class Engine(Protocol):
    name: str

    def propose(self, snapshot: Snapshot, tree: Worktree, attempts: list[Attempt]) -> Proposal | None: ...
