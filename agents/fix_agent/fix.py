"""From snapshot and source to a verified patch bundle (or a no-fix bundle that says why)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fix_agent.argocd_source import render_context
from fix_agent.identity import Target, locate
from fix_agent.playbooks import PLAYBOOKS
from fix_agent.playbooks.change_judge import change_judge
from fix_agent.proof import Expectation, prove_edits
from fix_agent.proposal import Attempt, Engine, Proposal
from fix_agent.snapshot import Snapshot
from fix_agent.source_commit import check_source_commit
from fix_agent.verification_checks import SPEC_FILE, carry_checks, verification_file
from fix_agent.worktree import Worktree, verify_applies
from pathops_contracts.bundles import sha256_bytes, write_bundle
from pathops_contracts.contracts import PATCH_METADATA, validate_document
from pathops_contracts.errors import ContractViolation
from pathops_contracts.finding_pods import merged, pods_of
from pathops_contracts.patch_policy import DEFAULT_LIMITS, PolicyLimits

log = logging.getLogger(__name__)


@dataclass
class FixOutcome:
    status: str  # patch | no_fix
    summary: str
    metadata: dict[str, Any]
    bundle: Path
    mbox: str | None
    attempts: list[Attempt]


def find_fix(snapshot: Snapshot, source: Path, source_commit: str, engines: Sequence[Engine], scratch: Path,
             limits: PolicyLimits = DEFAULT_LIMITS) -> FixOutcome:
    # Before any engine runs: a patch against a commit that is not deployed fixes nothing (exit 4).
    commit_note = check_source_commit(source_commit, snapshot.manifest["source"])
    # The commit date is the snapshot's: a rerun on the same evidence gives the same patch, hence the same id.
    commit_date = str(snapshot.manifest["collected_at"])
    tree = Worktree.create(source, scratch, commit_date)
    attempts: list[Attempt] = []
    for engine in engines:
        proposal = engine.propose(snapshot, tree, attempts)
        if proposal is None:
            continue
        mbox = _try(proposal, snapshot, tree, attempts, limits)
        if mbox is None:
            continue
        verify_applies(source, mbox, scratch, commit_date)
        return _bundle(snapshot, source_commit, proposal, mbox, attempts, scratch, commit_note)
    return _no_fix(snapshot, source_commit, attempts, scratch, commit_note)


def _try(proposal: Proposal, snapshot: Snapshot, tree: Worktree, attempts: list[Attempt],
         limits: PolicyLimits) -> str | None:
    """Apply the proposal's edits; a refusal is recorded and the next engine gets its turn."""
    attempt = attempts[-1]
    tree.reset()
    problems = _unproven(proposal, snapshot, tree)
    if problems:
        attempt.outcome = "refused"
        attempt.notes += ["the change is not proven: " + problems[0], *problems[1:3]]
        return None
    for relative, text in proposal.edits.items():
        tree.write(relative, text)
    changed = tree.changed_files()
    problems = tree.check_syntax(changed)
    if not changed:
        problems.append("the proposal changes nothing")
    if problems:
        attempt.outcome = "refused"
        attempt.notes += problems
        tree.reset()
        return None
    message = (f"{proposal.summary}\n\n{proposal.rationale}\n\nIncident-Id: {snapshot.incident_id}\n"
               f"Snapshot-Id: {snapshot.snapshot_id}\nFix-Engine: {proposal.engine}"
               f"{'/' + proposal.playbook if proposal.playbook else ''}\n")
    try:
        return tree.commit(message, limits)
    except ContractViolation as error:
        attempt.outcome = "refused"
        attempt.notes.append(str(error))
        tree.reset()
        return None


# The container fields a model may change for each kind of finding; other kinds: any field of the container.
FIELDS_OF_FINDING: dict[str, tuple[str, ...]] = {
    "probe-failure": ("readinessProbe", "livenessProbe", "startupProbe", "ports"),
    "oom-killed": ("resources",),
    "config-error": ("env", "envFrom"),
    "crash-loop": ("env", "envFrom", "command", "args"),
    "image-pull": ("image",),
}


def _unproven(proposal: Proposal, snapshot: Snapshot, tree: Worktree) -> list[str]:
    """Every engine's edits pass the same proof: rendered before and after, only the failing container changes."""
    expectation = proposal.expectation
    if proposal.proven and expectation is not None:
        return []
    if expectation is None:
        located = [(str(f.get("kind")), locate(snapshot, f["facts"].get("pod"), f["facts"].get("container")))
                   for f in snapshot.findings if isinstance(f, dict) and isinstance(f.get("facts"), dict)]
        kind, target = next(((k, t) for k, t in located if isinstance(t, Target)), ("", None))
        if not isinstance(target, Target):
            return ["no finding names a pod and container the snapshot can trace to its workload"]
        expectation = Expectation(target, {}, any_container_field=True, field_prefixes=FIELDS_OF_FINDING.get(kind, ()),
                                  judge=change_judge(snapshot, tree.root, kind, target))
    try:
        return prove_edits(tree.root, render_context(snapshot), expectation, proposal.edits)
    except ContractViolation as error:
        return [str(error)]


def analysis_markdown(snapshot: Snapshot, attempts: list[Attempt], proposal: Proposal | None,
                      commit_note: str | None = None) -> str:
    """analysis.md: Markdown that reads on its own; findings grouped across pods, with the lines that
    prove them and their pointers into the snapshot (the same the merge request shows)."""
    lines = [f"# Analysis of {snapshot.incident_id}", "", f"Snapshot `{snapshot.snapshot_id}` of "
             f"`{snapshot.manifest['target_namespace']}` ({snapshot.manifest['time_window']['start']} to "
             f"{snapshot.manifest['time_window']['end']}).", *(["", commit_note] if commit_note else []), "",
             "## Findings", ""]
    lines += _findings_markdown(snapshot.findings) or ["- none"]
    lines += ["", "## Playbooks: preconditions and confidence", ""]
    lines += [f"- `{p.name}` (confidence {p.confidence:g}): {p.preconditions}" for p in PLAYBOOKS if p.confidence]
    lines += ["", "## What was tried", ""]
    for attempt in attempts:
        lines.append(f"- {attempt.engine} `{attempt.name}`: {attempt.outcome}")
        lines += [f"  - {_readable(note)}" for note in attempt.notes[:10]]
    if proposal is not None:
        lines += ["", "## Proposed change", "", proposal.summary, "", proposal.rationale]
    return "\n".join(lines) + "\n"


_LIST_REPR = re.compile(r"\[((?:'[^'\n]*'|\d+)(?:, (?:'[^'\n]*'|\d+))*)\]")


def _readable(note: str) -> str:
    """A note with Python list reprs (`['/cart', '/health']`) shown as code spans (`/cart`, `/health`)."""
    return _LIST_REPR.sub(lambda m: ", ".join(f"`{item.strip(chr(39))}`" for item in m[1].split(", ")), note)


def _findings_markdown(findings: list[dict[str, Any]], limit: int = 10) -> list[str]:
    """One item per problem, its pods counted once ("2 pods: ..."), its quotes fenced with their pointers."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for finding in findings:
        pod = str((finding.get("facts") or {}).get("pod") or "")
        title = str(finding["title"])
        # A finding the collector merged is a group already: another with the same title failed otherwise. Its
        # title names its workload, not a pod: where it quotes its first pod's name, that stays as it is.
        is_merged = merged(finding)
        key = (str(finding["severity"]),
               title.replace(f"{pod}/", "").replace(pod, "\0") if len(pod) > 2 and not is_merged else title)
        groups.setdefault((*key, pod) if is_merged else key, []).append(finding)
    lines: list[str] = []
    for (severity, title, *_), members in list(groups.items())[:limit]:
        pods, count = pods_of(members)
        label = title.replace("\0", "each pod" if len(pods) > 1 else (pods[0] if pods else ""))
        shown = ", ".join(pods[:20]) + (", …" if count > min(len(pods), 20) else "")
        # A finding the collector merged says how many pods in its title ("in 300 pods of deployment/shop").
        counted = "pods" if merged(members[0]) else f"{count} pods"
        lines.append(f"- **{severity}** {label}" + (f" ({counted}: {shown})" if count > 1 else ""))
        quotes = [q for q in members[0].get("quotes") or [] if isinstance(q, dict)][-8:]
        if quotes:
            # One quote, one line: any line break inside a quoted log line would leave the list item.
            text = "\n".join(f"{q.get('file')}:{q.get('line')} | {' '.join(str(q.get('text', ''))[:240].splitlines())}"
                             for q in quotes)
            fence = "`" * max(3, max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
            # At the left margin: a fence that opens and closes there is what mr-creator shows as Markdown.
            lines += ["", f"{fence}text", *text.split("\n"), fence, ""]
    return lines


def _metadata(snapshot: Snapshot, source_commit: str, status: str, summary: str, rationale: str,
              checks: list[str], engine: dict[str, Any], files: list[str], patch_sha: str | None,
              confidence: float | None) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "schema_version": PATCH_METADATA, "incident_id": snapshot.incident_id, "snapshot_id": snapshot.snapshot_id,
        "source_commit_sha": source_commit, "status": status, "files_touched": files, "summary": summary[:4000],
        "rationale": rationale[:20000], "recommended_checks": checks, "engine": engine, "patch_sha256": patch_sha,
        "created_at": snapshot.manifest["collected_at"],
    }
    if confidence is not None:
        metadata["confidence"] = confidence
    return dict(validate_document(metadata, PATCH_METADATA))


def _bundle(snapshot: Snapshot, source_commit: str, proposal: Proposal, mbox: str, attempts: list[Attempt],
            scratch: Path, commit_note: str) -> FixOutcome:
    data = mbox.encode()
    engine = {"name": proposal.engine, "playbook": proposal.playbook, "model": proposal.model}
    metadata = _metadata(snapshot, source_commit, "patch", proposal.summary, proposal.rationale,
                         proposal.recommended_checks, engine, sorted(proposal.edits), sha256_bytes(data),
                         proposal.confidence)
    checks = verification_file(snapshot, proposal)  # the checks this patch brings, for preflight
    metadata = carry_checks(metadata, checks)
    bundle = scratch / "patch.tar.gz"
    write_bundle(bundle, {"patch.mbox": data, "metadata.json": (json.dumps(metadata, indent=2) + "\n").encode(),
                          "analysis.md": analysis_markdown(snapshot, attempts, proposal, commit_note).encode(),
                          **({SPEC_FILE: checks} if checks is not None else {})})
    return FixOutcome("patch", proposal.summary, metadata, bundle, mbox, attempts)


def _no_fix(snapshot: Snapshot, source_commit: str, attempts: list[Attempt], scratch: Path,
            commit_note: str) -> FixOutcome:
    reasons = "; ".join(f"{a.name}: {a.notes[-1]}" for a in attempts if a.notes and a.outcome != "not_applicable")
    summary = "No fix proposed: " + (reasons or "no engine recognised the problem in the evidence")
    analysis = analysis_markdown(snapshot, attempts, None, commit_note)
    metadata = _metadata(snapshot, source_commit, "no_fix", summary[:4000], analysis,
                         ["a person reviews the snapshot's findings"], {"name": "none", "playbook": None,
                                                                         "model": None}, [], None, None)
    bundle = scratch / "patch.tar.gz"
    write_bundle(bundle, {"metadata.json": (json.dumps(metadata, indent=2) + "\n").encode(),
                          "analysis.md": analysis.encode()})
    return FixOutcome("no_fix", summary[:4000], metadata, bundle, None, attempts)
