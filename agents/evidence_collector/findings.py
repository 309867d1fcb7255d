"""What the detectors read (`Evidence`) and what they return (`Finding`, with pointers and quotes).

A finding points into the snapshot (file and line range) and quotes the few lines that prove it,
each with its file and line, for the merge request and analysis.md to show as they are. The
helpers below read pods and events as the API returned them; pure, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}


@dataclass
class Pointer:
    file: str
    lines: tuple[int, int]

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "lines": list(self.lines)}


MAX_QUOTE_CHARS = 300
MAX_QUOTES = 12  # a stack trace's frames, or a few log lines and an event


@dataclass
class Quote:
    """One line of the snapshot, as written there (redacted), that proves a finding."""

    file: str
    line: int  # 1-based
    text: str
    time: str | None = None  # when the API says (events)

    def as_dict(self) -> dict[str, Any]:
        quote: dict[str, Any] = {"file": self.file, "line": self.line, "text": self.text[:MAX_QUOTE_CHARS]}
        if self.time:
            quote["time"] = self.time
        return quote


# What a log's tail shows of a crash: its last error lines, where they are, the quotes that show them.
TailReading = tuple[list[str], Pointer | None, list[Quote]]


@dataclass
class Finding:
    kind: str
    severity: str
    title: str
    detail: str
    objects: list[str]
    pointers: list[Pointer] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)  # machine-readable specifics for the fix agent
    quotes: list[Quote] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "severity": self.severity, "title": self.title, "detail": self.detail,
                "objects": self.objects, "pointers": [p.as_dict() for p in self.pointers], "facts": self.facts,
                "quotes": [q.as_dict() for q in self.quotes[:MAX_QUOTES]]}


@dataclass
class Evidence:
    """What the detectors read. Lines are 1-based positions in the JSON Lines files."""

    pods: list[dict[str, Any]]
    events: list[dict[str, Any]]
    services: list[dict[str, Any]]
    endpoints: list[dict[str, Any]]
    configmaps: list[dict[str, Any]]
    replicasets: list[dict[str, Any]]
    workloads: list[dict[str, Any]]
    # (pod, container, previous) -> (file in the snapshot, its last lines, line number of the first of them)
    log_tails: dict[tuple[str, str, bool], tuple[str, list[str], int]]
    rollouts: list[dict[str, Any]] = field(default_factory=list)  # one per deployment, as in rollout-diffs.jsonl
    # Sections whose list failed or stopped part-way: an empty or short list there proves nothing.
    unread: frozenset[str] = frozenset()
    # Lines kept of each file the budget cut (head kept): pointers past them are dropped.
    kept_lines: dict[str, int] = field(default_factory=dict)
    # uids of objects read without a malformed field (`shapes`): what such an object lacks proves nothing.
    repaired: frozenset[str] = frozenset()
    # `detectors.crashes.read_tail` of a crashed container's log tails, read as each arrived (same keys).
    tail_readings: dict[tuple[str, str, bool], TailReading | None] = field(default_factory=dict)
    pod_lines: dict[int, int] = field(init=False)

    def __post_init__(self) -> None:
        self.pod_lines = {id(pod): index + 1 for index, pod in enumerate(self.pods)}


def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod.get("spec", {})
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def _statuses(pod: dict[str, Any]) -> list[dict[str, Any]]:
    status = pod.get("status", {})
    return [*status.get("initContainerStatuses", []), *status.get("containerStatuses", [])]


def _name(obj: dict[str, Any]) -> str:
    return str(obj.get("metadata", {}).get("name", ""))


def _pod_pointer(evidence: Evidence, pod: dict[str, Any]) -> Pointer:
    line = evidence.pod_lines[id(pod)]
    return Pointer("objects/pods.jsonl", (line, line))


def _event_pointers(evidence: Evidence, match: Callable[[dict[str, Any]], bool]) -> list[Pointer]:
    lines = [i + 1 for i, event in enumerate(evidence.events) if match(event)]
    return [Pointer("objects/events.jsonl", (lines[0], lines[-1]))] if lines else []


def _event_time(event: dict[str, Any]) -> str | None:
    value = event.get("firstTimestamp") or event.get("eventTime") or event.get("lastTimestamp")
    return str(value) if value else None


def _event_quote(evidence: Evidence, match: Callable[[dict[str, Any]], bool]) -> list[Quote]:
    """The first matching event, as a person reads it, with its line in events.jsonl."""
    for index, event in enumerate(evidence.events):
        if match(event):
            involved = event.get("involvedObject", {})
            count = event.get("count", 1)
            text = (f"{event.get('type', 'Normal')} {event.get('reason', '')} "
                    f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}: {event.get('message', '')}"
                    + (f" ({count} times)" if isinstance(count, int) and count > 1 else ""))
            return [Quote("objects/events.jsonl", index + 1, text, _event_time(event))]
    return []


def _line_quotes(file: str, first: int, lines: list[str], offset: int = 0) -> list[Quote]:
    return [Quote(file, first + offset + i, line.rstrip("\n")) for i, line in enumerate(lines)]
