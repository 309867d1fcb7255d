"""A crash on a missing environment variable the code reads: the container's strictly closest unread name is renamed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fix_agent.line_edits import line_candidates
from fix_agent.playbooks.app_source import source_env_reads
from fix_agent.playbooks.playbook import (
    Playbook,
    findings_of_kind,
    no_fix,
    open_case,
    prove_and_propose,
)
from fix_agent.playbooks.pod_logs import (
    crash_lines,
    missing_env_names,
)
from fix_agent.proof import Expectation
from fix_agent.proposal import Attempt, Proposal
from fix_agent.similarity import closest
from fix_agent.snapshot import Snapshot
from fix_agent.worktree import Worktree


@dataclass
class EnvNamePlaybook(Playbook):
    name: str = "env-var-name"
    preconditions: str = ("a container crashes because an environment variable is missing (KeyError, 'not set'); "
                          "the source reads that name (os.environ/os.getenv/process.env/os.Getenv...); the container "
                          "sets exactly one strictly closest name that the source never reads")
    confidence: float = 0.85

    def propose(self, snapshot: Snapshot, tree: Worktree, attempts: list[Attempt]) -> Proposal | None:
        findings = [f for f in findings_of_kind(snapshot, "crash-loop") if missing_env_names(crash_lines(snapshot, f))]
        case = open_case(snapshot, self.name, findings, attempts,
                         "no crash on a missing environment variable in the snapshot")
        if case is None:
            return None
        attempt, target = case.attempt, case.target
        reads = source_env_reads(tree.root)
        wanted = [n for n in missing_env_names(crash_lines(snapshot, findings[0])) if n in reads]
        if len(wanted) != 1:
            return no_fix(attempt, f"the missing variable the source reads is not one name: {wanted or 'none'}")
        (missing,) = wanted
        env = target.live_container.get("env") or []
        names = [str(e.get("name")) for e in env if isinstance(e, dict)]
        if missing in names:
            return no_fix(attempt, f"{target.container} sets {missing} already: the crash has another cause")
        unread = [n for n in names if n not in reads]
        new_name_for, why = closest(missing, unread)
        attempt.notes.append(f"the code reads {missing} ({', '.join(reads[missing][:2])}); env names the code never "
                             f"reads: {unread or 'none'}; {why}")
        if new_name_for is None:
            return no_fix(attempt)
        old = new_name_for
        required: dict[tuple[str, ...], Any] = {("env", f"[{index}]", "name"): missing
                                                for index, name in enumerate(names) if name == old}
        expectation = Expectation(target, required)
        candidates = line_candidates(tree.root, lambda key, value: missing if value == old else None,
                                     rename=lambda key: missing if key == old else None,
                                     prefer=frozenset({"name", "value"}))
        return prove_and_propose(
            snapshot, tree, attempt, expectation, candidates, playbook=self.name,
            summary=f"Rename env var of {target.container}: {old} -> {missing}",
            rationale=(f"{target.describe()} crashes: the code reads {missing} ({', '.join(reads[missing][:2])}), "
                       f"which the container does not set; it sets {old}, which the code never reads ({why})."),
            confidence=self.confidence, recommended_checks=[f"{target.container} starts and stays up"])
