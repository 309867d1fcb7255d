"""Deterministic detectors over collected state, in the spirit of k8sgpt's analyzers.

Pure functions: they read the collected objects (as the API returned them) and the
log excerpts, and return findings with pointers into the snapshot (file and line range)
and quotes: the few lines that prove each finding, each with its file and line, for the
merge request and analysis.md to show as they are.

One module per finding family (crashes, waiting, probes, services, workloads), the vocabulary in
`evidence_collector.findings`; this registry runs them all, drops pointers past what the budget
kept, and orders the findings by severity.
"""

from __future__ import annotations

import re

from evidence_collector.detectors.crashes import ERROR_LINE, ERROR_WORDS, _last_error_line, detect_crashes
from evidence_collector.detectors.probes import detect_probe_failures
from evidence_collector.detectors.services import detect_service_problems
from evidence_collector.detectors.waiting import detect_waiting_errors
from evidence_collector.detectors.workloads import detect_stuck_rollouts, detect_unschedulable
from evidence_collector.findings import SEVERITY_ORDER, Evidence, Finding, Pointer, Quote

__all__ = ["DETECTORS", "ERROR_LINE", "ERROR_WORDS", "Evidence", "Finding", "Pointer", "Quote", "_last_error_line",
           "detect", "detect_crashes", "detect_probe_failures", "detect_service_problems", "detect_stuck_rollouts",
           "detect_unschedulable", "detect_waiting_errors", "summarize"]

DETECTORS = (detect_crashes, detect_waiting_errors, detect_probe_failures, detect_service_problems,
             detect_unschedulable, detect_stuck_rollouts)


# A title is one line: it is a line of the callback summary, of findings.json's readers, of analysis.md.
# It may quote the API (a kubelet message): a line break there would add a line of its own making.
_LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def detect(evidence: Evidence) -> list[Finding]:
    findings = [finding for detector in DETECTORS for finding in detector(evidence)]
    for finding in findings:  # never point at a line the budget did not keep
        finding.title = _LINE_BREAKING.sub(" ", finding.title)
        finding.pointers = [p for p in finding.pointers
                            if p.file not in evidence.kept_lines or p.lines[1] <= evidence.kept_lines[p.file]]
        finding.quotes = [q for q in finding.quotes
                          if q.file not in evidence.kept_lines or q.line <= evidence.kept_lines[q.file]]
    return sorted(findings, key=lambda f: (SEVERITY_ORDER[f.severity], f.kind, f.title))


def summarize(findings: list[Finding], notes: list[str] | None = None, limit: int = 5) -> str:
    """The callback summary: a few lines a person reads in chat; `notes` (missing namespace,
    unreadable sections) come first, and no finding is then not 'no problem'."""
    notes = notes or []
    if not findings:
        if notes:
            return "\n".join(["No finding, but the evidence is incomplete:", *(f"- {n}" for n in notes)])[:3900]
        return "No problem detected in the collected evidence; see the snapshot for details."
    lines = [f"- {note}" for note in notes] + [f"{len(findings)} finding(s):"]
    lines += [f"- [{f.severity}] {f.title}" for f in findings[:limit]]
    if len(findings) > limit:
        lines.append(f"- ... and {len(findings) - limit} more in findings.json")
    return "\n".join(lines)[:3900]
