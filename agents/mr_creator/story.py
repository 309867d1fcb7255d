"""The incident's story for the merge request body: what fired, what broke it, a timeline, the checks.

Pure rendering: inputs are the alert's template fields (MR_FIELDS, operator-given but neutralised
all the same), the snapshot's manifest and rollout diff, the culprit search and the bundle's
checks. Every text that came from outside goes through `untrusted_text`; the mermaid timeline
takes only an allow-list of characters from anything it shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mr_creator.culprit import CulpritFinding
from mr_creator.untrusted_text import code_span, neutralize, one_line
from pathops_contracts.errors import InvalidInput

# The documented MR_FIELDS keys (Alertmanager's names), in the order they are shown.
ALERT_FIELDS = (
    ("alertname", "Alert"),
    ("severity", "Severity"),
    ("environment", "Environment"),
    ("namespace", "Namespace"),
    ("workload", "Workload"),
    ("startsAt", "Started"),
)
_TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")
_MERMAID_UNSAFE = re.compile(r"[^A-Za-z0-9 .:_/()-]")
_LOG_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z")


@dataclass(frozen=True)
class Story:
    """The sections of the body, each Markdown ready for the template."""

    what_fired: str
    what_broke_it: str
    evidence: str
    more_findings: str
    timeline: str
    checks: str


def what_fired(fields: dict[str, str], incident_id: str) -> str:
    shown = [f"- **{label}:** {code_span(fields[key])}" for key, label in ALERT_FIELDS if fields.get(key, "").strip()]
    known = {key for key, _ in ALERT_FIELDS}
    shown += [f"- **{one_line(key)}:** {one_line(value)}" for key, value in sorted(fields.items())
              if key not in known and value.strip()]
    if not shown:
        return (f"_The alert's fields were not passed to mr-creator (MR_FIELDS)._ Incident "
                f"{code_span(incident_id)}.")
    return "\n".join(shown)


def what_broke_it(culprit: CulpritFinding | None, web_url: str) -> str:
    if culprit is None:
        return "_Cannot be determined: the evidence snapshot could not be read._"
    span = ""
    if culprit.previous and culprit.current:
        span = (f"Between the last healthy rollout ({_commit_link(culprit.previous, web_url)}) and the deployed "
                f"one ({_commit_link(culprit.current, web_url)}): {culprit.range_size} commit(s).\n\n")
    if not culprit.commits:
        return f"{span}_Cannot be determined: {neutralize(culprit.reason)}._"
    lead = ("The fix replaces lines written by:" if culprit.blamed
            else "No line the fix replaces was written in that range; these commits touched the same files:")
    rows = [f"- {_commit_link(c.sha, web_url)} {one_line(c.subject)[:200]} — {one_line(c.author)[:100]}"
            for c in culprit.commits]
    return span + lead + "\n\n" + "\n".join(rows)


def _commit_link(sha: str, web_url: str) -> str:
    short = code_span(sha[:12])
    return f"[{short}]({web_url}/-/commit/{sha})" if web_url and re.fullmatch(r"[0-9a-f]{40,64}", sha) else short


def _moment(value: Any) -> str | None:
    match = _TIMESTAMP.match(value) if isinstance(value, str) else None
    return f"{match[1]} {match[2]}{'Z' if match[3] in (None, 'Z') else ' ' + match[3]}" if match else None


def first_failure(findings: list[dict[str, Any]]) -> str | None:
    """The earliest time a finding's quotes show (an event's time, or a log line's timestamp)."""
    times: list[str] = []
    for finding in findings:
        quotes = finding.get("quotes")
        for quote in quotes if isinstance(quotes, list) else []:
            if not isinstance(quote, dict):
                continue
            if isinstance(quote.get("time"), str):
                times.append(quote["time"])
            elif isinstance(quote.get("text"), str) and (match := _LOG_TIMESTAMP.match(quote["text"])):
                times.append(match[0])
    valid = sorted(t for t in times if _moment(t) and t.endswith("Z"))
    return valid[0] if valid else None


def timeline(rollout: dict[str, Any] | None, findings: list[dict[str, Any]], fields: dict[str, str],
             manifest: dict[str, Any], patch_id: str) -> str:
    """A mermaid flowchart, left to right, of the incident's steps with their times where known."""
    rollout = rollout or {}
    previous, current = rollout.get("previous_source_commit"), rollout.get("current_source_commit")
    steps = [
        ("healthy", "Last healthy deploy", rollout.get("previous_created"), previous),
        ("faulty", "Faulty deploy", rollout.get("current_created"), current),
        ("failure", "First failure seen", first_failure(findings), None),
        ("alert", f"Alert {fields.get('alertname', '')}".strip(), fields.get("startsAt"), None),
        ("evidence", "Evidence collected", manifest.get("collected_at"), None),
        ("patch", "Patch proposed", None, patch_id),
        ("mr", "This merge request", None, None),
        ("verification", "Verification", None, "see Checks"),
    ]
    lines = ["```mermaid", "flowchart LR"]
    for node, label, moment, note in steps:
        parts = [label, _moment(moment) or ("time unknown" if node in ("healthy", "faulty", "failure") else "")]
        if isinstance(note, str) and note:
            parts.append(note[:12] if re.fullmatch(r"[0-9a-f]{40,64}", note) else note)
        # GitLab's closing-keyword scan reads raw text, code blocks included: neutralised too.
        text = neutralize(_MERMAID_UNSAFE.sub(" ", " - ".join(p for p in parts if p))[:80].strip(), markdown=False)
        lines.append(f'  {node}["{text}"]')
    lines.append("  " + " --> ".join(node for node, *_ in steps))
    lines.append("```")
    return "\n".join(lines)


def check_summary(check: dict[str, Any]) -> str:
    kind = check.get("type")
    if kind == "rollout":
        return f"{check.get('workload')} rolls out and becomes ready"
    if kind == "restarts":
        return f"{check.get('workload')} does not restart"
    if kind == "http":
        return f"{check.get('method', 'GET')} {check.get('url')} answers {check.get('expectStatus', 200)}"
    if kind == "prometheus":
        return f"{check.get('query')} meets {check.get('condition', 'its condition')}"
    if kind == "job":
        command = check.get("command") or []
        return "runs " + " ".join(str(part) for part in command)
    return str(kind)


def checks(verification_yaml: str | None, recommended: list[str]) -> str:
    """One task item per check: `- [ ] <name>: <summary>` (verification ticks them later)."""
    if verification_yaml is not None:
        from pathops_contracts.verification_spec import parse_spec  # jsonschema: imported where a spec is read

        try:
            spec = parse_spec(verification_yaml, "verification.yaml of the patch bundle")
            items = [f"- [ ] {one_line(str(c['name']))}: {one_line(check_summary(c))[:200]}" for c in spec["checks"]]
            if items:
                return "\n".join(items)
        except InvalidInput as error:
            note = f"_The bundle's verification.yaml was refused ({one_line(str(error))[:300]}); recommended checks:_"
            return note + "\n\n" + _recommended(recommended)
    return _recommended(recommended)


def _recommended(recommended: list[str]) -> str:
    items = []
    for check in recommended:
        name, sep, summary = check.partition(": ")
        items.append(f"- [ ] {one_line(name)}: {one_line(summary)}" if sep
                     else f"- [ ] {one_line(check)}: recommended by the fix agent")
    return "\n".join(items) or "- [ ] _none given_"
