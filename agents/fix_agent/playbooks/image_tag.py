"""An image tag that names another commit than the deployed one: it takes the deployed commit's prefix."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

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
from fix_agent.snapshot import Snapshot
from fix_agent.worktree import Worktree


@dataclass
class ImageTagPlaybook(Playbook):
    """An image tag that names another commit than the one built: CI tags images with the commit hash."""

    name: str = "image-tag-commit"
    preconditions: str = ("the image pull fails; its tag is a hex commit prefix that is not a prefix of the deployed "
                          "commit (known from the snapshot); the tag becomes the deployed commit's prefix of the same "
                          "length, wherever it lives (image:, kustomize images: newTag, Helm image.tag)")
    confidence: float = 0.7

    def propose(self, snapshot: Snapshot, tree: Worktree, attempts: list[Attempt]) -> Proposal | None:
        findings = findings_of_kind(snapshot, "image-pull")
        case = open_case(snapshot, self.name, findings, attempts, "no image pull failure in the snapshot")
        if case is None:
            return None
        attempt, target = case.attempt, case.target
        commit = (snapshot.manifest.get("source") or {}).get("commit_sha")
        image = str(target.live_container.get("image") or "")
        repository, _, tag = image.rpartition(":")
        if "@" in image or not commit or not repository or "/" in tag or not re.fullmatch(r"[0-9a-f]{7,40}", tag):
            return no_fix(attempt, f"tag of {image!r} is not a commit hash, or the deployed commit is unknown")
        if str(commit).startswith(tag):
            return no_fix(attempt, f"{image} already names the deployed commit; the registry lacks the image")
        new_tag = str(commit)[:len(tag)]
        new_image = f"{repository}:{new_tag}"
        expectation = Expectation(target, {("image",): new_image})

        def choose(key: str, value: Any) -> Any:
            if value == image:
                return new_image
            if value == tag or (key in {"tag", "newTag"} and isinstance(value, str)):
                return new_tag
            return None

        return prove_and_propose(
            snapshot, tree, attempt, expectation,
            line_candidates(tree.root, choose, prefer=frozenset({"image", "tag", "newTag", "value"})),
            playbook=self.name,
            summary=f"Point the image at the deployed commit: {tag} -> {new_tag}",
            rationale=(f"The pull of {image} fails. Its tag names commit {tag}, but the workload runs commit "
                       f"{str(commit)[:12]}, whose image is tagged {new_tag} by the same convention."),
            confidence=self.confidence,
            recommended_checks=[f"{new_image} exists in the registry", "the pods pull the image and start"])
