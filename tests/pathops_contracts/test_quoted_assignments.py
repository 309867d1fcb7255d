"""Quoted values after a secret name are read in one linear pass, with the meaning they always had.

The JSON-escaped value (`password\\":\\"...\\"`, JSON inside a JSON string) was read by a lazy
`*?` loop: on an escaped quote never closed, a log line an attacker writes, its time grew faster
than its length (`benchmarks/redaction.py`: 4x the size, about 9x the time). It is now read
possessively, each character taken only where the closing quote does not start. These tests hold
the new reading to the old one on every shape of escapes and quotes, and to what a reader expects.
"""

from __future__ import annotations

import random
import re

import pytest

from pathops_contracts.redaction import Redactor
from pathops_contracts.secret_assignments import _ASSIGNED, assignment_spans

# The values' alternatives as they were read before (lazy and backtracking), for comparison.
_REFERENCE = re.compile(
    r"""(?:\\*["'])?[ \t]*(?::=|=>|[:=])[ \t]*(?:"""
    r"""(?P<esc>\\+)"(?P<v_esc>(?:[^"\\\n]|\\(?!(?P=esc)")[^\n])*?)(?P=esc)"|"""
    r""""(?P<v_dq>(?:[^"\\\n]|\\.)*)"|"""
    r"""'(?P<v_sq>[^'\n]*)'|"""
    r"""(?:(?i:bearer|basic|token|digest|negotiate)[ \t]+)?(?P<v_plain>[^\s"'`,;&\\{}]+))""")


def _reading(pattern: re.Pattern[str], text: str) -> tuple[tuple[int, int], dict[str, str | None]] | None:
    match = pattern.match(text)
    return None if match is None else (match.span(), match.groupdict())


def test_every_shape_of_quotes_and_escapes_reads_as_before() -> None:
    rng = random.Random(20261201)
    alphabet = ['\\', '"', "'", "a", "b", "\n", ":", "=", " "]
    openings = ['\\":\\"', '\\\\":\\\\"', '":"', "=", ": ", "='", '\\\\\\":\\\\\\"', '\\"=\\\\"']
    escapes = ["\\", '"', "a"]  # the escaped values' own alphabet: most of these close, many ways
    escaped_values = 0
    for _ in range(30_000):
        letters = escapes if rng.random() < 0.5 else alphabet
        body = "".join(rng.choice(letters) for _ in range(rng.randrange(0, 16)))
        text = rng.choice(openings) + body
        reading = _reading(_ASSIGNED, text)
        assert reading == _reading(_REFERENCE, text), repr(text)
        escaped_values += reading is not None and reading[1]["v_esc"] is not None
    assert escaped_values > 500  # the corpus reaches the escaped alternative, not only the easy ones


@pytest.mark.parametrize(("line", "secret"), [
    ('{"log": "{\\"password\\":\\"hunter2-but-longer\\"}"}', "hunter2-but-longer"),
    ('{"log": "{\\\\\\"db_password\\\\\\":\\\\\\"s3cr3t-value\\\\\\"}"}', "s3cr3t-value"),
    ('{"password": "with \\"escaped\\" quotes inside"}', 'with \\"escaped\\" quotes inside'),
])
def test_json_in_json_values_are_redacted(line: str, secret: str) -> None:
    spans = list(assignment_spans(line))
    assert [line[start:end] for start, end in spans] == [secret]
    redacted = Redactor(key=b"k" * 32).redact(line, "logs/p/c.log")
    assert secret not in redacted and "[REDACTED:" in redacted


def test_an_escaped_quote_never_closed_is_no_value() -> None:
    line = 'password\\":\\"' + "a" * 200_000
    assert list(assignment_spans(line)) == []
    assert Redactor(key=b"k" * 32).redact(line, "logs/p/c.log") == line
