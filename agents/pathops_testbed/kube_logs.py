"""Container logs as the fake Kubernetes API serves them: static, generated, shared, slow or endless.

`render` is what the API server does with a log request: sinceTime, then the last tailLines
lines, then limitBytes, optionally with RFC 3339 timestamps.
"""

from __future__ import annotations

import bisect
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


class LogSource:
    """The lines a container logged, oldest first, each with its timestamp."""

    def entries(self) -> Iterable[tuple[datetime, str]]:
        raise NotImplementedError

    def render(self, since: datetime | None, tail: int | None, limit: int | None, stamps: bool) -> Iterator[bytes]:
        """The log as the API server sends it: since, then the last `tail` lines, then `limit` bytes."""
        selected: Iterable[tuple[datetime, str]] = (
            (moment, line) for moment, line in self.entries() if since is None or moment >= since)
        if tail is not None:
            selected = deque(selected, maxlen=tail)
        sent = 0
        for moment, line in selected:
            data = ((f"{moment.strftime('%Y-%m-%dT%H:%M:%S.%fZ')} " if stamps else "") + line + "\n").encode()
            if limit is not None and sent + len(data) > limit:
                yield data[: limit - sent]
                return
            sent += len(data)
            yield data


@dataclass
class StaticLog(LogSource):
    lines: list[tuple[datetime, str]]

    def entries(self) -> Iterable[tuple[datetime, str]]:
        return self.lines


@dataclass
class SyntheticLog(LogSource):
    """Generated on demand: `size` bytes of lines spread evenly over `span` ending at `end`."""

    seed: str
    size: int
    end: datetime
    span: timedelta = timedelta(hours=2)
    line: Callable[[int, str], str] = lambda n, seed: f"INFO {seed} handled request {n} in {n % 97} ms status=200"

    def entries(self) -> Iterator[tuple[datetime, str]]:
        sample = self.line(1, self.seed)
        count = max(1, self.size // (len(sample) + 1))
        step = self.span / count
        start = self.end - self.span
        for n in range(count):
            yield start + step * n, self.line(n, self.seed)


class SharedLog(LogSource):
    """A large log rendered once and served to many containers (benchmarks): bisect, slice, join."""

    def __init__(self, size: int, end: datetime, span: timedelta = timedelta(hours=2)) -> None:
        pairs = list(SyntheticLog("shared", size, end, span).entries())
        self.moments = [moment for moment, _ in pairs]
        self.plain = [(line + "\n").encode() for _, line in pairs]
        self.stamped = [f"{m.strftime('%Y-%m-%dT%H:%M:%S.%fZ')} ".encode() + p
                        for m, p in zip(self.moments, self.plain, strict=True)]

    def entries(self) -> Iterable[tuple[datetime, str]]:
        return zip(self.moments, (p.decode().rstrip("\n") for p in self.plain), strict=True)

    def render(self, since: datetime | None, tail: int | None, limit: int | None, stamps: bool) -> Iterator[bytes]:
        lines = self.stamped if stamps else self.plain
        start = bisect.bisect_left(self.moments, since) if since is not None else 0
        if tail is not None:
            start = max(start, len(lines) - tail)
        remaining = limit
        for block in range(start, len(lines), 2000):
            data = b"".join(lines[block: block + 2000])
            if remaining is not None:
                data = data[:remaining]
                remaining -= len(data)
            yield data
            if remaining is not None and remaining <= 0:
                return


@dataclass
class TricklingLog(LogSource):
    """A log whose lines arrive one every `interval` seconds (a slow kubelet, a congested link)."""

    lines: list[str]
    interval: float

    def entries(self) -> Iterable[tuple[datetime, str]]:
        now = datetime.now(UTC)
        return [(now, line) for line in self.lines]

    def render(self, since: datetime | None, tail: int | None, limit: int | None, stamps: bool) -> Iterator[bytes]:
        for data in super().render(None, tail, limit, stamps):
            for line in data.splitlines(keepends=True):
                yield line
                time.sleep(self.interval)


@dataclass
class EndlessLog(LogSource):
    """A log that never ends: lines forever, or (newlines=False) one line that never ends."""

    newlines: bool = True
    block: int = 64 * 1024

    def entries(self) -> Iterable[tuple[datetime, str]]:
        return []

    def render(self, since: datetime | None, tail: int | None, limit: int | None, stamps: bool) -> Iterator[bytes]:
        line = b"2025-01-01T00:00:00.000000Z endless output " if self.newlines else b"x"
        unit = (line + b"\n") if self.newlines else line
        data = unit * max(self.block // len(unit), 1)
        sent = 0
        while limit is None or sent < limit:
            piece = data if limit is None else data[: limit - sent]
            sent += len(piece)
            yield piece
