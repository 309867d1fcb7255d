"""Findings of containers that never start: image pull errors and CreateContainerConfigError.

The pods of one controller that wait for the same reason and message (`grouping`) are one finding.
"""

from __future__ import annotations

import re
from typing import Any

from evidence_collector.detectors.grouping import controller, grouped, masked
from evidence_collector.findings import Evidence, Finding, Quote, _name, _pod_pointer, _statuses

PULL_ERRORS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName"})


def _status_quote(evidence: Evidence, pod: dict[str, Any], container: str, reason: str, message: str) -> Quote:
    """A container's waiting state, as its pod's line in pods.jsonl records it."""
    return Quote("objects/pods.jsonl", evidence.pod_lines[id(pod)], f"{container}: {reason}: {message}")


def _describe(first: Finding, workload: str, members: list[Finding]) -> tuple[str, str]:
    """Title and detail of the pods of `workload` whose container waits as `first`'s does."""
    container, count = first.facts["container"], len(members)
    if first.kind == "image-pull":
        return (f"{container} cannot pull {first.facts.get('image')} in {count} pods of {workload}",
                f"{count} pods of {workload}. {first.facts['pod']}: {first.detail}")
    return (f"{container} cannot start in {count} pods of {workload}: {first.facts['message'][:120]}",
            f"{count} pods of {workload}. {first.facts['pod']}: {first.detail}")


def detect_waiting_errors(evidence: Evidence) -> list[Finding]:
    """Image pull errors and CreateContainerConfigError (missing ConfigMap, Secret or key)."""
    findings: list[tuple[Finding, tuple[object, ...] | None]] = []
    for pod in evidence.pods:
        owner = controller(pod)
        for status in _statuses(pod):
            waiting = status.get("state", {}).get("waiting", {})
            reason = waiting.get("reason", "")
            if reason not in PULL_ERRORS and reason != "CreateContainerConfigError":
                continue  # running, or waiting for another reason: no signature to compute
            message = waiting.get("message", "")
            objects = [f"pod/{_name(pod)}", f"container/{status['name']}"]
            # The same controller, container, reason, image and message (its pod's name masked): one finding.
            key = None if owner is None else (reason, owner, status["name"], str(status.get("image")),
                                              masked([message], _name(pod)))
            if reason in PULL_ERRORS:
                findings.append((Finding(
                    "image-pull", "critical", f"{_name(pod)}/{status['name']} cannot pull {status.get('image')}",
                    f"{reason}: {message[:400]}", objects, [_pod_pointer(evidence, pod)],
                    {"pod": _name(pod), "container": status["name"], "image": status.get("image")},
                    [_status_quote(evidence, pod, status["name"], reason, message)]), key))
            elif reason == "CreateContainerConfigError":
                facts: dict[str, Any] = {"pod": _name(pod), "container": status["name"], "message": message[:400]}
                if match := re.search(r'configmap "([^"]+)" not found', message):
                    facts["missing_configmap"] = match[1]
                if match := re.search(r"couldn't find key (\S+) in ConfigMap \S+/(\S+)", message):
                    facts["missing_key"], facts["configmap"] = match[1], match[2]
                if match := re.search(r'secret "([^"]+)" not found', message):
                    facts["missing_secret"] = match[1]
                if match := re.search(r"couldn't find key (\S+) in Secret \S+/(\S+)", message):
                    facts["missing_secret_key"], facts["secret"] = match[1], match[2]
                # The objects and keys it names are kept whole: masked digits would make `app-config-20241130`
                # `app-config-20241201` (a StatefulSet's pods have one controller across revisions).
                named = tuple(sorted((k, v) for k, v in facts.items() if k not in {"pod", "container", "message"}))
                findings.append((Finding(
                    "config-error", "critical", f"{_name(pod)}/{status['name']} cannot start: {message[:120]}",
                    f"CreateContainerConfigError: {message[:400]}", objects, [_pod_pointer(evidence, pod)], facts,
                    [_status_quote(evidence, pod, status["name"], reason, message)]),
                    None if key is None else (*key, named)))
    return grouped(evidence, findings, _describe)
