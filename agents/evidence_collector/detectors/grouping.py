"""One finding for the pods of one workload that fail the same way, not one per pod.

A Deployment of 300 replicas crash-looping on the same error made 600 findings: the summary
showed the first five (all the same), the fix agent's model saw the first eight (all the same,
whatever else was wrong in the namespace), and findings.json weighed more than a megabyte.

Findings are merged only when nothing but the pod tells them apart: the same kind, the same
controller (ReplicaSet, StatefulSet...), the same container, and the same signature, which each
detector states (a crash: exit code, signal, how it ended and its last error lines with times,
addresses, long numbers, hex ids and the pod's name masked, ports kept; an OOM kill: the memory
limit). A pod that fails differently keeps a finding of its own, as does one whose controller
reference names no Kubernetes object. The merged finding is its first pod's (pointers, quotes,
facts), counted and named: `facts.pods` lists the pods (at most MAX_PODS of them), `facts.pod_count`
counts them all.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from evidence_collector.findings import Evidence, Finding
from evidence_collector.shapes import DNS_SUBDOMAIN_NAME

MAX_PODS = 100  # pod names listed in a merged finding; pod_count counts them all
_KIND = re.compile(r"[A-Za-z][A-Za-z0-9]{0,62}")
# What differs from one replica to the next, masked after the ids (`_HEX_RUN`): times, addresses, long numbers.
# A port says which dependency failed (`127.0.0.1:5432` is not `127.0.0.1:6379`) and is kept, but for the local
# end of a connection (`10.1.2.3:43122->`), which is ephemeral.
_VARYING = (
    (re.compile(r"(?:\d{4}[-/]\d\d[-/]\d\d[T ]|\b)\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?"), "<time>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b(?::\d+(?=->))?"), "<ip>"),
    (re.compile(r"(?<![:\d])\d{4,}"), "<n>"),  # request ids, counters, pids; not a port (`localhost:5432`)
)
# Uuids and hashes: a whole run of hex digits and dashes (possessive, and only where a run starts:
# linear on a hostile line of `a-a-a-...`), masked when it holds a digit and a letter.
_HEX_RUN = re.compile(r"(?<![\w-])[0-9a-fA-F-]{8,}+(?![\w-])")


def _hex_id(match: re.Match[str]) -> str:
    run = match[0]
    return "<id>" if any(c.isdigit() for c in run) and any(c.isalpha() for c in run) else run


def masked(lines: list[str], pod: str) -> tuple[str, ...]:
    """Log lines as a signature: what differs from one replica to the next (times, addresses, ids, long
    numbers, its own name) masked; what says how it failed kept, short numbers too (`HTTP 503`, `VAR_2`)."""
    return tuple(_masked_line(line.replace(pod, "<pod>") if pod else line) for line in lines)


@lru_cache(maxsize=4096)
def _masked_line(line: str) -> str:
    """(Cached: replicas logging the very same line, as one image's replicas do, pay for it once.)"""
    line = _HEX_RUN.sub(_hex_id, line)
    for pattern, mask in _VARYING:
        line = pattern.sub(mask, line)
    return line.rstrip()


def controller(pod: dict[str, Any]) -> tuple[str, str, str] | None:
    """(kind, name, uid) of the pod's controller, or None for a pod that has none, or whose reference names
    no Kubernetes object: the API checks only that kind, name and uid are not empty, so whoever may create
    a pod may write any text there, and the title of a merged finding shows them."""
    for ref in pod.get("metadata", {}).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller") and ref.get("uid"):
            kind, name = ref.get("kind"), ref.get("name")
            if not (isinstance(kind, str) and _KIND.fullmatch(kind) and isinstance(name, str)
                    and DNS_SUBDOMAIN_NAME.match(name)):
                return None
            return kind, name, str(ref["uid"])
    return None


def _workload_name(evidence: Evidence, owner: tuple[str, str, str]) -> str:
    """`deployment/shop` for a ReplicaSet a Deployment owns (what a person knows it by), else the owner's."""
    kind, name, uid = owner
    if kind == "ReplicaSet":
        for replicaset in evidence.replicasets:
            if str(replicaset.get("metadata", {}).get("uid")) == uid:
                top = controller(replicaset)
                if top is not None:
                    return f"{top[0].lower()}/{top[1]}"
    return f"{kind.lower()}/{name}"


Describe = Callable[[Finding, str, list[Finding]], tuple[str, str]]


def grouped(evidence: Evidence, findings: list[tuple[Finding, tuple[Any, ...] | None]],
            describe: Describe) -> list[Finding]:
    """The findings with those of one group merged into their first.

    `findings`: each finding with its group key (None: never merged); the key must hold the kind, the
    pod's controller (second) and the container. `describe(first, workload, members)` returns the merged
    finding's (title, detail).
    """
    groups: dict[tuple[Any, ...], list[Finding]] = {}
    order: list[tuple[Any, ...] | Finding] = []
    seen: set[tuple[tuple[Any, ...], Any]] = set()
    for finding, key in findings:
        if key is None:
            order.append(finding)
            continue
        if key not in groups:
            groups[key] = []
            order.append(key)
        if (key, finding.facts.get("pod")) not in seen:  # a pod the API listed twice is one pod
            seen.add((key, finding.facts.get("pod")))
            groups[key].append(finding)
    result = []
    for entry in order:
        if isinstance(entry, Finding):
            result.append(entry)
            continue
        members = groups[entry]
        if len(members) == 1:
            result.append(members[0])
            continue
        first = members[0]
        pods = [str(member.facts.get("pod", "")) for member in members]
        owner = entry[1]
        title, detail = describe(first, _workload_name(evidence, owner), members)
        objects = [f"{owner[0].lower()}/{owner[1]}", *first.objects]
        result.append(Finding(first.kind, first.severity, title, detail, objects, first.pointers,
                              {**first.facts, "pods": pods[:MAX_PODS], "pod_count": len(pods)}, first.quotes))
    return result
