"""Crash findings: OOMKilled containers and crash loops, with their last error lines or stack trace.

The pods of one controller that crash the same way (`grouping`) are one finding.
"""

from __future__ import annotations

import re

from evidence_collector.detectors.grouping import controller, grouped, masked
from evidence_collector.findings import (
    MAX_QUOTES,
    Evidence,
    Finding,
    Pointer,
    Quote,
    TailReading,
    _containers,
    _line_quotes,
    _name,
    _pod_pointer,
    _statuses,
)
from evidence_collector.stack_traces import stack_traces

# Each word with one of its less common letters: a log without the letter cannot hold the word, and a
# letter is looked for (memchr) ten times faster than a word. Most logs of a crashed container hold no
# `x`, `k` or `p`: 600 of them were searched nine times each.
_WORD_LETTERS = (("error", "r"), ("exception", "x"), ("fatal", "f"), ("panic", "p"), ("traceback", "k"),
                 ("failed", "f"), ("refused", "f"), ("denied", "d"), ("killed", "k"))
ERROR_WORDS = tuple(word for word, _ in _WORD_LETTERS)
ERROR_LINE = re.compile(r"(?i)\b(" + "|".join(ERROR_WORDS) + r")\b")


def _may_hold_error(text: str) -> bool:
    """False only when no line of text can match ERROR_LINE: on ASCII text a case-insensitive match
    holds one of the words, lower-cased; substring tests are far faster than the case-folding regex.
    (Other text: Unicode case folding matches more than lower() shows, so the regex decides.)"""
    if not text.isascii():
        return True
    lowered = text.lower()
    return any(letter in lowered and word in lowered for word, letter in _WORD_LETTERS)


def _last_error_line(lines: list[str]) -> int | None:
    """Index of the last line matching ERROR_LINE (searched from the end), or None."""
    if not _may_hold_error("".join(lines)):
        return None
    return next((i for i in range(len(lines) - 1, -1, -1) if ERROR_LINE.search(lines[i])), None)


def read_tail(tail: tuple[str, list[str], int]) -> TailReading | None:
    """What a crashed container's log tail shows: its last error lines (else its last lines), and the quotes
    that show them: its last stack trace when the tail holds one, else those lines. None for an empty tail.

    Pure, and one log's alone: the collector reads each crashed container's tail as it arrives, while
    other logs are in flight (`Evidence.tail_readings`), rather than all of them after the last."""
    file, lines, first = tail
    traces = stack_traces(lines)
    trace_quotes: list[Quote] = []
    if traces:
        trace = traces[-1][-MAX_QUOTES:]
        start = max((i for i, line in enumerate(lines) if line is trace[0]), default=0)
        trace_quotes = _line_quotes(file, first, trace, start)
    last = _last_error_line(lines)
    if last is not None:
        start = max(last - 4, 0)
        found = lines[start: last + 1]
        return found, Pointer(file, (first + start, first + last)), \
            trace_quotes or _line_quotes(file, first, found, start)
    if lines:
        start = max(len(lines) - 5, 0)
        return lines[start:], Pointer(file, (first + start, first + len(lines) - 1)), \
            trace_quotes or _line_quotes(file, first, lines[start:], start)
    return None


def _last_error_lines(evidence: Evidence, pod: str, container: str
                      ) -> tuple[list[str], Pointer | None, list[Quote]]:
    """read_tail of a container's log, the previous one first (read as it arrived when it was)."""
    for previous in (True, False):
        key = (pod, container, previous)
        entry = evidence.log_tails.get(key)
        if entry is None:
            continue
        reading = evidence.tail_readings[key] if key in evidence.tail_readings else read_tail(entry)
        if reading is not None:
            return reading
    return [], None, []


def _describe(first: Finding, workload: str, members: list[Finding]) -> tuple[str, str]:
    """Title and detail of the pods of `workload` that crash as `first` does."""
    container, count = first.facts["container"], len(members)
    restarts = sorted(n for member in members if isinstance(n := member.facts.get("restart_count"), int))
    spread = "unknown" if not restarts else f"{restarts[0]}" if restarts[0] == restarts[-1] else \
        f"{restarts[0]} to {restarts[-1]}"
    if first.kind == "oom-killed":
        return (f"{container} was OOMKilled in {count} pods of {workload}",
                f"Container {container} was killed for exceeding its memory limit "
                f"({first.facts.get('memory_limit') or 'no limit set'}) in {count} pods of {workload}; restarts: "
                f"{spread}. First: {first.facts['pod']}.")
    return (f"{container} is crash-looping in {count} pods of {workload} (exit code {first.facts['exit_code']})",
            f"{count} pods of {workload}, the same way; restarts {spread}. {first.facts['pod']}: {first.detail}")


def detect_crashes(evidence: Evidence) -> list[Finding]:
    """One finding per crashing container, those of one controller that crash the same way merged."""
    findings: list[tuple[Finding, tuple[object, ...] | None]] = []
    for pod in evidence.pods:
        owner = controller(pod)
        limits = {c["name"]: c.get("resources", {}).get("limits", {}) for c in _containers(pod)}
        for status in _statuses(pod):
            name = status["name"]
            waiting = status.get("state", {}).get("waiting", {})
            terminated = status.get("lastState", {}).get("terminated") or status.get("state", {}).get("terminated")
            objects = [f"pod/{_name(pod)}", f"container/{name}"]
            if terminated and terminated.get("reason") == "OOMKilled":
                memory = limits.get(name, {}).get("memory")
                findings.append((Finding(
                    "oom-killed", "critical", f"{_name(pod)}/{name} was OOMKilled",
                    f"Container {name} was killed for exceeding its memory limit ({memory or 'no limit set'}); "
                    f"restarts: {status.get('restartCount', 0)}.",
                    objects, [_pod_pointer(evidence, pod)],
                    {"pod": _name(pod), "container": name, "memory_limit": memory,
                     "restart_count": status.get("restartCount", 0)}),
                    None if owner is None else ("oom-killed", owner, name, str(memory))))
            elif waiting.get("reason") == "CrashLoopBackOff" or (
                    terminated and terminated.get("exitCode", 0) != 0 and status.get("restartCount", 0) > 0):
                lines, pointer, quotes = _last_error_lines(evidence, _name(pod), name)
                code = (terminated or {}).get("exitCode")
                signal = (terminated or {}).get("signal")
                excerpt = "\n".join(line.rstrip() for line in lines)
                findings.append((Finding(
                    "crash-loop", "critical", f"{_name(pod)}/{name} is crash-looping (exit code {code})",
                    f"Exit code {code}{f', signal {signal}' if signal else ''}, restarts "
                    f"{status.get('restartCount', 0)}. Last error lines:\n{excerpt}",
                    objects, [_pod_pointer(evidence, pod), *([pointer] if pointer else [])],
                    {"pod": _name(pod), "container": name, "exit_code": code, "last_lines": lines[-5:],
                     "restart_count": status.get("restartCount", 0)}, quotes),
                    # How the container ended (reason, termination message: 4 KB from the kubelet) tells apart
                    # pods that no log does.
                    None if owner is None else ("crash-loop", owner, name, code, signal,
                                                str((terminated or {}).get("reason")),
                                                masked([str((terminated or {}).get("message") or "")[:4096]],
                                                       _name(pod)),
                                                masked(lines, _name(pod)))))
    return grouped(evidence, findings, _describe)
