"""The pods a finding of an evidence snapshot is seen in: its own pod, or those the collector merged it for.

The evidence collector merges the findings of a controller's pods that fail alike into one finding
(`evidence_collector.detectors.grouping`): `facts.pods` names at most a hundred of them and
`facts.pod_count` counts them all. The merge request and the fix agent's analysis.md count and name
pods the same way, from here. Pure; findings are untrusted data: anything but text is no pod.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def _facts(finding: Any) -> dict[str, Any]:
    facts = finding.get("facts") if isinstance(finding, dict) else None
    return facts if isinstance(facts, dict) else {}


def merged(finding: Any) -> bool:
    """Whether the collector merged the finding across pods: it is a group already, and its title names
    its workload ("in 300 pods of deployment/shop"), not a pod."""
    pods = _facts(finding).get("pods")
    return isinstance(pods, list) and bool(pods)


def finding_pods(finding: Any) -> tuple[list[str], int]:
    """The pods one finding names, and how many pods it is seen in (a merged finding counts past its names)."""
    facts = _facts(finding)
    if merged(finding):
        pods = [pod for pod in facts["pods"] if isinstance(pod, str) and pod]
        count = facts.get("pod_count")
        return pods, max(count if isinstance(count, int) else 0, len(pods))
    pod = facts.get("pod")
    return ([pod], 1) if isinstance(pod, str) and pod else ([], 0)


def pods_of(findings: Iterable[Any]) -> tuple[list[str], int]:
    """The pods a group of findings is seen in, each named once, and how many in all."""
    pods: list[str] = []
    unnamed = 0
    for finding in findings:
        names, count = finding_pods(finding)
        new = [pod for pod in names if pod not in pods]
        pods += new
        unnamed += count - len(names) if new else 0
    return pods, len(pods) + unnamed
