"""What a preflight verification report does to the merge request: pure, from report and MR to the change.

`passed` takes the MR out of Draft (title prefix; GitLab derives its draft flag from it), labels it
`pathops::verified`, ticks each passed check in the body and adds one note listing every check's
result and the report id. `failed` keeps (or puts back) Draft, labels `pathops::verification-failed`
and names each failing check with its evidence; `inconclusive` keeps Draft and says why.

A `passed` report only counts when it proves the change the MR holds: it must name the commit the
MR's branch is at and cover every check the patch bundle brought; otherwise it is inconclusive.
Everything the report says is agent-written text and goes through `untrusted_text`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mr_creator.untrusted_text import code_span, one_line

PASSED, FAILED, INCONCLUSIVE = "passed", "failed", "inconclusive"
VERIFIED_LABEL = "pathops::verified"
FAILED_LABEL = "pathops::verification-failed"
CHECKS_HEADING = "## Verification checks"
NOTE_MARKER = "<!-- pathops:verification {report_id} -->"
_DRAFT_TITLE = re.compile(r"^\s*(?:\[draft\]|\(draft\)|draft:|draft\s*-|draft\s+(?=\S))\s*", re.IGNORECASE)
_MAX_EVIDENCE = 300


@dataclass(frozen=True)
class Verdict:
    status: str  # passed | failed | inconclusive, as this tool judges the report
    checks: tuple[Mapping[str, Any], ...]  # the report's checks
    reasons: tuple[str, ...]  # why a report's passed does not count, or why it is inconclusive


@dataclass(frozen=True)
class MergeRequestUpdate:
    title: str
    description: str
    labels: list[str]
    note: str


def judge(report: Mapping[str, Any], head: str, spec_checks: Sequence[Mapping[str, Any]]) -> Verdict:
    """The report's status, unless it does not prove this MR's head against the bundle's checks."""
    checks = tuple(check for check in report["checks"] if isinstance(check, Mapping))
    status = str(report["status"])
    reasons: list[str] = []
    on_head = report.get("expected_commit_sha") == head
    if not on_head:
        reasons.append(f"the report verified commit {report.get('expected_commit_sha') or '(none named)'}, but the "
                       f"merge request's branch is at {head}")
    reported = {str(check["name"]): str(check["status"]) for check in checks}
    missing = [str(check["name"]) for check in spec_checks if str(check["name"]) not in reported]
    if missing:
        reasons.append("the report lacks checks the patch brought: " + ", ".join(missing))
    any_failed = any(state == FAILED for state in reported.values())
    if on_head and status == FAILED and any_failed:  # a failure on this commit stands, checks missing or not
        return Verdict(FAILED, checks, tuple(reasons))
    all_passed = bool(reported) and all(state == PASSED for state in reported.values())
    if status == PASSED and not all_passed:
        reasons.append("the report says passed, but not every check passed")
    if status == FAILED and not any_failed:
        reasons.append("the report says failed, but names no failing check")
    if status == PASSED and not reasons:
        return Verdict(PASSED, checks, ())
    return Verdict(INCONCLUSIVE, checks, tuple(reasons))


def check_summary(check: Mapping[str, Any]) -> str:
    """One line on what a spec check measures."""
    kind = check.get("type")
    if kind == "rollout":
        image = f", pods run {check['expectImage']}" if check.get("expectImage") else ""
        return f"rollout of {check.get('workload')} completes{image}"
    if kind == "http":
        return (f"{check.get('method', 'GET')} {check.get('url')} answers {check.get('expectStatus', 200)} "
                f"({check.get('count', 1)} times)")
    if kind == "restarts":
        return f"no restart or OOMKilled of {check.get('workload')} within {check.get('window', '60s')}"
    if kind == "prometheus":
        return f"query meets {check.get('successCondition') or 'not ' + str(check.get('failureCondition'))}"
    return f"{' '.join(str(part) for part in check.get('command') or [])} exits 0"


def _task(name: str, summary: str, done: bool = False) -> str:
    return f"- [{'x' if done else ' '}] {one_line(name)}: {one_line(summary)}"


def checks_section(spec_checks: Sequence[Mapping[str, Any]]) -> str:
    lines = [CHECKS_HEADING, "", "What preflight verification runs (from the patch bundle's verification.yaml):", ""]
    lines += [_task(str(check["name"]), check_summary(check)) for check in spec_checks]
    return "\n".join(lines)


def _split_marker(description: str) -> tuple[str, str]:
    """(body, marker line): the tool's marker is the last line and must stay the last line."""
    body, _, last = description.rstrip("\n").rpartition("\n")
    return body, last


def tick(description: str, spec_checks: Sequence[Mapping[str, Any]], passed: set[str]) -> str:
    """The body with `- [x] name:` for passed checks and `- [ ] name:` for the others; a checks
    section rendered from the bundle's checks is added first when the body has none."""
    body, marker = _split_marker(description)
    names = [str(check["name"]) for check in spec_checks]
    lines = body.split("\n")
    has_items = any(line.startswith((f"- [ ] {one_line(name)}:", f"- [x] {one_line(name)}:"))
                    for line in lines for name in names)
    if names and not has_items:
        lines = [*body.rstrip("\n").split("\n"), "", checks_section(spec_checks), ""]
        lines = "\n".join(lines).split("\n")
    for index, line in enumerate(lines):
        for name in names:
            shown = one_line(name)
            if line.startswith((f"- [ ] {shown}:", f"- [x] {shown}:")):
                lines[index] = f"- [{'x' if name in passed else ' '}] {shown}:" + line[len(f"- [ ] {shown}:"):]
    return "\n".join(lines).rstrip("\n") + "\n\n" + marker + "\n"


def undraft(title: str) -> str:
    return _DRAFT_TITLE.sub("", title, count=1)


def draft(title: str) -> str:
    return title if _DRAFT_TITLE.match(title) else f"Draft: {title}"


def _evidence(check: Mapping[str, Any]) -> str:
    message = str(check.get("message") or "")
    measurements = check.get("measurements") or []
    reasons = [str(m.get("reason")) for m in measurements if isinstance(m, Mapping) and m.get("reason")]
    if reasons and reasons[-1] not in message:
        message = f"{message}; last measurement: {reasons[-1]}"
    return one_line(message[:_MAX_EVIDENCE * 2])[:_MAX_EVIDENCE]


def note_text(verdict: Verdict, report_id: str, verification_id: str, head: str) -> str:
    about = f"report {code_span(report_id)}, verification {code_span(verification_id)}, commit `{head[:12]}`"
    if verdict.status == PASSED:
        lines = [f"**PathOps preflight verification passed** ({about}).", ""]
        lines += [f"- passed: {code_span(str(c['name']))}: {_evidence(c)}" for c in verdict.checks]
        lines += ["", "Every check the patch brought passed on the merge request's commit: this merge request is "
                      "no longer a draft."]
    elif verdict.status == FAILED:
        lines = [f"**PathOps preflight verification failed** ({about}).", "", "Failing checks:", ""]
        lines += [f"- failed: {code_span(str(c['name']))}: {_evidence(c)}" for c in verdict.checks
                  if c.get("status") == FAILED]
        others = [c for c in verdict.checks if c.get("status") != FAILED]
        if others:
            lines += ["", "Other checks:", ""]
            lines += [f"- {one_line(str(c.get('status')))}: {code_span(str(c['name']))}" for c in others]
        lines += [f"- {one_line(reason)}" for reason in verdict.reasons]
        lines += ["", "This merge request stays a draft."]
    else:
        lines = [f"**PathOps preflight verification was inconclusive** ({about}).", "", "Why:", ""]
        lines += [f"- {one_line(reason)}" for reason in verdict.reasons]
        lines += [f"- {one_line(str(c.get('status')))}: {code_span(str(c['name']))}: {_evidence(c)}"
                  for c in verdict.checks if c.get("status") != PASSED]
        if not verdict.reasons and all(c.get("status") == PASSED for c in verdict.checks):
            lines.append("- the report is not conclusive")
        lines += ["", "Nothing was proven either way: this merge request stays a draft."]
    return "\n".join(lines) + "\n\n" + NOTE_MARKER.format(report_id=report_id)


def update_for(verdict: Verdict, title: str, description: str, labels: Sequence[str],
               spec_checks: Sequence[Mapping[str, Any]], report_id: str, verification_id: str,
               head: str) -> MergeRequestUpdate:
    kept = {label for label in labels if label not in {VERIFIED_LABEL, FAILED_LABEL}}
    passed = {str(c["name"]) for c in verdict.checks if c.get("status") == PASSED} \
        if verdict.status == PASSED else set()
    body = tick(description, spec_checks, passed)
    if verdict.status == PASSED:
        return MergeRequestUpdate(undraft(title), body, sorted(kept | {VERIFIED_LABEL}),
                                  note_text(verdict, report_id, verification_id, head))
    extra = {FAILED_LABEL} if verdict.status == FAILED else set()
    return MergeRequestUpdate(draft(title), body, sorted(kept | extra),
                              note_text(verdict, report_id, verification_id, head))
