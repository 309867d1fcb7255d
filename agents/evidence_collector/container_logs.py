"""Container logs: which to read, each one's share of the byte budget, and reading them within bounds.

Suspect containers (anything wrong with them) share the budget fairly, the healthy get a short
tail; the log that holds a crash (the previous container's, when it restarted) also pays for
its excerpt file out of its share. Every stream is bounded in
bytes (limitBytes, and cut here when a server ignores it), in line length and in time: at the
deadline what arrived is kept and marked truncated.
"""

from __future__ import annotations

import codecs
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from evidence_collector.stack_traces import excerpt, excerpt_from_ends, holds_stack_start
from evidence_collector.staging import Staging, StreamResult, newline_lines
from evidence_collector.window import TimeWindow
from pathops_runtime.kube_reader import DeadlineReached, KubeReader, NotFound, ReadForbidden
from pathops_runtime.log_streams import LogBody, LogFetch, LogStreams

FINDINGS_RESERVE = 1024 * 1024  # room kept for findings.json and the redaction report
MIN_LOG_BYTES = 4 * 1024
MAX_LINE = 16 * 1024  # longer lines are cut: one endless line must not fill memory
TYPICAL_LINE = 128  # bytes of a timestamped log line, to size tailLines to a byte share (until measured)
EXCERPT_SHARE = 4  # a crashed container's excerpt gets at most 1/4 of its log's share...
MAX_EXCERPT = 64 * 1024  # ...and never more than this

# (pod, container, previous) -> (file in the snapshot, its last lines, line number of the first of them)
LogTail = tuple[str, list[str], int]  # file in the snapshot, its last lines, the line number of the first
LogTails = dict[tuple[str, str, bool], LogTail]


@dataclass(frozen=True)
class LogTask:
    pod: str
    container: str
    previous: bool
    crashed: bool
    suspect: bool
    excerpt: bool = False  # the log that holds the crash gets an excerpt file (head, tail, stack traces)

    def file_name(self, suffix: str = ".log") -> str:
        return f"logs/{self.pod}/{self.container}{'.previous' if self.previous else ''}{suffix}"


@dataclass(frozen=True)
class _Planned:
    fetch: LogFetch
    granted: int  # bytes of the budget taken for the log and its excerpt
    excerpt_bytes: int
    tail_lines: int


@dataclass(frozen=True)
class LogBounds:
    log_bytes: int
    tail_lines: int
    healthy_tail_lines: int
    excerpt_head: int
    excerpt_tail: int
    concurrency: int
    stream_seconds: float


def plan(pods: list[dict[str, Any]], warned: set[str]) -> list[LogTask]:
    """Every container's current log, and the previous one of a restarted container; suspects first."""
    tasks: list[LogTask] = []
    for pod in pods:
        pod_name = pod["metadata"]["name"]
        statuses = {s["name"]: s for key in ("initContainerStatuses", "containerStatuses")
                    for s in pod.get("status", {}).get(key, [])}
        pod_ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                        for c in pod.get("status", {}).get("conditions", []))
        for container in [*pod["spec"].get("initContainers", []), *pod["spec"].get("containers", [])]:
            status = statuses.get(container["name"], {})
            restarted = status.get("restartCount", 0) > 0 or bool(status.get("lastState", {}).get("terminated"))
            waiting = status.get("state", {}).get("waiting", {}).get("reason", "")
            terminated = status.get("state", {}).get("terminated", {})
            crashed = restarted or waiting == "CrashLoopBackOff" or terminated.get("exitCode", 0) != 0
            suspect = crashed or bool(waiting) or not status.get("ready", True) or not pod_ready \
                or pod_name in warned
            # The crash is in the previous container's log when there is one, else in the current one.
            tasks.append(LogTask(pod_name, container["name"], False, crashed, suspect, crashed and not restarted))
            if restarted:
                tasks.append(LogTask(pod_name, container["name"], True, crashed, suspect, crashed))
    return [t for t in tasks if t.suspect] + [t for t in tasks if not t.suspect]


def shares(tasks: list[LogTask], available: int, log_bytes: int) -> tuple[int, int]:
    """(suspect share, healthy share) so that every planned log, excerpts included, fits `available`."""
    available -= FINDINGS_RESERVE
    healthy = sum(1 for t in tasks if not t.suspect)
    suspects = len(tasks) - healthy
    healthy_share = max(min(log_bytes // 8, available // max(4 * len(tasks), 1)), MIN_LOG_BYTES)
    suspect_share = max(min(log_bytes, (available - healthy_share * healthy) // max(suspects, 1)), MIN_LOG_BYTES)
    return suspect_share, healthy_share


class LogReader:
    """Reads planned logs concurrently into the staging area; returns the tails the detectors read."""

    def __init__(self, reader: KubeReader, staging: Staging, namespace: str, window: TimeWindow,
                 bounds: LogBounds, until: float) -> None:
        self.reader = reader
        self.staging = staging
        self.namespace = namespace
        self.window = window
        self.bounds = bounds
        self.until = until  # time.monotonic() instant: nothing is read past it
        self._seen_bytes = 0
        self._seen_lines = 0

    def _line_length(self) -> float:
        """Bytes per line to expect: the mean of the logs read so far, with a margin."""
        if self._seen_lines < 1000:
            return TYPICAL_LINE
        return max(self._seen_bytes / self._seen_lines * 1.25, 16.0)

    def read_all(self, tasks: list[LogTask], read_crashed: Callable[[LogTask, LogTail], None] | None = None
                 ) -> LogTails:
        """Every planned log; `read_crashed` is given a crashed container's tail as it arrives, while the
        other logs are in flight (the loop's idle time: after the last one, the run waits on it)."""
        suspect_share, healthy_share = shares(tasks, self.staging.available(), self.bounds.log_bytes)
        tails: LogTails = {}
        plans: dict[LogTask, _Planned] = {}

        def start(task: LogTask) -> LogFetch | None:
            planned = self._plan(task, suspect_share if task.suspect else healthy_share)
            if planned is None:
                return None
            plans[task] = planned
            return planned.fetch

        def finish(task: LogTask, _: LogFetch, outcome: LogBody | Exception) -> None:
            result = self._keep(task, plans.pop(task), outcome)
            if result is not None:
                tails[(task.pod, task.container, task.previous)] = result
                if task.crashed and read_crashed is not None:
                    read_crashed(task, result)

        # One thread, `concurrency` streams in flight; the reader's deadline bounds retries, `until` the rest.
        LogStreams[LogTask](self.reader.connection, self.bounds.concurrency,
                            deadline=min(self.until, self.reader.deadline or self.until)).run(tasks, start, finish)
        return tails

    def _plan(self, task: LogTask, share: int) -> _Planned | None:
        """The request for one log within its share of the budget; None (and a gap) when it cannot be made."""
        name = task.file_name()
        if time.monotonic() >= self.until:
            self.staging.gap(name, "timeout", "collection deadline reached before this log was requested")
            return None
        granted = self.staging.reserve(share)
        if granted == 0:
            self.staging.gap(name, "budget_exhausted", "snapshot byte budget spent before this log")
            return None
        excerpt_bytes = min(granted // EXCERPT_SHARE, MAX_EXCERPT) if task.excerpt else 0
        limit = granted - excerpt_bytes
        tail_lines = self.bounds.tail_lines if task.suspect else min(self.bounds.healthy_tail_lines,
                                                                     self.bounds.tail_lines)
        # The API applies limitBytes after tailLines, keeping the *oldest* of the tail: ask for no more
        # lines than the share holds at the line length seen so far, so that what comes is the newest.
        tail_lines = min(tail_lines, max(int(limit / self._line_length()), 10))
        until = min(self.until, time.monotonic() + self.bounds.stream_seconds)
        target = self.reader.log_target(self.namespace, task.pod, task.container, previous=task.previous,
                                        since_time=self.window.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                        tail_lines=tail_lines, limit_bytes=limit)
        return _Planned(LogFetch(target, limit, until), granted, excerpt_bytes, tail_lines)

    def _keep(self, task: LogTask, planned: _Planned, outcome: LogBody | Exception
              ) -> tuple[str, list[str], int] | None:
        """Write what arrived (redacted, cut at the share), record its gaps; its tail for the detectors."""
        name = task.file_name()
        limit = planned.fetch.limit
        if isinstance(outcome, Exception):
            self.staging.refund(planned.granted)
            self.staging.discard(name)
            reason = "forbidden" if isinstance(outcome, ReadForbidden) else (
                "not_found" if isinstance(outcome, NotFound) else
                "timeout" if isinstance(outcome, DeadlineReached) else "error")
            self.staging.gap(name, reason, str(outcome))
            return None
        lines = LineReader(outcome.chunks, limit, outcome.cut_because)
        result = self.staging.write_stream(name, iter(lines), limit, keep=self.bounds.excerpt_tail,
                                           watch=holds_stack_start if task.excerpt else None)
        self.staging.refund(limit - result.bytes_written)
        self._seen_bytes += result.bytes_written  # one thread: the event loop's (start and finish run there)
        self._seen_lines += result.lines
        tail_lines = planned.tail_lines
        if lines.cut_because:
            self.staging.gap(name, "truncated", f"kept the head: {result.bytes_written} bytes, {result.lines} "
                                                f"lines; {lines.cut_because}")
        # The API does not say when it cut; a full tailLines or limitBytes worth of log means it probably did.
        elif result.cut or result.bytes_written >= limit * 0.95:  # the API cut at limitBytes (redaction resizes)
            self.staging.gap(name, "truncated", f"kept the start of the last tailLines {tail_lines} lines: "
                                                f"{result.lines} lines, {result.bytes_written} bytes (limitBytes "
                                                f"{limit} is applied after tailLines)")
        elif result.lines >= tail_lines:
            self.staging.gap(name, "truncated", f"kept the tail: the last {result.lines} lines, "
                                                f"{result.bytes_written} bytes (tailLines {tail_lines})")
        if task.excerpt:
            self._excerpt(task, planned.excerpt_bytes, result)
        first = max(result.lines - len(result.tail), 0) + 1
        return name, result.tail, first

    def _excerpt(self, task: LogTask, excerpt_bytes: int, result: StreamResult) -> None:
        """Head, tail and stack traces of a crashed container's log, within the bytes its share kept for it."""
        head, tail = self.bounds.excerpt_head, self.bounds.excerpt_tail
        if not result.watched and head <= tail:  # no stack trace: its ends, kept as it was written, suffice
            text = excerpt_from_ends(result.head, result.tail, result.lines, head, tail)
        else:
            lines = newline_lines(self.staging.read(task.file_name()).decode("utf-8"))
            text = excerpt(lines, head, tail)
        name = task.file_name(".excerpt.txt")
        # Written from the bytes the log's share set aside (no other log can take them meanwhile).
        written = self.staging.size(name) if self.staging.write_excerpt(name, text, cap=excerpt_bytes) else 0
        self.staging.refund(excerpt_bytes - written)


class LineReader:
    """A received byte stream as blocks of complete lines, with each line and the whole bounded.

    Lines longer than MAX_LINE are cut (the rest of such a line is skipped as it arrives);
    more than `limit` bytes received means the server ignored limitBytes: reading stops.
    `cut_because` says why the stream ended early (the fetch's reason, or the limit's).
    """

    def __init__(self, chunks: Iterable[bytes], limit: int, cut_because: str = "") -> None:
        self.chunks = chunks
        self.limit = limit
        self.cut_because = cut_because

    def __iter__(self) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = ""
        skipping = False  # inside an over-long line: drop until its end
        received = 0
        for chunk in self.chunks:
            received += len(chunk)
            text = decoder.decode(chunk)
            if skipping:
                end = text.find("\n")
                if end == -1:
                    text = ""
                else:
                    text, skipping = text[end + 1:], False
            pending += text
            cut = pending.rfind("\n") + 1
            if cut:
                yield _capped(pending[:cut])
                pending = pending[cut:]
            if len(pending) > MAX_LINE:
                yield pending[:MAX_LINE] + " [line cut]\n"
                pending, skipping = "", "\n" not in pending
            if received > self.limit:
                self.cut_because = f"the server sent more than limitBytes ({self.limit}): reading stopped"
                return
        pending += decoder.decode(b"", final=True)
        if pending and not skipping:
            yield pending[:MAX_LINE] + "\n"


def _has_long_line(block: str) -> bool:
    """Whether a line of the block is longer than MAX_LINE: a window of MAX_LINE + 1 characters with no
    newline in it, looked for a window at a time (no split of the whole block)."""
    start = 0
    while len(block) - start > MAX_LINE:
        newline = block.rfind("\n", start, start + MAX_LINE + 1)
        if newline == -1:
            return True
        start = newline + 1
    return False


def _capped(block: str) -> str:
    """Cut the lines of a block that are longer than MAX_LINE (rare: checked before splitting)."""
    if not _has_long_line(block):
        return block
    return "\n".join(line if len(line) <= MAX_LINE else line[:MAX_LINE] + " [line cut]"
                     for line in block.split("\n"))
