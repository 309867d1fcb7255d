"""The snapshot being assembled: every file redacted before it is written, within a byte budget.

Object lists are written as JSON Lines (one object a line) so that findings can point
at a file and a line range. Whatever is cut or cannot be read is recorded as a gap.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evidence_collector.redaction import Redactor


@dataclass
class Gap:
    what: str
    reason: str  # forbidden | not_found | timeout | truncated | budget_exhausted | error
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        entry = {"what": self.what, "reason": self.reason}
        if self.detail:
            entry["detail"] = self.detail[:2000]
        return entry


@dataclass(frozen=True)
class StreamResult:
    bytes_written: int
    lines: int
    cut: bool
    head: list[str]
    tail: list[str]


@dataclass
class Staging:
    root: Path
    redactor: Redactor
    byte_budget: int
    gaps: list[Gap] = field(default_factory=list)
    _spent: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reserve(self, wanted: int) -> int:
        """Take up to `wanted` bytes from the budget; returns what was granted."""
        with self._lock:
            granted = max(0, min(wanted, self.byte_budget - self._spent))
            self._spent += granted
            return granted

    def available(self) -> int:
        with self._lock:
            return self.byte_budget - self._spent

    def refund(self, unused: int) -> None:
        with self._lock:
            self._spent -= unused

    def gap(self, what: str, reason: str, detail: str = "") -> None:
        with self._lock:
            # Error texts are untrusted: redacted whole, before as_dict() cuts them.
            self.gaps.append(Gap(what, reason, self.redactor.redact(detail, "manifest.json") if detail else ""))

    def path(self, name: str) -> Path:
        target = self.root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def write_text(self, name: str, text: str, budgeted: bool = True) -> bool:
        """Write redacted text; a budgeted file that does not fit is left out and recorded as a gap."""
        return self._write(name, self.redactor.redact(text, name), budgeted)

    def _write(self, name: str, text: str, budgeted: bool) -> bool:
        data = text.encode()
        granted = self.reserve(len(data)) if budgeted else len(data)
        if granted < len(data):
            self.refund(granted)
            self.gap(name, "budget_exhausted", f"{len(data)} bytes did not fit the snapshot budget")
            return False
        self.path(name).write_bytes(data)
        return True

    def write_json(self, name: str, document: Any, budgeted: bool = True) -> bool:
        """Every string of the document (keys too) redacted, structure-aware; the JSON text stays valid."""
        scrubbed = self.redactor.scrub_object(document, name)
        return self._write(name, json.dumps(scrubbed, indent=2, sort_keys=True, default=str) + "\n", budgeted)

    def write_jsonl(self, name: str, objects: Iterable[dict[str, Any]]) -> bool:
        """One object a line, each redacted structure-aware (see write_json)."""
        lines = (json.dumps(self.redactor.scrub_object(o, name), sort_keys=True, default=str) + "\n" for o in objects)
        return self._write(name, "".join(lines), True)

    def write_stream(self, name: str, blocks: Iterator[str], limit: int, keep: int = 60) -> StreamResult:
        """Write redacted newline-terminated blocks up to `limit` bytes, cut at a line boundary.

        Keeps the first and last `keep` lines so callers need not read the file back.
        """
        written = 0
        lines = 0
        cut = False
        head: list[str] = []
        tail: deque[str] = deque(maxlen=keep)
        with self.path(name).open("wb") as handle:
            for block in self.redactor.redact_blocks(blocks, name):
                data = block.encode()
                if written + len(data) > limit:
                    data = data[: max(data.rfind(b"\n", 0, limit - written) + 1, 0)]
                    block = data.decode(errors="replace")
                    cut = True
                handle.write(data)
                written += len(data)
                block_lines = block.splitlines(keepends=True)
                lines += len(block_lines)
                if len(head) < keep:
                    head.extend(block_lines[: keep - len(head)])
                tail.extend(block_lines[-keep:])
                if cut:
                    break
        return StreamResult(written, lines, cut, head, list(tail))

    def files(self) -> list[Path]:
        return sorted(p for p in self.root.rglob("*") if p.is_file())
