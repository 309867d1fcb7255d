"""A probe that asks a path the app no longer serves: it takes the route of its role that the app serves."""

from __future__ import annotations

import re
from dataclasses import dataclass

from fix_agent.line_edits import line_candidates
from fix_agent.playbooks.app_source import HEALTH_ROUTE, source_routes
from fix_agent.playbooks.playbook import (
    Playbook,
    field_at,
    findings_of_kind,
    no_fix,
    of_container,
    open_case,
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

_ROLE_WORDS = {"ready": re.compile(r"read(?:y|iness)"), "live": re.compile(r"live(?:ness)?|alive"),
               "startup": re.compile(r"start(?:up|ed)")}
# The route roles a probe of each kind may take, most fitting first.
PROBE_ROUTE_TIERS = {"readiness": ("ready", "generic"), "liveness": ("live", "generic"),
                     "startup": ("startup", "generic", "live")}


def route_role(path: str) -> str:
    last = path.rstrip("/").rsplit("/", 1)[-1].lower()
    return next((role for role, words in _ROLE_WORDS.items() if words.search(last)), "generic")


def _stem(path: str) -> str:
    return re.sub(r"z$", "", path.rstrip("/").lower())


def choose_probe_path(probe: str, old: str, routes: set[str], served: dict[str, set[int]]) -> tuple[str | None, str]:
    """The route a probe of this role should use instead of old, or None with the reason and candidates.

    Order: a one-to-one rename of old (/x <-> /xz) that fits the role; then routes of the probe's
    own role (readiness: ready/readyz, liveness: live/livez, startup: startup), then generic health
    routes (health, healthz, status, ping), for startup also liveness routes. Never a route of the
    other role, never one that failed in the logs. Several in the same tier: the one answered
    2xx in the logs, else ambiguous.
    """
    good = {p for p in routes | {p for p, codes in served.items() if any(200 <= c < 300 for c in codes)}
            if p != old and HEALTH_ROUTE.fullmatch(f'"{p}"')
            and not (served.get(p) and all(c >= 400 for c in served[p]))}
    tiers = PROBE_ROUTE_TIERS.get(probe)
    if tiers is None:
        return None, f"unknown probe role {probe!r}"
    renamed = [p for p in good if _stem(p) == _stem(old) and route_role(p) in tiers]
    if len(renamed) == 1:
        return renamed[0], f"{old} was renamed to {renamed[0]} (one-to-one), which fits the {probe} probe"
    for tier in tiers:
        options = sorted(p for p in good if route_role(p) == tier)
        if len(options) == 1:
            return options[0], f"{options[0]} is the only {tier} route for the {probe} probe"
        answered = [p for p in options if any(200 <= c < 300 for c in served.get(p, set()))]
        if len(answered) == 1:
            return answered[0], f"{answered[0]} is the {tier} route that answered 2xx in the logs"
        if options:
            return None, f"several {tier} routes fit the {probe} probe: {', '.join(options)}"
    return None, f"no route fits the {probe} probe (routes seen: {', '.join(sorted(good)) or 'none'})"


@dataclass
class ProbePathPlaybook(Playbook):
    name: str = "probe-path"
    preconditions: str = ("an HTTP probe fails with 4xx; the pod's owner chain is in the snapshot; the new route is "
                          "in the source or answered 2xx in the logs, fits the probe's role (or is a one-to-one "
                          "rename of the old path), and is the only such route")
    confidence: float = 0.9

    def propose(self, snapshot: Snapshot, tree: Worktree, attempts: list[Attempt]) -> Proposal | None:
        findings = [f for f in findings_of_kind(snapshot, "probe-failure")
                    if probe_status(f) is not None and 400 <= (probe_status(f) or 0) < 500]
        case = open_case(snapshot, self.name, findings, attempts, "no probe failing with an HTTP 4xx in the snapshot")
        if case is None:
            return None
        attempt, target = case.attempt, case.target
        # Every probe of this container that fails with 4xx is fixed together (renames come in sets), or none.
        roles = sorted({str(f["facts"].get("probe")) for f in of_container(snapshot, findings, target)})
        routes = source_routes(tree.root)
        served = served_paths(pod_log(snapshot, target))
        changes: list[tuple[str, str, str, str]] = []  # probe, old, new, why
        for probe in roles:
            old = field_at(target.live_container, f"{probe}Probe", "httpGet", "path")
            if not isinstance(old, str):
                return no_fix(attempt, f"container {target.container} has no HTTP {probe} probe")
            if old in routes:  # the route exists: the 404 comes from elsewhere (a base path, a proxy, a bug)
                return no_fix(attempt, f"the source serves {old} ({', '.join(routes[old][:2])}): the {probe} probe "
                                        "path is not the problem")
            new, why = choose_probe_path(probe, old, set(routes), served)
            attempt.notes.append(why)
            if new is None:
                return no_fix(attempt)
            changes.append((probe, old, new, why))
        expectation = Expectation(target, {(f"{probe}Probe", "httpGet", "path"): new for probe, _, new, _ in changes})
        renames = {old: new for _, old, new, _ in changes}
        if len(renames) != len({old for _, old, _, _ in changes}):
            return no_fix(attempt, "two probes share a path but need different routes")
        candidates = line_candidates(tree.root, lambda key, value: renames.get(value) if isinstance(value, str)
                                     else None, prefer=frozenset({"path", "value"}))
        confirmed = all(any(200 <= c < 300 for c in served.get(new, set())) for _, _, new, _ in changes)
        described = "; ".join(f"the {probe} probe requests {old} (HTTP 4xx); the application serves {new} "
                              f"({', '.join(routes.get(new, [])[:2]) or 'seen in the logs'}): {why}"
                              for probe, old, new, why in changes)
        probes = " and ".join(probe for probe, _, _, _ in changes)
        paths = ", ".join(f"{old} -> {new}" for _, old, new, _ in changes)
        return prove_and_propose(
            snapshot, tree, attempt, expectation, candidates, playbook=self.name,
            summary=f"Fix {probes} probe path{'s' if len(changes) > 1 else ''}: {paths}",
            rationale=(f"{target.describe()}: {described}. The edit was proven by rendering what is deployed: only "
                       "those probe paths change."),
            confidence=self.confidence if confirmed else 0.75,
            recommended_checks=[f"the {probes} probe{'s' if len(changes) > 1 else ''} succeed in preflight",
                                "all replicas become Ready after the rollout"])
