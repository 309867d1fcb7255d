"""Findings no playbook fixes by a change to the repository, and why: noted in analysis.md, never proposed."""

from __future__ import annotations

import re
from dataclasses import dataclass

from fix_agent.playbooks.playbook import (
    Playbook,
    probe_status,
)
from fix_agent.playbooks.pod_logs import (
    crash_lines,
    missing_env_names,
)
from fix_agent.proposal import Attempt, Proposal
from fix_agent.snapshot import Snapshot
from fix_agent.worktree import Worktree

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
            elif finding.get("kind") == "probe-failure" and (probe_status(finding) or 0) >= 500:
                notes.append(f"the {facts.get('probe')} probe of {facts.get('pod')} gets HTTP "
                             f"{facts.get('status_code')}: the app is unhealthy, the probe is not misconfigured")
        if notes:
            attempts.append(Attempt("playbook", self.name, "no_fix", notes[:5]))
        return None
