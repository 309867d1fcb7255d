"""An HTTP probe of a stock image (nginx, httpd, a static server) asks a path the server does not serve.

The repository holds no application routes, so `probe-path` has nothing to choose from; what the
server answers is in its access log. The kubelet counts 200-399 as success, so the probe takes a
path that pod answered 2xx/3xx: `/` when it did, else the only such path; several others, or none:
no_fix.
"""

from __future__ import annotations

from dataclasses import dataclass

from fix_agent.line_edits import line_candidates
from fix_agent.playbooks.app_source import source_routes
from fix_agent.playbooks.playbook import (
    Playbook,
    begin_attempt,
    failing_target,
    field_at,
    findings_of_kind,
    no_fix,
    of_container,
    probe_status,
    prove_and_propose,
)
from fix_agent.playbooks.pod_logs import (
    pod_log,
    served_paths,
)
from fix_agent.proof import Expectation
from fix_agent.proposal import Attempt, Proposal
from fix_agent.snapshot import Snapshot
from fix_agent.worktree import Worktree


def answered_path(served: dict[str, set[int]], old: str) -> tuple[str | None, str]:
    """The path a probe can use, from what the server answered (never one it also failed, never old)."""
    good = sorted(p for p, codes in served.items() if p != old and codes and all(200 <= c < 400 for c in codes))
    if "/" in good:
        return "/", f"the server answered / with {sorted(served['/'])} in the pod's log"
    if len(good) == 1:
        return good[0], f"{good[0]} is the only path the server answered 2xx/3xx in the pod's log"
    if good:
        return None, f"several paths answered 2xx/3xx and none is /: {', '.join(good[:5])}"
    return None, "the pod's log shows no path the server answered 2xx/3xx"


@dataclass
class StockProbePlaybook(Playbook):
    name: str = "probe-stock-image"
    preconditions: str = ("an HTTP probe fails with 4xx; the repository holds no application routes (a stock "
                          "image); the pod's log shows the server answering / (or exactly one path) with 2xx/3xx "
                          "and never failing it")
    confidence: float = 0.7

    def propose(self, snapshot: Snapshot, tree: Worktree, attempts: list[Attempt]) -> Proposal | None:
        findings = [f for f in findings_of_kind(snapshot, "probe-failure") if 400 <= (probe_status(f) or 0) < 500]
        attempt = begin_attempt(self.name, findings, attempts, "no probe failing with an HTTP 4xx in the snapshot")
        if attempt is None:
            return None
        routes = source_routes(tree.root)
        if routes:
            return no_fix(attempt, f"the source defines routes ({', '.join(sorted(routes)[:3])}): probe-path decides")
        target = failing_target(snapshot, findings[0]["facts"], attempt)
        if target is None:
            return None
        roles = sorted({str(f["facts"].get("probe")) for f in of_container(snapshot, findings, target)})
        served = served_paths(pod_log(snapshot, target))
        required = {}
        for probe in roles:
            old = field_at(target.live_container, f"{probe}Probe", "httpGet", "path")
            if not isinstance(old, str):
                return no_fix(attempt, f"container {target.container} has no HTTP {probe} probe")
            new, why = answered_path(served, old)
            attempt.notes.append(why)
            if new is None:
                return no_fix(attempt, f"nothing proves a path for the {probe} probe: {why}")
            required[(f"{probe}Probe", "httpGet", "path")] = (old, new)
        renames = {old: new for old, new in required.values()}
        expectation = Expectation(target, {path: new for path, (_, new) in required.items()})
        candidates = line_candidates(tree.root, lambda key, value: renames.get(value) if key in {"path", "value"}
                                     and isinstance(value, str) else None, prefer=frozenset({"path"}))
        changes = ", ".join(f"{old} -> {new}" for old, new in renames.items())
        return prove_and_propose(
            snapshot, tree, attempt, expectation, candidates, playbook=self.name,
            summary=f"Probe a path the server answers: {changes}",
            rationale=(f"The {', '.join(roles)} probe of {target.describe()} gets 4xx. The image is a stock server "
                       f"(the repository defines no routes); its access log shows what it answers: "
                       f"{'; '.join(attempt.notes[-len(roles):])}."),
            confidence=self.confidence, recommended_checks=[f"{target.container} becomes ready"])
