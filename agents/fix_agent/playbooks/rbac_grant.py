"""A workload's own ServiceAccount is refused one verb on one resource: grant exactly that, in its Role.

The API server's refusal names everything: `User "system:serviceaccount:<ns>:<sa>" cannot <verb>
resource "<r>" in API group "<g>" in the namespace "<ns>"`. The pod that logged it must run as
that ServiceAccount in that namespace; the repository must bind that ServiceAccount to exactly one
Role (a RoleBinding, never a ClusterRole) that does not grant it yet. One rule is appended to that
Role: that API group, that resource, that verb; never a wildcard. Anything else: no_fix.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from fix_agent.argocd_source import render_context
from fix_agent.identity import Target, locate, snapshot_objects
from fix_agent.line_edits import BLOCK_KEY, LineEdit, block_end
from fix_agent.playbooks.playbook import (
    Playbook,
    begin_attempt,
    no_fix,
    prove_and_propose,
)
from fix_agent.playbooks.pod_logs import (
    MAX_LOG_BYTES,
)
from fix_agent.proof import Expectation
from fix_agent.proposal import Attempt, Proposal
from fix_agent.rendering import FieldPath, containers, render_all
from fix_agent.snapshot import Snapshot
from fix_agent.worktree import Worktree

FORBIDDEN = re.compile(r'User "system:serviceaccount:([a-z0-9.-]+):([a-z0-9.-]+)" cannot ([a-z]+) resource '
                       r'"([a-z0-9.-]+(?:/[a-z0-9.-]+)?)" in API group "([a-z0-9.-]*)" '
                       r'in the namespace "([a-z0-9.-]+)"')
MAX_LOG_FILES = 50


def refusals(snapshot: Snapshot) -> list[tuple[str, str, tuple[str, ...]]]:
    """(pod, container, (namespace, serviceaccount, verb, resource, group, namespace)) from the pods' logs."""
    found = []
    logs = snapshot.root / "logs"
    files = sorted(logs.glob("*/*.log"))[:MAX_LOG_FILES] if logs.is_dir() else []
    for path in files:
        if not path.resolve().is_relative_to(snapshot.root.resolve()):
            continue
        with path.open("rb") as handle:
            text = handle.read(MAX_LOG_BYTES).decode("utf-8", errors="replace")
        container = path.name.removesuffix(".log").removesuffix(".previous")
        for match in FORBIDDEN.finditer(text):
            item = (path.parent.name, container, tuple(match.groups()))
            if item not in found:
                found.append(item)
    return found


def _subjects_sa(binding: dict[str, Any], account: str, namespace: str) -> bool:
    return any(isinstance(s, dict) and s.get("kind") == "ServiceAccount" and s.get("name") == account
               and s.get("namespace") in {None, "", namespace} for s in binding.get("subjects") or [])


def _grants(role: dict[str, Any], verb: str, resource: str, group: str) -> bool:
    return any(isinstance(r, dict) and group in (r.get("apiGroups") or []) and resource in (r.get("resources") or [])
               and verb in (r.get("verbs") or []) for r in role.get("rules") or [])


@dataclass
class RbacGrantPlaybook(Playbook):
    name: str = "rbac-grant"
    preconditions: str = ("a pod's log shows its own ServiceAccount refused one verb on one resource in its namespace; "
                          "the repository binds that ServiceAccount to exactly one Role (RoleBinding) that does not "
                          "grant it; one rule with exactly that API group, resource and verb is appended to that Role")
    confidence: float = 0.7

    def propose(self, snapshot: Snapshot, tree: Worktree, attempts: list[Attempt]) -> Proposal | None:
        found = refusals(snapshot)
        attempt = begin_attempt(self.name, found, attempts, "no ServiceAccount refused by RBAC in the pods' logs")
        if attempt is None:
            return None
        pod, container, (user_ns, account, verb, resource, group, namespace) = found[0]
        if len({f[2] for f in found}) > 1:
            return no_fix(attempt, f"several refusals in the logs ({len(found)}): one grant at a time, by a person")
        target = locate(snapshot, pod, container)
        if isinstance(target, str):
            return no_fix(attempt, f"cannot tell which workload is refused: {target}")
        pods = [p for p in snapshot_objects(snapshot, "objects/pods.jsonl") if (p.get("metadata") or {}).get("name")
                == pod]
        runs_as = str(((pods[0].get("spec") or {}) if pods else {}).get("serviceAccountName") or "default")
        if (user_ns, namespace) != (target.namespace, target.namespace) or runs_as != account:
            return no_fix(attempt, f"the refusal is for {user_ns}/{account} in {namespace}, but {target.describe()} "
                                    f"runs as {target.namespace}/{runs_as}: not its own ServiceAccount")
        attempt.notes.append(f"{target.describe()} runs as ServiceAccount {account}, which may not {verb} "
                             f"{resource} (API group {group!r}) in {namespace}")
        return self._grant(snapshot, tree, attempt, target, account, verb, resource, group)

    def _grant(self, snapshot: Snapshot, tree: Worktree, attempt: Attempt, target: Target, account: str, verb: str,
               resource: str, group: str) -> Proposal | None:
        rendered = render_all(tree.root, render_context(snapshot))
        roles: dict[str, set[int]] = {}
        for root in rendered.values():
            if not any(k[0] == target.kind and k[2] == target.name and any(
                    c.get("name") == target.container for c in containers(o)) for k, o in root.objects.items()):
                continue
            for key, binding in root.objects.items():
                ref = binding.get("roleRef") or {}
                if key[0] == "RoleBinding" and _subjects_sa(binding, account, target.namespace):
                    if ref.get("kind") != "Role":
                        attempt.notes.append(f"RoleBinding {key[2]} binds {ref.get('kind')} {ref.get('name')}: "
                                             "a ClusterRole is never widened")
                        continue
                    role = next((o for k, o in root.objects.items() if k[0] == "Role" and k[2] == ref.get("name")),
                                None)
                    if role is None:
                        continue
                    if _grants(role, verb, resource, group):
                        return no_fix(attempt, f"Role {ref.get('name')} grants {verb} on {resource} already: the "
                                                "refusal has another cause")
                    roles.setdefault(str(ref.get("name")), set()).add(len(role.get("rules") or []))
        if len(roles) != 1 or len(next(iter(roles.values()))) != 1:
            return no_fix(attempt, f"the repository does not bind ServiceAccount {account} to exactly one Role "
                                    f"(found: {sorted(roles) or 'none'})")
        (role_name, (count,)), = roles.items()
        index = f"[{count}]"
        wanted: dict[FieldPath, Any] = {("rules", index, "apiGroups", "[0]"): group,
                                        ("rules", index, "resources", "[0]"): resource,
                                        ("rules", index, "verbs", "[0]"): verb}
        expectation = Expectation(target, {}, objects={("Role", role_name): wanted}, check_chain=False)
        rule = json.dumps  # JSON strings are YAML flow scalars: "" stays the core group
        return prove_and_propose(
            snapshot, tree, attempt, expectation,
            self._candidates(tree, role_name, [f"apiGroups: [{rule(group)}]", f"resources: [{rule(resource)}]",
                                               f"verbs: [{rule(verb)}]"]),
            playbook=self.name,
            summary=f"Let ServiceAccount {account} {verb} {resource} in Role {role_name}",
            rationale=(f"{target.describe()} runs as ServiceAccount {account}, which the API server refuses to "
                       f"{verb} {resource} (API group {group!r}). Role {role_name}, bound to it, gains exactly that "
                       "verb on that resource: no wildcard, no ClusterRole."),
            confidence=self.confidence, recommended_checks=[f"{target.container} no longer logs the refusal"])

    @staticmethod
    def _candidates(tree: Worktree, role: str, rule: list[str]) -> list[LineEdit]:
        """Append the rule at the end of the `rules:` block of each document that is Role `role`."""
        edits = []
        for path in sorted(tree.root.rglob("*.y*ml")):
            relative = path.relative_to(tree.root)
            if ".git" in relative.parts or not path.is_file():
                continue
            lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
            starts = [0] + [i + 1 for i, line in enumerate(lines) if line.strip() == "---"]
            for start, end in zip(starts, [*starts[1:], len(lines)], strict=True):
                document = lines[start:end]
                if not any(re.fullmatch(r"kind:\s*Role\s*", line) for line in document) or not any(
                        re.fullmatch(rf"\s+name:\s*['\"]?{re.escape(role)}['\"]?\s*", line) for line in document):
                    continue
                for offset, line in enumerate(document):
                    match = BLOCK_KEY.match(line)
                    if match is None or match["key"] != "rules" or line.rstrip().endswith("]"):
                        continue
                    last = block_end(document, offset)
                    items = [d for d in document[offset + 1:last + 1] if d.lstrip().startswith("- ")]
                    dash = (len(items[0]) - len(items[0].lstrip())) if items else len(match["lead"]) + 2
                    body = [" " * dash + "- " + rule[0]] + [" " * (dash + 2) + r for r in rule[1:]]
                    edits.append(LineEdit(relative.as_posix(), start + last, "\n".join(body), insert=True))
        return edits
