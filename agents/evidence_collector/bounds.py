"""The bounds of one collection: the byte budget (shared by object files and logs), log tails, the deadline."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bounds:
    total_bytes: int = 50 * 1024 * 1024
    log_bytes: int = 256 * 1024
    tail_lines: int = 2000
    concurrency: int = 8
    deadline_seconds: float = 300.0
    healthy_tail_lines: int = 200  # containers with nothing wrong get a short tail, for comparison
    excerpt_head: int = 20
    excerpt_tail: int = 60
    stream_seconds: float = 60.0  # one log stream's time, whatever the server does

    def section_cap(self, name: str) -> int:
        """Object files share the budget with the logs: pods and events a quarter each, others less."""
        return self.total_bytes // (4 if name in ("objects/pods.jsonl", "objects/events.jsonl") else 16)
