"""An image whose tag the registry does not have: roll back to the image the previous healthy ReplicaSet runs.

The commit-tag case (`image-tag-commit`) is tried first. For any other tag, the evidence that
decides is the Deployment's rollout history as the collector recorded it (`objects/owners.jsonl`):
the ReplicaSet of the revision before the failing one, when it still runs ready pods with another
image, ran an image that works. Without one, or when the pull fails for another reason than a
missing tag (credentials, network, rate limits), nothing in the evidence says which tag is right.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fix_agent.identity import Target, snapshot_objects
from fix_agent.line_edits import line_candidates
from fix_agent.playbooks.playbook import (
    Playbook,
    findings_of_kind,
    no_fix,
    open_case,
    prove_and_propose,
)
from fix_agent.proof import Expectation
from fix_agent.proposal import Attempt, Proposal
from fix_agent.rendering import containers
from fix_agent.snapshot import Snapshot
from fix_agent.worktree import Worktree

MISSING_TAG = re.compile(r"(?i)manifest unknown|manifest for \S+ not found|\bnot found\b|NotFound|does not exist")
OTHER_CAUSE = re.compile(r"(?i)unauthori[sz]ed|authentication required|access denied|denied:|forbidden|x509|"
                         r"no such host|i/o timeout|connection refused|toomanyrequests|rate limit")


def _revision(obj: dict[str, Any]) -> int:
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get("deployment.kubernetes.io/revision")
    return int(value) if isinstance(value, str) and value.isdigit() else -1


def _pull_messages(snapshot: Snapshot, finding: dict[str, Any], pod: str) -> str:
    events = [str(e.get("message") or "") for e in snapshot_objects(snapshot, "objects/events.jsonl")
              if (e.get("involvedObject") or {}).get("name") == pod]
    return "\n".join([str(finding.get("detail") or ""), *events[-20:]])


def previous_image(snapshot: Snapshot, target: Target) -> tuple[str | None, str]:
    """The image of target's container in the Deployment's previous ReplicaSet that still runs ready pods."""
    pods = [p for p in snapshot_objects(snapshot, "objects/pods.jsonl")
            if (p.get("metadata") or {}).get("name") == target.pod]
    refs = ((pods[0].get("metadata") or {}).get("ownerReferences") or []) if pods else []
    owner: dict[str, Any] = next(iter(refs), {})
    sets = [o for o in snapshot_objects(snapshot, "objects/owners.jsonl") if o.get("kind") == "ReplicaSet"
            and any(r.get("kind") == target.kind and r.get("name") == target.name
                    for r in (o.get("metadata") or {}).get("ownerReferences") or [])]
    current = next((s for s in sets if (s.get("metadata") or {}).get("name") == owner.get("name")), None)
    if target.kind != "Deployment" or current is None:
        return None, f"{target.describe()} has no ReplicaSet history in the snapshot"
    image = target.live_container.get("image")
    for rs in sorted((s for s in sets if 0 <= _revision(s) < _revision(current)), key=_revision, reverse=True):
        spec = next((c for c in containers(rs) if c.get("name") == target.container), None)
        if spec is None or spec.get("image") == image:
            continue
        name = (rs.get("metadata") or {}).get("name")
        ready = (rs.get("status") or {}).get("readyReplicas")
        if not isinstance(ready, int) or ready < 1:
            return None, f"ReplicaSet {name} (revision {_revision(rs)}) ran {spec.get('image')} but has no ready pod"
        return str(spec.get("image")), f"ReplicaSet {name} (revision {_revision(rs)}) runs {spec.get('image')} " \
                                       f"with {ready} ready pod(s)"
    return None, f"no earlier ReplicaSet of {target.kind.lower()}/{target.name} ran another image"


@dataclass
class ImageRollbackPlaybook(Playbook):
    name: str = "image-rollback"
    preconditions: str = ("the image pull fails because the tag does not exist (manifest unknown / not found), not "
                          "for credentials or network; the Deployment's previous ReplicaSet still runs ready pods with "
                          "another image; the failing container goes back to that image, wherever it is set")
    confidence: float = 0.75

    def propose(self, snapshot: Snapshot, tree: Worktree, attempts: list[Attempt]) -> Proposal | None:
        findings = findings_of_kind(snapshot, "image-pull")
        case = open_case(snapshot, self.name, findings, attempts, "no image pull failure in the snapshot")
        if case is None:
            return None
        attempt, target = case.attempt, case.target
        image = str(target.live_container.get("image") or "")
        repository, _, tag = image.rpartition(":")
        if "@" in image or not repository or "/" in tag:
            return no_fix(attempt, f"{image!r} names no tag")
        messages = _pull_messages(snapshot, findings[0], target.pod)
        if other := OTHER_CAUSE.search(messages):
            return no_fix(attempt, f"the pull of {image} fails for another reason than a missing tag "
                                    f"({other[0]}): a rollback would not be proven right")
        if not MISSING_TAG.search(messages):
            return no_fix(attempt, f"the evidence does not say that tag {tag} is missing from the registry")
        previous, why = previous_image(snapshot, target)
        attempt.notes.append(why)
        if previous is None:
            return no_fix(attempt, f"the registry has no tag {tag} of {repository}, and {why}: a person picks the "
                                    "tag to deploy")
        old_repository, _, old_tag = previous.rpartition(":")
        expectation = Expectation(target, {("image",): previous})

        def choose(key: str, value: Any) -> Any:
            if value == image:
                return previous
            if old_repository == repository and value == tag and key in {"tag", "newTag"}:
                return old_tag
            return None

        return prove_and_propose(
            snapshot, tree, attempt, expectation,
            line_candidates(tree.root, choose, prefer=frozenset({"image", "tag", "newTag"})),
            playbook=self.name,
            summary=f"Roll the image of {target.container} back to {previous}: tag {tag} does not exist",
            rationale=(f"The pull of {image} fails: the registry has no tag {tag}. {why}, so that image "
                       f"pulls and runs; the container goes back to it until {tag} is published."),
            confidence=self.confidence,
            recommended_checks=[f"the pods pull {previous} and start", f"publish {image} before rolling forward"])
