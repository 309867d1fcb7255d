"""What an engine proposes, and what it says when it has nothing to propose."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from fix_agent.snapshot import Snapshot
from fix_agent.worktree import Worktree

if TYPE_CHECKING:
    from fix_agent.proof import Expectation


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
    expectation: Expectation | None = None  # what the proof checks; None: confined to the failing container
    proven: bool = False  # a playbook's search already ran proof.prove on exactly these edits


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
