"""The snapshot being assembled: every file redacted before it is written, within a byte budget.

Object lists are written as JSON Lines (one object a line) so that findings can point
at a file and a line range. Whatever is cut or cannot be read is recorded as a gap.

Where the bytes live: the few files written page by page through a handle (object lists,
events) are files under `root`; everything else (logs, excerpts, JSON documents: thousands
of them in a large namespace) is a slice of one spool file beside it (`spool`), because
creating a file costs more than the work of redacting it. `members()` lists both.

Each of those is also packed for the bundle as soon as it is written (`packer`).
"""

from __future__ import annotations

import json
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from evidence_collector.packer import Packer
from evidence_collector.redaction import Redactor, leaks_in
from evidence_collector.refusals import jsonl_without_refused, without_refused_lines, without_refused_values
from evidence_collector.spool import Spool
from pathops_contracts.bundle_writer import Member, PackedMember
from pathops_contracts.errors import ContractViolation

JSONL_BATCH = 50  # objects redacted and written at a time (`write_jsonl`)


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
    watched: bool = False  # one of the `watch` substrings occurs in what was written


@dataclass
class Staging:
    root: Path
    redactor: Redactor
    byte_budget: int
    gaps: list[Gap] = field(default_factory=list)
    _spent: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _folders: set[Path] = field(default_factory=set)
    _spool: Spool = field(init=False, repr=False, compare=False)
    _packer: Packer = field(default_factory=Packer, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._spool = Spool(self.root.with_name(self.root.name + ".spool"))

    def scanned_packed(self) -> dict[str, PackedMember]:
        """The staged members the final scan passed as they were written, packed from those very bytes:
        the bundle takes them as they are; any other member is read and scanned when bundled."""
        return self._packer.scanned_packed()

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
            # Error texts and names from the API are untrusted: redacted here, the detail whole before
            # as_dict() cuts it; the manifest takes gaps as they are (`gap` is the only way in).
            self.gaps.append(Gap(self.redactor.redact(what, "manifest.json"), reason,
                                 self.redactor.redact(detail, "manifest.json") if detail else ""))

    def path(self, name: str) -> Path:
        """A file under root, for what is written page by page through a handle (object lists, events)."""
        target = self.root / name
        if target.parent not in self._folders:  # one mkdir per folder, not one per file
            target.parent.mkdir(parents=True, exist_ok=True)
            self._folders.add(target.parent)
        return target

    def write_text(self, name: str, text: str, budgeted: bool = True, cap: int | None = None) -> bool:
        """Write redacted text. A budgeted file that does not fit (the budget, or `cap`) keeps its head,
        cut at a line boundary, and says so in a gap; one that gets nothing is not written at all."""
        return self._write(name, self.redactor.redact(text, name), budgeted, cap)

    def write_excerpt(self, name: str, lines_written: str, cap: int) -> bool:
        """Write text made only of whole lines this staging already wrote redacted (an excerpt of a log).

        Not redacted again: each line is as the redactor left it, and a line redacts the same alone or
        among others. The final scan still reads it like any other file, so text that joining lines made
        secret-looking fails the run rather than leave.
        """
        return self._write(name, lines_written, budgeted=False, cap=cap)

    def _write(self, name: str, text: str, budgeted: bool, cap: int | None = None,
               remedy: Callable[[], str] | None = None) -> bool:
        """`remedy`: the text again with what the final scan refuses replaced (default: its lines)."""
        data = text.encode()
        clean = not leaks_in(data)
        if not clean:  # the scan refuses what the redactor left: the least of it goes, not the snapshot
            data = remedy().encode() if remedy is not None else self._without_refused_lines(name, data)
            clean = not leaks_in(data)
        wanted = len(data) if cap is None else min(len(data), cap)
        granted = self.reserve(wanted) if budgeted else wanted  # unbudgeted: the caller holds the bytes
        if granted < len(data):
            kept = data.rfind(b"\n", 0, granted) + 1
            if budgeted:
                self.refund(granted - kept)
            if kept == 0:
                self.gap(name, "budget_exhausted", f"{len(data)} bytes did not fit the snapshot budget")
                return False
            lines, total = data.count(b"\n", 0, kept), data.count(b"\n")
            self.gap(name, "truncated", f"kept the head: {kept} of {len(data)} bytes ({lines} of {total} lines) "
                                        f"fit the budget")
            data = data[:kept]
            clean = not leaks_in(data)  # what is written is what is scanned
        self._spool.put(name, data)
        self._packer.add(name, data, scanned_clean=clean)
        return True

    def _replacing(self, name: str) -> Callable[[str], str]:
        """What replaces a value of `name` the final scan refuses (a counted scan-refused token)."""
        return lambda value: self.redactor.refused(value, name)

    def _without_refused_lines(self, name: str, data: bytes) -> bytes:
        return without_refused_lines(data, self._replacing(name))

    def without_refused(self, name: str, data: bytes) -> bytes:
        """A staged file's bytes with what the final scan refuses replaced: values of JSON Lines (each line
        stays an object), lines of anything else (`refusals`).

        Tokens longer than the values they replace take the difference from the budget; where it does not
        fit, each refused line of JSON Lines is replaced whole instead (one line for one: pointers hold),
        so that no file grows past what the budget granted it.
        """
        if name.endswith(".json"):  # a value a line (written around write_json)
            return without_refused_lines(data, self._replacing(name), json_values=True)
        if not name.endswith(".jsonl"):
            return self._without_refused_lines(name, data)
        counts = self.redactor.counts.copy()
        fixed = jsonl_without_refused(data, self._replacing(name))
        grown = len(fixed) - len(data)
        granted = self.reserve(grown) if grown > 0 else grown
        if granted < grown:
            self.refund(granted)
            self.redactor.counts = counts  # those replacements are not kept
            fixed = jsonl_without_refused(data, self._replacing(name), whole_lines=True)
            self.gap(name, "truncated", "the values the final scan refused did not fit the budget as tokens: "
                                        "each line holding one was replaced whole")
        return fixed

    def write_json(self, name: str, document: Any, budgeted: bool = True) -> bool:
        """Every string of the document (keys too) redacted, structure-aware; the JSON text stays valid."""
        scrubbed = self.redactor.scrub_object(document, name)

        def remedy() -> str:  # the values the scan refuses, then what a line of the laid-out text still holds
            fixed = readable_json(without_refused_values(scrubbed, self._replacing(name))) + "\n"
            return without_refused_lines(fixed.encode(), self._replacing(name), json_values=True).decode()

        return self._write(name, readable_json(scrubbed) + "\n", budgeted, remedy=remedy)

    def write_jsonl(self, name: str, objects: Iterable[dict[str, Any]], cap: int | None = None) -> int:
        """One object a line, each scrubbed of secret env values; returns how many lines were kept.

        Written JSONL_BATCH objects at a time: the redacted text of a batch, not of the whole file, is in
        memory at once (a hundred Deployments' owners, templates of 300 env vars: 20 MB at once)."""
        section = self.jsonl(name, cap)
        batch: list[dict[str, Any]] = []
        for obj in objects:
            batch.append(obj)
            if len(batch) == JSONL_BATCH:
                section.add(batch)
                batch = []
        section.add(batch)
        return section.close()

    def jsonl(self, name: str, cap: int | None = None) -> JsonlSection:
        return JsonlSection(self, name, self.byte_budget if cap is None else cap)

    def write_stream(self, name: str, blocks: Iterator[str], limit: int, keep: int = 60,
                     watch: Callable[[str], bool] | None = None) -> StreamResult:
        """Write redacted newline-terminated blocks up to `limit` bytes, cut at a line boundary.

        Keeps the first and last `keep` lines so callers need not read the file back, and says
        whether `watch` holds for a block of what was written (what it looks for holds no newline).
        Lines are what `sed -n` and editors number: each ends at a newline (`newline_lines`).
        """
        watched = False
        written = 0
        lines = 0
        cut = False
        head: list[str] = []
        tail: deque[str] = deque(maxlen=keep)
        kept: list[bytes] = []  # what was written (at most `limit` bytes), for the scan
        offset = self._spool.reserve(limit)  # written as it arrives, into a range no other stream uses
        self._spool.discard(name)  # a stream that breaks leaves no stale bytes under its name
        for block in self.redactor.redact_blocks(blocks, name):
            if block and not block.endswith("\n"):
                # A private key whose END never came is redacted through the end of its block, the block's
                # last newline with it: put back, the next block starts a line of its own and the last line
                # is counted, as sed counts it.
                block += "\n"
            data = block.encode()
            if written + len(data) > limit:
                data = data[: max(data.rfind(b"\n", 0, limit - written) + 1, 0)]
                block = data.decode(errors="replace")
                cut = True
            if data:
                self._spool.write_at(offset + written, data)
                kept.append(data)
            written += len(data)
            lines += block.count("\n")
            if len(head) < keep:
                head.extend(first_lines(block, keep - len(head)))
            tail.extend(last_lines(block, keep))
            watched = watched or (watch is not None and watch(block))
            if cut:
                break
        data = b"".join(kept)
        clean = not leaks_in(data)
        if not clean:  # the scan refuses what the redactor left: those lines go (line for line), not the snapshot
            data = self._without_refused_lines(name, data)
            if len(data) > limit:  # tokens longer than the lines they replace
                data, cut = data[: data.rfind(b"\n", 0, limit) + 1], True
            self._spool.write_at(offset, data)
            written, text = len(data), data.decode("utf-8", errors="replace")
            lines = text.count("\n")
            head, tail = first_lines(text, keep), deque(last_lines(text, keep), maxlen=keep)
            watched = watch is not None and watch(text)
            clean = not leaks_in(data)
        self._spool.commit(name, offset, written)
        self._packer.add(name, data, scanned_clean=clean)
        return StreamResult(written, lines, cut, head, list(tail), watched)

    def discard(self, name: str) -> None:
        self._packer.discard(name)
        self._spool.discard(name)
        (self.root / name).unlink(missing_ok=True)

    def read(self, name: str) -> bytes:
        """A staged file's bytes, as written (redacted)."""
        return self._spool.read(name) if name in self._spool else (self.root / name).read_bytes()

    def size(self, name: str) -> int:
        return self._spool.size(name) if name in self._spool else (self.root / name).stat().st_size

    def members(self) -> dict[str, Member]:
        """Every staged file by its name in the snapshot (sorted): files under root, slices of the spool.

        Anything under root is a member, whoever wrote it (the final scan reads every one); a name
        staged both ways is refused rather than bundled twice or one copy silently dropped.
        """
        found: dict[str, Member] = dict(self._spool.slices())
        prefix = len(str(self.root)) + 1
        for folder, _, names in os.walk(self.root):
            for file_name in names:
                path = Path(folder, file_name)
                name = str(path)[prefix:].replace(os.sep, "/")
                if name in found:
                    raise ContractViolation(f"refusing to bundle: {name} was staged twice")
                found[name] = path
        return dict(sorted(found.items()))

    def close(self) -> None:
        """Release the spool (its file goes with the scratch directory) and the packer's thread."""
        self._packer.close()
        self._spool.close()


def newline_lines(text: str) -> list[str]:
    """text's lines, each with its newline (the last one without, if text does not end with one).

    A line ends at a newline only, as `sed -n`, `grep -n` and editors number lines: a carriage return,
    form feed or Unicode line separator inside a log line (a progress bar redrawn in place) is part of
    it, where str.splitlines would break there and every line number after it would be off.
    """
    parts = text.split("\n")
    last = parts.pop()
    return [part + "\n" for part in parts] + ([last] if last else [])


def first_lines(block: str, count: int) -> list[str]:
    """The first `count` newline_lines of block; the rest of it is not split."""
    parts = block.split("\n", count)
    if len(parts) <= count:  # fewer than `count` newlines: every line
        return newline_lines(block)
    return [part + "\n" for part in parts[:count]]


def last_lines(block: str, count: int) -> list[str]:
    """The last `count` newline_lines of block; the rest of it is not split."""
    if not block or count <= 0:
        return []
    ends = block.endswith("\n")
    parts = (block[:-1] if ends else block).rsplit("\n", count)[-count:]
    lines = [part + "\n" for part in parts]
    if not ends:
        lines[-1] = parts[-1]
    return lines


def readable_json(document: Any, levels: int = 2) -> str:
    """JSON laid out as indent=2 lays out its first `levels` levels, each deeper value on one line.

    As readable for findings and reports (one finding a line), and written by the C encoder: with
    `indent` the json module falls back to its pure-Python encoder, ~10x slower on 600 findings.
    """
    def layout(value: Any, level: int) -> str:
        pad = "  " * (level + 1)
        if level < levels and isinstance(value, dict) and value:
            items = [f"{pad}{json.dumps(key if isinstance(key, str) else str(key))}: {layout(item, level + 1)}"
                     for key, item in sorted(value.items(), key=lambda pair: str(pair[0]))]
            return "{\n" + ",\n".join(items) + "\n" + "  " * level + "}"
        if level < levels and isinstance(value, list) and value:
            return "[\n" + ",\n".join(pad + layout(item, level + 1) for item in value) + "\n" + "  " * level + "]"
        return json.dumps(value, sort_keys=True, default=str)

    return layout(document, 0)


def jsonl_lines(redactor: Redactor, name: str, objects: list[dict[str, Any]]) -> bytes:
    """Objects as JSON Lines, each redacted structure-aware (every string, keys too): the lines stay valid JSON."""
    return "".join(json.dumps(redactor.scrub_object(o, name), sort_keys=True, default=str) + "\n"
                   for o in objects).encode()


class JsonlSection:
    """A JSON Lines file written page by page, never past its cap or the budget; keeps the head."""

    def __init__(self, staging: Staging, name: str, cap: int) -> None:
        self.staging = staging
        self.name = name
        self.cap = cap
        self.lines = 0
        self.dropped = 0
        self.size = 0
        self._handle: BinaryIO | None = None

    def add(self, objects: list[dict[str, Any]]) -> int:
        """Append objects; returns how many of them were kept (the first ones)."""
        if self.dropped or not objects:
            self.dropped += len(objects) if self.dropped else 0
            return 0
        data = jsonl_lines(self.staging.redactor, self.name, objects)
        granted = self.staging.reserve(min(len(data), max(self.cap - self.size, 0)))
        if granted < len(data):
            kept_bytes = data.rfind(b"\n", 0, granted) + 1
            self.staging.refund(granted - kept_bytes)
            data = data[:kept_bytes]
        kept = data.count(b"\n")
        if data:
            if self._handle is None:
                self._handle = self.staging.path(self.name).open("wb")
            self._handle.write(data)
        self.lines += kept
        self.size += len(data)
        self.dropped += len(objects) - kept
        return kept

    def close(self, read_further: bool = True) -> int:
        """Finish the file (an empty section is still written: an empty list is a fact); returns lines kept.
        `read_further` False: the list was not read past the objects that did not fit (the gap says so)."""
        if self._handle is None:
            if not self.dropped:
                self.staging.path(self.name).write_bytes(b"")
        else:
            self._handle.close()
        if self.dropped:
            reason = "truncated" if self.lines else "budget_exhausted"
            self.staging.gap(self.name, reason, f"kept the head: the first {self.lines} of "
                                                f"{self.lines + self.dropped} objects fit the budget" if read_further
                             else f"kept the head: the first {self.lines} objects fit the budget; the list was "
                                  f"read no further")
        return self.lines
