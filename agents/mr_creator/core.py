"""From patch bundle to merge request, idempotently.

Rerunning with the same inputs changes nothing: the commit is reproducible (committer
date = author date, fixed identity), so the branch already holds it, and the MR body is
already the one we would write. A branch moved by a person is never overwritten, and a
merge request is only ever changed when it carries this tool's verified marker (and, when
GitLab says who the token is, was opened by the tool's own account).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mr_creator.culprit import MAX_HISTORY, find_culprit
from mr_creator.description import commit_message, render_body, title_for
from mr_creator.evidence_quotes import blob_link_maker, render_evidence
from mr_creator.marker import ChangeSetMarker, MarkerScope, verified_marker
from mr_creator.merge_requests import MergeRequest, ProjectInfo
from mr_creator.naming import branch_name
from mr_creator.source_repository import PatchCommit, SourceRepository, start_fetch
from mr_creator.story import Story, checks, timeline, what_broke_it, what_fired
from mr_creator.untrusted_text import neutralize
from mr_creator.verification_outcome import FAILED_LABEL, VERIFIED_LABEL
from pathops_contracts import __version__
from pathops_contracts.errors import ContractViolation, InvalidInput
from pathops_contracts.identifiers import COMMIT_SHA
from pathops_contracts.patch_policy import MAX_CI_FILE_BYTES, PolicyLimits, ci_protected_patterns, violations
from pathops_runtime.source_commit import CommitNotFound

# The bundle's and the snapshot's readers (jsonschema, ~0.06 s to import) are imported by the worker
# thread that reads them, while the main thread waits on GitLab and git.
if TYPE_CHECKING:
    from mr_creator.incident_snapshot import IncidentSnapshot
    from mr_creator.patch_bundle import PatchBundle
    from pathops_runtime.artifact_reader import ArtifactReader

log = logging.getLogger(__name__)


class MergeRequests(Protocol):
    """What core needs of GitLab (GitLabProject in production, anything alike in tests)."""

    def info(self) -> ProjectInfo: ...
    def tool_user_id(self) -> int | None: ...
    def merge_base(self, commit: str, branch: str) -> str | None: ...
    def find_open(self, source_branch: str) -> MergeRequest | None: ...
    def create(self, source_branch: str, target_branch: str, title: str, description: str,
               labels: list[str]) -> tuple[MergeRequest, bool]: ...
    def update(self, iid: int, title: str, description: str, labels: list[str]) -> None: ...
    def comment(self, iid: int, body: str) -> None: ...


@dataclass(frozen=True)
class MergeRequestOrder:
    """What the create-mr-from-patch job asks for."""

    src_repo: str
    source_commit_sha: str | None  # when given, the bundle's must equal it; the bundle's metadata names the base
    patch_id: str
    changeset_id: str
    template_text: str
    draft: bool = True
    labels: tuple[str, ...] = ()
    title_prefix: str = ""
    extra_fields: dict[str, str] = field(default_factory=dict)
    git_url: str | None = None
    policy: PolicyLimits = field(default_factory=PolicyLimits)
    marker_key: bytes = b""


@dataclass(frozen=True)
class Outcome:
    status: str  # created | updated | unchanged | conflict
    mr_url: str | None
    branch: str
    head: str
    detail: str


def create_merge_request(
    order: MergeRequestOrder,
    store: ArtifactReader,
    gitlab: MergeRequests,
    git_env: Callable[[str], dict[str, str]],
    scratch: Path,
    fetching: Future[SourceRepository] | None = None,
    meanwhile: Callable[[], object] | None = None,
) -> Outcome:
    """git_env gives git's environment for a remote URL, with the token (if any) scoped to that remote.

    `fetching` is the given commit's fetch when the caller started it (`start_fetch` of
    order.source_commit_sha from `gitlab.info().source_url(order.git_url)` into scratch/"source", with
    git_env of that remote): the CLI starts it before it loads this module. The caller waits for it.
    `meanwhile` is run while the given commit is fetched (the caller's own preparation, e.g. imports)."""
    if not order.marker_key:
        raise InvalidInput("mr-creator needs a key to sign its changeset marker: set MR_MARKER_KEY "
                           "or CALLBACK_SIGNING_KEY")
    # The artifact store is read on a worker thread while GitLab is asked and git fetches (they wait
    # on sockets and processes): the bundle and the snapshot cost no wall time of their own. Nothing
    # is applied, pushed or written to GitLab before the bundle has passed every check.
    started_here: Future[SourceRepository] | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="artifact-store") as reads:
        project = gitlab.info()
        bundle_read = reads.submit(_open_bundle, store, order.patch_id, order.source_commit_sha, scratch)
        merge_base: tuple[str | None] | None = None
        try:
            remote = project.source_url(order.git_url)
            # The token goes to this remote's origin only (the one named by the operator or by the token's
            # own GitLab): never to a redirect's, a submodule's or another remote's host.
            remote_env = git_env(remote)
            # Given, the commit is fetched (on the "git" thread) while the bundle is read and GitLab asked (the
            # bundle must name the same commit); otherwise the bundle's metadata names the base, fetched once
            # it is read.
            if fetching is None and order.source_commit_sha:
                fetching = started_here = start_fetch(remote, order.source_commit_sha, scratch / "source",
                                                      remote_env)
            if order.source_commit_sha:
                # GitLab is asked while git fetches (the bundle must name the same commit); the answer is
                # judged once the commit is fetched and the bundle checked, so a missing commit still reads
                # "commit ... does not exist" and a refused bundle stays the error reported.
                merge_base = (gitlab.merge_base(order.source_commit_sha, project.default_branch),)
            if meanwhile is not None:
                meanwhile()
            source = fetching.result() if fetching is not None else None
        except BaseException:
            if started_here is not None:
                wait([started_here])  # the work tree's folder may go once this returns
            bundle_read.result()  # a refused bundle is the error to report, as if it had been read first
            raise
        bundle = bundle_read.result()
        if merge_base is None:  # no commit was given: the bundle named the base
            merge_base = (gitlab.merge_base(bundle.metadata["source_commit_sha"], project.default_branch),)
        _require_base_on_target(merge_base[0], bundle.metadata["source_commit_sha"], project.default_branch,
                                None if order.source_commit_sha else order.patch_id)
        if source is None:
            try:
                source = SourceRepository.fetch_commit(remote, bundle.metadata["source_commit_sha"],
                                                       scratch / "source", remote_env)
            except CommitNotFound as error:  # the bundle named it, not the operator: the bundle is wrong
                raise ContractViolation(f"patch bundle {order.patch_id} names base commit "
                                        f"{bundle.metadata['source_commit_sha'][:12]}, which the project's repository "
                                        "does not hold: refusing the bundle") from error
        snapshot_read = reads.submit(_read_snapshot, store, bundle.metadata["snapshot_id"], scratch)
        return _apply_and_propose(order, bundle, project, source, gitlab, snapshot_read)


def _open_bundle(store: ArtifactReader, patch_id: str, expected_sha: str | None, scratch: Path) -> PatchBundle:
    from mr_creator.patch_bundle import open_patch_bundle

    return open_patch_bundle(store, patch_id, expected_sha, scratch)


def _read_snapshot(store: ArtifactReader, snapshot_id: str, scratch: Path) -> IncidentSnapshot:
    from mr_creator.incident_snapshot import read_incident_snapshot

    return read_incident_snapshot(store, snapshot_id, scratch)


def _require_base_on_target(merge_base: str | None, base: str, target: str, bundle_id: str | None) -> None:
    """The MR's diff against the target branch is base..head only when base is on that branch (its head or
    an ancestor): a base on an unmerged branch would smuggle that branch's changes (a CI file, say) past the
    policy, which looks at base..head alone. GitLab answers over the full history (our fetch is shallow):
    `merge_base` is its merge base of base and target."""
    if merge_base == base:
        return
    named = f"patch bundle {bundle_id} names base commit" if bundle_id else "base commit"
    raise ContractViolation(f"{named} {base[:12]}, which is not on the target branch {target} (nor an ancestor of "
                            "its head): refusing to open a merge request from it")


def _apply_and_propose(order: MergeRequestOrder, bundle: PatchBundle, project: ProjectInfo, source: SourceRepository,
                       gitlab: MergeRequests, snapshot_read: Future[IncidentSnapshot]) -> Outcome:
    """Apply the verified bundle on the fetched commit, check the policy, push, open or update the MR."""
    metadata = bundle.metadata
    branch = branch_name(order.changeset_id, metadata["summary"])
    scope = MarkerScope(order.marker_key, order.src_repo, branch)
    try:
        source.apply_mbox(bundle.mbox)
        # No command of this run applies a patch from here on: the history between the rollouts is fetched
        # while the patch is checked and pushed (as soon as the snapshot names the rollouts).
        snapshot_read.add_done_callback(lambda read: _fetch_history(read, order, metadata, source))
        return _check_and_propose(order, bundle, project, source, gitlab, snapshot_read, branch, scope)
    finally:
        source.finish_background()


def _rollout_commits(snapshot: IncidentSnapshot, fields: dict[str, str]) -> tuple[dict[str, Any] | None, str | None,
                                                                                   str | None]:
    """The focused workload's rollout in the snapshot, and the source commits of its previous and current one."""
    workload = snapshot.manifest.get("workload")
    focus = fields.get("workload") or (f"deployment/{workload.get('name')}" if isinstance(workload, dict) else None)
    rollout = snapshot.rollout_of(focus)
    previous = _sha(rollout.get("previous_source_commit")) if rollout else None
    current = _sha(rollout.get("current_source_commit")) if rollout else None
    return rollout, previous, current


def _fetch_history(read: Future[IncidentSnapshot], order: MergeRequestOrder, metadata: dict[str, Any],
                   source: SourceRepository) -> None:
    """Start fetching the history the culprit search reads (find_culprit asks the same deepen_to)."""
    if read.cancelled() or read.exception() is not None or read.result().unavailable:
        return
    _, previous, current = _rollout_commits(read.result(), order.extra_fields)
    if previous is not None and previous != (current or metadata["source_commit_sha"]):
        source.start_deepening(previous, current or metadata["source_commit_sha"], MAX_HISTORY)


def _check_and_propose(order: MergeRequestOrder, bundle: PatchBundle, project: ProjectInfo, source: SourceRepository,
                       gitlab: MergeRequests, snapshot_read: Future[IncidentSnapshot], branch: str,
                       scope: MarkerScope) -> Outcome:
    metadata = bundle.metadata
    base: str = metadata["source_commit_sha"]  # the commit the fix agent's image embedded
    commits = source.commits(base)
    ci_paths = ci_protected_patterns(project.ci_config_path, order.src_repo,
                                     lambda path: source.read_at(base, path, MAX_CI_FILE_BYTES),
                                     lambda: source.files_at(base))
    _check_policy(source, base, order, commits, ci_paths, bundle.mbox.stat().st_size, metadata["files_touched"])
    head = source.rewrite(base, commits, lambda commit: commit_message(commit.message, commit.author))

    existing = gitlab.find_open(branch)
    marker = None
    if existing is not None:
        ownership = _ours(existing, scope, gitlab)
        if isinstance(ownership, str):
            return _not_ours(existing, branch, source.remote_head(branch), ownership)
        marker = ownership
    remote = source.remote_head(branch)
    if remote is None:
        source.push(head, branch, expected_remote=None)
    elif remote != head:
        if marker is None or marker.last_pushed_head != remote:
            detail = (
                f"branch {branch} is at {remote[:12]}, which this tool did not push; "
                "leaving it as it is and not updating the merge request"
            )
            if existing is not None:
                gitlab.comment(existing.iid, f"PathOps autopilot: a new patch `{order.patch_id}` is ready, but "
                               f"{detail}. Rebase or close this merge request to let the autopilot update it.")
            log.warning("branch moved by someone else", extra={"branch": branch, "remote": remote})
            return Outcome("conflict", existing.web_url if existing else None, branch, remote, detail)
        source.push(head, branch, expected_remote=remote)

    new_marker = ChangeSetMarker(
        changeset_id=order.changeset_id,
        incident_id=metadata["incident_id"],
        snapshot_id=metadata["snapshot_id"],
        patch_id=order.patch_id,
        base_sha=base,
        bundle_sha256=bundle.bundle_sha256,
        last_pushed_head=head,
        tool_version=__version__,
    )
    title = title_for(metadata["summary"], order.draft, order.title_prefix)
    story = _tell_story(order, snapshot_read.result(), source, project, bundle, head)
    body = render_body(order.template_text, metadata, bundle.analysis, new_marker, scope, order.extra_fields, story)
    labels = sorted({"pathops::autofix", f"incident::{metadata['incident_id']}", *order.labels})

    if existing is None:
        mr, created = gitlab.create(branch, project.default_branch, title, body, labels)
        if created:
            return Outcome("created", mr.web_url, branch, head, f"opened !{mr.iid}")
        ownership = _ours(mr, scope, gitlab)
        if isinstance(ownership, str):  # opened by someone else between our lookup and our create
            return _not_ours(mr, branch, head, ownership)
        existing = mr
    if marker == new_marker and {VERIFIED_LABEL, FAILED_LABEL} & set(existing.labels):
        # The same change, already judged by preflight verification: a rerun must not put it back to Draft.
        return Outcome("unchanged", existing.web_url, branch, head, f"!{existing.iid} is up to date (verified)")
    if (existing.title, existing.description, sorted(existing.labels)) == (title, body, labels):
        return Outcome("unchanged", existing.web_url, branch, head, f"!{existing.iid} is up to date")
    gitlab.update(existing.iid, title, body, labels)
    return Outcome("updated", existing.web_url, branch, head, f"updated !{existing.iid}")


def _tell_story(order: MergeRequestOrder, snapshot: IncidentSnapshot, source: SourceRepository,
                project: ProjectInfo, bundle: PatchBundle, head: str) -> Story:
    """The incident's story from the snapshot the bundle names, the alert's fields and the history."""
    metadata = bundle.metadata
    fields = order.extra_fields
    verification = _verification_yaml(bundle.mbox.parent / "verification.yaml")
    recommended = metadata["recommended_checks"]
    if snapshot.unavailable:
        reason = f"_{neutralize(snapshot.unavailable)}._"
        return Story(what_fired(fields, metadata["incident_id"]), f"_Cannot be determined: {reason[1:]}", reason,
                     "", timeline(None, [], fields, {}, order.patch_id), checks(verification, recommended))
    rollout, previous, current = _rollout_commits(snapshot, fields)
    base: str = metadata["source_commit_sha"]
    culprit = find_culprit(source, previous, current, base, head)
    blob_url = blob_link_maker(project.web_url, base) if project.web_url else None
    shown, more = render_evidence(snapshot.findings, source.files_at(base), blob_url)
    return Story(what_fired(fields, metadata["incident_id"]), what_broke_it(culprit, project.web_url), shown, more,
                 timeline(rollout, snapshot.findings, fields, snapshot.manifest, order.patch_id),
                 checks(verification, recommended))


def _sha(value: object) -> str | None:
    return value if isinstance(value, str) and COMMIT_SHA.pattern.fullmatch(value) else None


def _verification_yaml(path: Path) -> str | None:
    from pathops_contracts.verification_spec import MAX_SPEC_BYTES

    if not path.is_file():
        return None
    with path.open("rb") as handle:
        return handle.read(MAX_SPEC_BYTES + 1).decode("utf-8", errors="replace")


def _ours(mr: MergeRequest, scope: MarkerScope, gitlab: MergeRequests) -> ChangeSetMarker | str:
    """The MR's marker if this tool wrote it (signed with our key, for this branch, by our account),
    else why it is not ours."""
    marker = verified_marker(mr.description, scope)
    if marker is None:
        return "its description does not end with the autopilot's signed marker"
    tool_user = gitlab.tool_user_id()
    if tool_user is not None and mr.author_id != tool_user:
        return "another account opened it"
    return marker


def _not_ours(mr: MergeRequest, branch: str, remote: str | None, why: str) -> Outcome:
    detail = (f"merge request !{mr.iid} ({mr.web_url}) on branch {branch} is not the PathOps autopilot's "
              f"({why}); leaving the merge request and the branch as they are")
    log.warning("merge request of someone else on our branch", extra={"iid": mr.iid, "branch": branch})
    return Outcome("conflict", mr.web_url, branch, remote or "", detail)


def _check_policy(source: SourceRepository, base: str, order: MergeRequestOrder, commits: list[PatchCommit],
                  ci_paths: tuple[str, ...], patch_bytes: int, declared: list[str]) -> None:
    """The policy on the net diff AND on every commit: a commit that a later one reverts is pushed too."""
    net = source.changes(base)
    problems = violations(net, patch_bytes, order.policy, ci_paths)
    touched: set[str] = set()
    for commit in commits:
        # A lone commit's own diff is the net diff (git am made it on the base): not asked of git twice.
        changes = net if len(commits) == 1 else source.changes(f"{commit.sha}^", commit.sha)
        touched.update(change.path for change in changes)
        problems += [f"commit {commit.sha[:12]}: {problem}"
                     for problem in violations(changes, 0, order.policy, ci_paths) if problem not in problems]
    if sorted(touched) != sorted(declared):
        problems.append(f"the patch touches {sorted(touched)} but metadata.json declares {sorted(declared)}")
    if problems:
        raise ContractViolation("patch policy refused the change: " + "; ".join(problems))
