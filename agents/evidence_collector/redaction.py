"""The collector's view of the shared redactor and secret scan (`pathops_contracts`): file I/O only."""

from __future__ import annotations

import bisect
import re
from pathlib import Path
from typing import TYPE_CHECKING

from pathops_contracts.errors import InvalidInput
from pathops_contracts.occurrences import Finder, start_ranges
from pathops_contracts.redaction import Redactor, Rule, token_key
from pathops_contracts.redaction import load_extra_rules as parse_extra_rules

if TYPE_CHECKING:
    from pathops_contracts.secret_scan import Hit

__all__ = ["Redactor", "Rule", "find_leaks", "leaks_in", "load_extra_rules", "token_key"]


def load_extra_rules(path: Path) -> tuple[Rule, ...]:
    """Extra patterns from REDACTION_PATTERNS_FILE, one `kind: regex` per line (# comments)."""
    try:
        return parse_extra_rules(path.read_text(encoding="utf-8").splitlines(), str(path))
    except ValueError as error:
        raise InvalidInput(str(error)) from error


def find_leaks(path: Path) -> list[Hit]:
    """What the independent final scan still finds in a file (kinds and lines, never values)."""
    return leaks_in(path.read_bytes())


def leaks_in(content: bytes) -> list[Hit]:
    """What the independent final scan still finds in a file's content (kinds and lines, never values)."""
    # Imported at first use: its detectors compile some forty regexes, which the CLI has a thread do
    # while the first requests wait on the API.
    from pathops_contracts.secret_scan import scan_text

    return scan_text(content.decode("utf-8", errors="replace"))


SCAN_CHUNK = 1 << 20  # bytes of whole lines leaks_in_lines scans at a time


def leaks_in_lines(content: bytes) -> list[Hit]:
    """leaks_in of JSON Lines, about a megabyte of whole lines at a time: a JSON string holds no newline, so
    no value spans two lines, and what the scan makes of its text (decoded, lower-cased, masked: five copies
    or so) stays a few megabytes, not five times a 12 MB pods.jsonl. Line numbers are the file's."""
    from pathops_contracts.secret_scan import Hit, scan_text

    found: set[tuple[int, str]] = set()
    values: dict[str, set[str]] = {}  # what the detectors found, each a hit wherever it occurs, as in leaks_in
    chunks = _line_chunks(content)
    lines = 0
    for start, end in chunks:
        chunk = content[start:end]
        found.update((hit.line + lines, hit.kind) for hit in scan_text(chunk.decode("utf-8", errors="replace"),
                                                                       values))
        lines += chunk.count(b"\n")
    if values:  # a value found in one chunk, in the others (rare: a hit first): all of them in one pass a chunk
        # A pass per kind (a few): of the values ending at an offset only the longest is reported (`Finder`).
        finders = [(kind, Finder(value for value, kinds in values.items() if kind in kinds))
                   for kind in sorted(set().union(*values.values()))]
        reach = max(len(value.encode()) for value in values) + 3  # what an occurrence starting in a chunk may take
        lines = 0
        for start, end in chunks:
            text = content[start:end].decode("utf-8", errors="replace")
            searched = text + content[end:end + reach].decode("utf-8", errors="replace")  # a line's start on
            newlines = [match.start() for match in re.finditer("\n", text)]
            for kind, find in finders:
                # The starts in this chunk (as `secret_scan._offsets` has them): the next one's are found there.
                for low, high in start_ranges(find.longest(searched)):
                    if low < len(text):
                        high = min(high, len(text) - 1)
                        found.update((lines + line, kind) for line in range(
                            bisect.bisect_left(newlines, low) + 1, bisect.bisect_left(newlines, high) + 2))
            lines += len(newlines)
    return [Hit(kind, line) for line, kind in sorted(found)]


def _line_chunks(content: bytes) -> list[tuple[int, int]]:
    """(start, end) of content's chunks: about SCAN_CHUNK bytes of whole lines each."""
    chunks = []
    start = 0
    while start < len(content):
        newline = content.find(b"\n", min(start + SCAN_CHUNK, len(content)) - 1)
        end = len(content) if newline < 0 else newline + 1
        chunks.append((start, end))
        start = end
    return chunks
