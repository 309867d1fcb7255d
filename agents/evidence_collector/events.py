"""The namespace's events of the time window, oldest first, streamed through a spool file.

A namespace can hold tens of thousands of events: each page is filtered, redacted and
spooled as it arrives (memory holds an index entry per event), the newest are the ones
kept when the budget is short (the tail that matters), and only those, slim, are handed
to the detectors.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from evidence_collector.staging import Staging, jsonl_lines
from evidence_collector.window import TimeWindow, parse_timestamp
from pathops_contracts.errors import InvalidInput

EVENTS_FILE = "objects/events.jsonl"
MESSAGE_CHARS = 512  # what the detectors need of a message (the file keeps it whole)


def timestamp(event: dict[str, Any]) -> datetime | None:
    """When the event last happened: its first time that is one (past `shapes`, a time may still name no
    day: 30 February); None when it has none, and it is then outside every window."""
    created = event.get("metadata", {}).get("creationTimestamp")
    for value in (*(event.get(key) for key in ("lastTimestamp", "eventTime", "firstTimestamp")), created):
        if value:
            try:
                return parse_timestamp(str(value))
            except InvalidInput:
                continue
    return None


def slim(event: dict[str, Any]) -> dict[str, Any]:
    """The fields the detectors (their quotes carry the time) and the secret references read."""
    involved = event.get("involvedObject") or {}
    kept: dict[str, Any] = {key: event[key] for key in ("type", "reason", "count", "firstTimestamp", "eventTime",
                                                        "lastTimestamp") if key in event}
    return {**kept, "message": str(event.get("message") or "")[:MESSAGE_CHARS],
            "involvedObject": {key: involved[key] for key in ("kind", "name", "fieldPath") if key in involved}}


class EventSpool:
    """Collects events page by page; `finish` writes the kept ones in time order."""

    def __init__(self, staging: Staging, window: TimeWindow, names: set[str] | None, spool_dir: Path) -> None:
        self.staging = staging
        self.window = window
        self.names = names
        self._spool = tempfile.TemporaryFile(dir=spool_dir)  # noqa: SIM115 - closed in finish()
        self._index: list[tuple[datetime, int, int]] = []  # (time, offset, length): no event stays in memory
        self._offset = 0

    def add(self, page: Iterable[dict[str, Any]]) -> None:
        moments = []
        kept = []
        for event in page:
            moment = timestamp(event)
            if self.window.contains(moment) and (
                    self.names is None or event.get("involvedObject", {}).get("name") in self.names):
                kept.append(event)
                moments.append(moment or self.window.start)
        if not kept:
            return
        data = jsonl_lines(self.staging.redactor, EVENTS_FILE, kept)
        self._spool.write(data)
        for moment, line in zip(moments, data.splitlines(keepends=True), strict=True):
            self._index.append((moment, self._offset, len(line)))
            self._offset += len(line)

    def finish(self, cap: int) -> list[dict[str, Any]]:
        """Write the file, newest events kept first; returns the kept events, line for line (slim)."""
        self._index.sort()
        start = len(self._index)
        size = 0
        while start > 0 and size + self._index[start - 1][2] <= cap:
            start -= 1
            size += self._index[start][2]
        granted = self.staging.reserve(size)
        while size > granted:  # the budget moved under us: drop the oldest until it fits
            size -= self._index[start][2]
            start += 1
        self.staging.refund(granted - size)
        kept = self._index[start:]
        events: list[dict[str, Any]] = []  # what the detectors read: the kept events only, slim, as written
        with self.staging.path(EVENTS_FILE).open("wb") as out:
            for _, offset, length in kept:
                self._spool.seek(offset)
                line = self._spool.read(length)
                out.write(line)
                events.append(slim(json.loads(line)))
        self._spool.close()
        if start:
            self.staging.gap(EVENTS_FILE, "truncated" if kept else "budget_exhausted",
                             f"kept the tail: the newest {len(kept)} of {len(self._index)} events of the window "
                             f"fit the budget")
        return events

