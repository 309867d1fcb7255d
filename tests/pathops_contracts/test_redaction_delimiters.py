"""A detector whose match takes the delimiters around a secret (Artifactory's does) redacts the secret only.

Replacing the delimiters too swallowed the line break after `password: AP6...`: the next line was
joined to the redacted one, and the final scan then refused the snapshot (exit 4) for a log the
redactor had handled.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from pathops_contracts.redaction import Redactor
from pathops_contracts.secret_scan import scan_text

TOKEN = "AKCp5budTFpbypBqQbGJPz3pGCi28pPivfWczqjfYb9drAmd9LbRZbj6UpKFxJXA8ksWGc9fM"  # Artifactory API key shape
PASSWORD = "AP6xxxxxxxxxxxxxxxxxxxxxxxxxxx"  # Artifactory password shape
TOKEN_LINE = re.compile(r"\[REDACTED:ds-artifactory-credentials:[0-9a-f]{6}\]")


@pytest.mark.parametrize(("line", "kept"), [
    (f"2026-12-01T10:00:00Z password: {PASSWORD}", "2026-12-01T10:00:00Z password: "),
    (f"token={TOKEN}", "token="),
    (f'cfg "{TOKEN}" end', 'cfg "'),
    (f"x {PASSWORD}AB", "x "),
])
def test_the_secret_is_redacted_and_its_delimiters_and_line_break_kept(line: str, kept: str) -> None:
    text = f"{line}\nnext line\n"
    redacted = Redactor(key=b"k" * 32).redact(text, "logs/p/c.log")
    assert PASSWORD not in redacted and TOKEN not in redacted
    assert redacted.startswith(kept + "[REDACTED:ds-artifactory-credentials:")
    assert redacted.endswith("\nnext line\n") and redacted.count("\n") == 2
    assert scan_text(redacted) == []


def test_in_a_stream_of_blocks_too() -> None:
    blocks = [f"line {n}\n" for n in range(5)] + [f"password: {PASSWORD}\n", "after\n"]
    redacted = "".join(Redactor(key=b"k" * 32).redact_blocks(iter(blocks), "logs/p/c.log"))
    assert redacted.splitlines()[5].startswith("password: [REDACTED:") and redacted.endswith("\nafter\n")
    assert scan_text(redacted) == []


@pytest.mark.parametrize(("line", "secrets"), [
    ("cfg AKCp8aaaaaaaaaaaaaaaaaaa AKCp8bbbbbbbbbbbbbbbbbbb", 2),
    ("x=AP6xxxxxxxxxxx APAyyyyyyyyyyy APBzzzzzzzzzz", 3),
])
def test_secrets_side_by_side_are_each_redacted(line: str, secrets: int) -> None:
    """The detector's matches do not overlap: the first took the blank the second needed."""
    redacted = Redactor(key=b"k" * 32).redact(f"{line}\nnext\n", "logs/p/c.log")
    assert redacted.count("[REDACTED:ds-artifactory-credentials:") == secrets
    assert scan_text(redacted) == [] and redacted.endswith("\nnext\n")


# A detector's values are a set: in `a: AP6x` / `b: AP6xy`, the shorter one, taken first, took the head of
# the longer, which then overlapped it and was left, its tail in clear, the final scan seeing nothing (16
# characters). Which came first hung on the string hash: each seed below runs in a fresh interpreter.
LEAK = """
from pathops_contracts.redaction import Redactor
print(Redactor(key=b"k" * 32).redact("a: AP6a1B2c3D4e5\\nb: AP6a1B2c3D4e5F6g7H8i9J0k1L2m3\\n", "x"), end="")
"""


@pytest.mark.parametrize("seed", range(8))
def test_a_value_that_begins_another_does_not_leave_the_longer_one_s_tail(seed: int) -> None:
    environment = {**os.environ, "PYTHONHASHSEED": str(seed)}
    done = subprocess.run([sys.executable, "-c", LEAK], capture_output=True, text=True, check=True, env=environment)
    lines = done.stdout.splitlines()
    assert [line[:3] for line in lines] == ["a: ", "b: "]
    assert all(TOKEN_LINE.fullmatch(line[3:]) for line in lines), done.stdout
    assert lines[0] != lines[1]  # two values, two tokens


# Secrets side by side, glued or one delimiter apart: a rule's value overlapping one a rule of higher priority
# took was dropped whole, its part outside that one left in clear (`token: AKIA…AP6x…` kept `AP6x…`, which
# the final scan then refused). What lies outside is now taken too: nothing is left for the final scan.
SHAPES = [
    "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", PASSWORD, TOKEN,
    "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", "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "glpat-xxxxxxxxxxxxxxxxxxxx", "AIzaSyA-abcdefghijklmnopqrstuvwxyz12345",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "SG.abcdefghijklmnopqrstuv.abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNO",
]


@pytest.mark.parametrize("line", ["token: {}{}{}", "x {}{}{} y"])
def test_overlapping_values_of_different_rules_leave_nothing_in_clear(line: str) -> None:
    redactor = Redactor(key=b"k" * 32)
    lines = [line.format(first, between, second) for first in SHAPES for second in SHAPES if first != second
             for between in ["", ":", "/", "@", "-", "_", "."]]
    left = [text for text in lines if scan_text(redactor.redact(text, "x"))]
    assert left == []


# A random string the entropy rule redacts alone, glued to a secret another rule takes: the run holding both was
# dropped for overlapping that value (or not random as a whole, the value's characters diluting it), and what was
# left of it judged by the final scan's test alone, which takes a run after a dotted word (`id.`, `v1.`) for a
# name: the random string was left in clear.
RANDOM = "wd8S7Ba16j7pGLou3SHvV5utg79bg16"


@pytest.mark.parametrize("line", [
    f"id.{RANDOM}=sk_live_4eC39HqLyjWDarjtT1zdp7dc end",
    f"a.b.{RANDOM}_password=hunter2 end",
    f"v1.{RANDOM}-glpat-xxxxxxxxxxxxxxxxxxxx",
    f"v1.{RANDOM}-AIzaSyA-abcdefghijklmnopqrstuvwxyz12345",
    f"v1.{RANDOM}_eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
])
def test_a_random_string_glued_to_another_rule_s_secret_is_redacted_as_it_is_alone(line: str) -> None:
    redactor = Redactor(key=b"k" * 32)
    assert RANDOM not in redactor.redact(f"x {RANDOM} y", "x")  # alone, the entropy rule takes it
    redacted = redactor.redact(line, "x")
    assert RANDOM not in redacted, redacted
    assert redactor.redact(redacted, "x") == redacted  # nothing left that a rule takes


def test_what_is_left_of_a_run_beside_a_value_is_kept_when_it_is_no_secret() -> None:
    """The run `password=<random>` holds its name: the value is taken, the name kept."""
    redacted = Redactor(key=b"k" * 32).redact(f"id.x password={RANDOM}Q end", "x")
    assert redacted.startswith("id.x password=[REDACTED:") and redacted.endswith("] end")


# A GitLab or GitHub token right after a word character, as in a JSON-escaped log line (`...\nglpat-...`): the
# rules' `\b` kept them from matching, and detect-secrets' detectors give the prefix alone (their regex's group,
# `glpat`), so the prefix was redacted and the token's 20 characters, too short for the entropy rule, left in
# clear for the final scan to miss (its detectors give the same prefix, gone).
@pytest.mark.parametrize("before", ["\\n", "\\t", "\\r\\n", "x", "_", "0"])
@pytest.mark.parametrize("token", ["glpat-F7eDrPpDfZyDDQ1acToD", "gldt-r1RHZwTQdTTA4wUhq5fd",
                                   "glrt-qplNS1uINw6KHmlnt1um", "ghp_lQk9Q9zwlwcqwW9RQAnDBpBqBKel7QcFRzne"])
def test_a_token_glued_to_a_word_or_an_escaped_newline_is_redacted_whole(before: str, token: str) -> None:
    redacted = Redactor(key=b"k" * 32).redact(f'{{"msg":"deploy{before}{token}"}}\n', "x")
    assert redacted.startswith(f'{{"msg":"deploy{before}[REDACTED:') and redacted.endswith(']"}\n'), redacted
    assert token[-12:] not in redacted
