"""A container whose `command`/`args` override runs an executable the image does not have.

Exit 127, `exec: "x": executable file not found in $PATH` or `x: not found`, and x is named by
the container's own override: the override is what fails, so it goes and the image's entrypoint
runs again. When x is not in the override (a script of the image calls it), the image lacks it:
no_fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fix_agent.identity import Target, snapshot_objects
from fix_agent.line_edits import block_candidates
from fix_agent.playbooks.playbook import (
    Playbook,
    findings_of_kind,
    no_fix,
    open_case,
    prove_and_propose,
)
from fix_agent.playbooks.pod_logs import (
    crash_lines,
)
from fix_agent.proof import Expectation
from fix_agent.proposal import Attempt, Proposal
from fix_agent.rendering import flatten
from fix_agent.snapshot import Snapshot
from fix_agent.worktree import Worktree

_MISSING = (re.compile(r"""exec:?\s+["']?([\w./+-]+)["']?:\s+executable file not found"""),
            re.compile(r"""(?:^|[\s:])([\w./+-]+):\s+(?:command\s+)?not found\b"""))


def missing_executables(lines: list[str]) -> list[str]:
    names: list[str] = []
    for line in lines:
        for pattern in _MISSING:
            names += [n for n in pattern.findall(line) if n not in names and not n.isdigit()]
    return names


def _termination_messages(snapshot: Snapshot, target: Target) -> tuple[list[str], Any]:
    """The container's state messages (a StartError names the executable) and its last exit code."""
    for pod in snapshot_objects(snapshot, "objects/pods.jsonl"):
        if (pod.get("metadata") or {}).get("name") != target.pod:
            continue
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            if isinstance(status, dict) and status.get("name") == target.container:
                states = [status.get("state") or {}, status.get("lastState") or {}]
                details = [s.get(k) or {} for s in states for k in ("waiting", "terminated")]
                code = next((d.get("exitCode") for d in details if "exitCode" in d), None)
                return [str(d.get("message") or "") for d in details], code
    return [], None


@dataclass
class CommandOverridePlaybook(Playbook):
    name: str = "command-override"
    preconditions: str = ("a container crashes with exit 127, 'executable file not found' or 'x: not found'; x is "
                          "named by the container's own command/args override; the override is removed so the "
                          "image's entrypoint runs")
    confidence: float = 0.65

    def propose(self, snapshot: Snapshot, tree: Worktree, attempts: list[Attempt]) -> Proposal | None:
        findings = [f for f in findings_of_kind(snapshot, "crash-loop")
                    if f["facts"].get("exit_code") in {127, 128} or missing_executables(crash_lines(snapshot, f))]
        case = open_case(snapshot, self.name, findings, attempts, "no crash on a missing executable in the snapshot")
        if case is None:
            return None
        attempt, target = case.attempt, case.target
        messages, code = _termination_messages(snapshot, target)
        missing = missing_executables(crash_lines(snapshot, findings[0]) + messages)
        if not missing:
            return no_fix(attempt, f"exit code {code}, but no log line or state names a missing executable")
        override = {k: v for k, v in target.live_container.items() if k in {"command", "args"} and v}
        words = [str(w) for v in override.values() if isinstance(v, list) for w in v]
        mentioned = [m for m in missing if any(re.search(rf"(?:^|[\s/]){re.escape(m.rsplit('/', 1)[-1])}(?:$|\s)", w)
                                               for w in words)]
        if not override:
            return no_fix(attempt, f"{target.describe()} overrides no command: the image itself lacks "
                                    f"{', '.join(missing)}")
        if not mentioned:
            return no_fix(attempt, f"{', '.join(missing)} is not named by the override {override}: the image "
                                    "(or a script in it) lacks it; dropping the override is not proven right")
        attempt.notes.append(f"{mentioned[0]} is not in the image; the container's override {override} runs it")
        required = {path: None for path in flatten(override)}
        expectation = Expectation(target, required)
        return prove_and_propose(
            snapshot, tree, attempt, expectation, block_candidates(tree.root, frozenset(override)),
            playbook=self.name,
            summary=f"Drop the {'/'.join(sorted(override))} override of {target.container}: {mentioned[0]} is "
                    "not found",
            rationale=(f"{target.describe()} crashes: {mentioned[0]} is not found in the image, and it is the "
                       f"container's own override ({override}) that runs it. Without the override the image's "
                       "entrypoint runs, as the image was built to."),
            confidence=self.confidence,
            recommended_checks=[f"{target.container} starts with the image's entrypoint and stays up"])
