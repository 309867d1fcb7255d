"""A ConfigMap or Secret key reference with a typo: it takes the one strictly closest key that exists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fix_agent.argocd_source import render_context
from fix_agent.line_edits import line_candidates
from fix_agent.playbooks.playbook import (
    Playbook,
    field_at,
    findings_of_kind,
    no_fix,
    open_case,
    prove_and_propose,
)
from fix_agent.proof import Expectation
from fix_agent.proposal import Attempt, Proposal
from fix_agent.rendering import render_all
from fix_agent.similarity import closest
from fix_agent.snapshot import Snapshot
from fix_agent.worktree import Worktree


@dataclass
class ConfigKeyPlaybook(Playbook):
    name: str = "configmap-key-typo"
    preconditions: str = ("a container cannot start because a ConfigMap (or Secret) key it references is missing; "
                          "the keys that exist are known (cluster for ConfigMaps, the repository for Secrets); one "
                          "key is strictly closest (Damerau-Levenshtein, within len/4 edits); ties are refused")
    confidence: float = 0.85

    def propose(self, snapshot: Snapshot, tree: Worktree, attempts: list[Attempt]) -> Proposal | None:
        findings = [f for f in findings_of_kind(snapshot, "config-error")
                    if f["facts"].get("missing_key") or f["facts"].get("missing_secret_key")]
        case = open_case(snapshot, self.name, findings, attempts, "no missing ConfigMap or Secret key in the snapshot")
        if case is None:
            return None
        attempt, target = case.attempt, case.target
        facts = case.facts
        secret = not facts.get("missing_key")
        missing = str(facts.get("missing_secret_key") if secret else facts.get("missing_key"))
        ref = "secretKeyRef" if secret else "configMapKeyRef"
        env = target.live_container.get("env") or []
        if "[REDACTED" in missing:  # the collector masked the key: the references whose key the object lacks
            lacking = {str(field_at(e, "valueFrom", ref, "key")) for e in env
                       if field_at(e, "valueFrom", ref, "key") is not None and str(field_at(e, "valueFrom", ref, "key"))
                       not in self._keys(tree, snapshot, secret, str(field_at(e, "valueFrom", ref, "name")))}
            if len(lacking) != 1:
                return no_fix(attempt, f"the missing key was redacted and {len(lacking)} references lack their key")
            (missing,) = lacking
        # Which object: the container's own reference (the event's text may be redacted or truncated).
        entries = [(index, field_at(entry, "valueFrom", ref) or {}) for index, entry in enumerate(env)
                   if field_at(entry, "valueFrom", ref, "key") == missing]
        names = {str(found.get("name")) for _, found in entries}
        if len(names) != 1:
            return no_fix(attempt, f"container {target.container} references key {missing!r} through "
                                    f"{len(names)} {ref} objects: not one to fix")
        (source,) = names
        keys = self._keys(tree, snapshot, secret, source)
        if not keys:
            return no_fix(attempt, f"the keys of {'Secret' if secret else 'ConfigMap'} {source} are unknown")
        new, why = closest(missing, keys)
        attempt.notes.append(f"keys of {source}: {sorted(keys)}; {why}")
        if new is None:
            return no_fix(attempt)
        required: dict[tuple[str, ...], Any] = {("env", f"[{index}]", "valueFrom", ref, "key"): new
                                                for index, _ in entries}
        expectation = Expectation(target, required)
        candidates = line_candidates(tree.root, lambda key, value: new if value == missing else None,
                                     prefer=frozenset({"key", "value"}))
        return prove_and_propose(
            snapshot, tree, attempt, expectation, candidates, playbook=self.name,
            summary=f"Fix {'Secret' if secret else 'ConfigMap'} key reference: {missing} -> {new}",
            rationale=(f"Container {target.container} cannot start: {source} has no key {missing!r}. It has "
                       f"{new!r}, the one strictly closest key ({why})."),
            confidence=self.confidence, recommended_checks=[f"{target.container} starts and reads {new}"])

    def _keys(self, tree: Worktree, snapshot: Snapshot, secret: bool, name: str) -> list[str]:
        return self._secret_keys(tree, snapshot, name) if secret else self._configmap_keys(snapshot, name)

    @staticmethod
    def _configmap_keys(snapshot: Snapshot, name: str) -> list[str]:
        configmaps = (snapshot.json_file("objects/configmaps.json") or {}).get("configmaps", [])
        return [str(k) for c in configmaps if c.get("name") == name for k in c.get("keys") or []]

    @staticmethod
    def _secret_keys(tree: Worktree, snapshot: Snapshot, name: str) -> list[str]:
        keys: set[str] = set()
        for root in render_all(tree.root, render_context(snapshot)).values():
            for key, obj in root.objects.items():
                if key[2] != name:
                    continue
                if key[0] == "Secret":
                    keys |= {str(k) for k in {**(obj.get("data") or {}), **(obj.get("stringData") or {})}}
                elif key[0] == "SealedSecret":
                    keys |= {str(k) for k in ((obj.get("spec") or {}).get("encryptedData") or {})}
                elif key[0] == "ExternalSecret":
                    keys |= {str(d.get("secretKey")) for d in (obj.get("spec") or {}).get("data") or []
                             if isinstance(d, dict) and d.get("secretKey")}
        return sorted(keys)
