"""Text the final scan still refuses after redaction: the least of it replaced, not the snapshot lost.

The redactor and the final scan are independent on purpose (`pathops_contracts.secret_scan`), so
they disagree at the edges: an unclosed quote, a flag's quoted value, a name one of them takes for
a secret's. Where the scan refuses what the redactor left, refusing the whole snapshot (exit 4)
would hand anyone who can write one log line a way to suppress the evidence of an incident.
Instead the unit the scan points at is replaced whole by a redaction token (`Redactor.refused`):

- in text (logs, excerpts), the line: one line for one, so every line number and pointer stays;
- in a JSON document, the value, with the name it is under when that is what the scan refuses:
  the document stays valid JSON.

The result is scanned again, for a few rounds (a hit spanning lines is gone with its first line);
what is still refused is left for the run to refuse, as before. Nothing here runs on text the scan
passes. Pure: the caller scans and writes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from evidence_collector.redaction import leaks_in, leaks_in_lines
from pathops_contracts.secret_scan import Hit, scan_text

ROUNDS = 3
VALUE_PASS_BYTES = 256 * 1024  # of refused JSON Lines looked into value by value (about 1 s); the rest go whole
Replace = Callable[[str], str]  # a refused value -> its token (counted by the redactor)


def without_refused_lines(data: bytes, replace: Replace, json_values: bool = False) -> bytes:
    """data with every line the final scan points at replaced by replace(line), line for line.

    `json_values`: data is JSON laid out a value a line (`staging.readable_json`); a line's value is
    replaced, its name and comma kept, so the document stays valid (a line that holds no whole value is
    left, for the run to refuse).
    """
    if json_values:
        return _each_refused_line(data, lambda line: _json_line_replaced(line, replace))
    return _each_refused_line(data, replace)


def _each_refused_line(data: bytes, fix: Callable[[str], str],
                       scan: Callable[[bytes], list[Hit]] = leaks_in) -> bytes:
    """data with each line the final scan points at (a non-empty one) replaced by fix(line), for up to
    ROUNDS rounds of scanning: a hit spanning lines is gone with its first line. `scan`: leaks_in_lines
    for JSON Lines, as the final scan reads them."""
    lines = data.split(b"\n")
    for _ in range(ROUNDS):
        hits = scan(b"\n".join(lines))
        if not hits:
            break
        for line in sorted({hit.line for hit in hits}):
            if line <= len(lines) and lines[line - 1]:
                lines[line - 1] = fix(lines[line - 1].decode("utf-8", errors="replace")).encode()
    return b"\n".join(lines)


def _json_line_replaced(line: str, replace: Replace) -> str:
    """A line of laid-out JSON (`  "name": value,` or `  value,`) with its value replaced by a token."""
    body = line.strip()
    comma = "," if body.endswith(",") else ""
    body = body.removesuffix(",")
    indent = line[: len(line) - len(line.lstrip())]
    try:
        entry = json.loads("{" + body + "}")
    except ValueError:
        entry = None
    if isinstance(entry, dict) and len(entry) == 1:
        ((name, value),) = entry.items()
        name = replace(name) if scan_text(json.dumps(name)) else name
        return f"{indent}{json.dumps(name)}: {json.dumps(_replaced(value, replace))}{comma}"
    try:
        value = json.loads(body)
    except ValueError:
        return line  # `{`, `],`: no value of its own
    return f"{indent}{json.dumps(_replaced(value, replace))}{comma}"


def _replaced(value: Any, replace: Replace) -> str:
    return replace(value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str))


def _refused(value: Any) -> bool:
    """Whether the scan refuses value as JSON writes it, keys sorted (`"name": value` for a one-entry object)."""
    try:
        text = json.dumps(value, sort_keys=True, default=str)
    except TypeError:  # keys of mixed types cannot be sorted: as they come (readable_json sorts them as strings)
        text = json.dumps(value, default=str)
    return bool(scan_text(text))


def without_refused_values(document: Any, replace: Replace) -> Any:
    """The document with every value the scan refuses, as written in it, replaced by a token string.

    Looked for from the top: only a part whose JSON the scan refuses is gone into, so a document with
    one refused value costs one scan per level on its path, not one per value.
    """
    if not _refused(document):
        return document
    if isinstance(document, dict):
        kept: dict[Any, Any] = {}
        for key, value in document.items():
            value = without_refused_values(value, replace)
            if _refused({key: value}):  # refused under its name: `"password": 12345678901`
                value = _replaced(value, replace)
                if _refused({key: value}):  # the name itself
                    key = replace(str(key))
            kept[key] = value
        return kept
    if isinstance(document, list):
        return [without_refused_values(item, replace) for item in document]
    return _replaced(document, replace)


def jsonl_without_refused(data: bytes, replace: Replace, whole_lines: bool = False) -> bytes:
    """JSON Lines (one object a line) with the values the scan refuses replaced, line for line; a line
    that is not JSON is replaced whole. `whole_lines`: each refused line is (a token string, never longer
    than an object the scan refuses), for when the values' tokens would not fit.

    Looking for the values costs about 4 s a MB of refused lines (each part scanned at every level it is
    nested in); past VALUE_PASS_BYTES of them, the rest are replaced whole, so that objects made to be
    refused (an annotation on every pod) cannot hold the run for minutes.
    """
    value_bytes = 0

    def fix(text: str) -> str:
        nonlocal value_bytes
        value_bytes += len(text.encode())
        if whole_lines or value_bytes > VALUE_PASS_BYTES:
            return json.dumps(replace(text))
        try:
            fixed = json.dumps(without_refused_values(json.loads(text), replace), sort_keys=True, default=str)
        except ValueError:
            fixed = replace(text)
        return json.dumps(replace(text)) if fixed == text else fixed  # refused only with its neighbours: it goes

    # A megabyte of lines scanned at a time, as the final scan does (`leaks_in_lines`): one refused value in a
    # 12 MB pods.jsonl made the whole file scanned at once, 86 MB peak. `fix` keeps one line for one.
    return _each_refused_line(data, fix, leaks_in_lines)
