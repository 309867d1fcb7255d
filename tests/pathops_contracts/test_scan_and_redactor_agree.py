"""What the final scan refuses, the redactor redacts: else one log line stops a whole snapshot.

The scan is independent of the redactor on purpose, and fails closed: a hit in any staged file makes
the collector refuse to upload (exit 4). A name or marker the scan takes for a secret's and the
redactor does not is then a lever: an app printing `signature=valid`, or `PuTTY-User-Key-File` alone
in a line, or anyone able to write to its log, stopped every collection of the namespace.
"""

from __future__ import annotations

import random
import re
import string

import pytest
from detect_secrets.plugins.keyword import DENYLIST
from detect_secrets.plugins.private_key import PrivateKeyDetector

from pathops_contracts.redaction import Redactor
from pathops_contracts.secret_scan import _EXTRA_NAME_WORDS, _secret_name, scan_text


def _spellings(pattern: str) -> set[str]:
    """The names a plain word pattern of the scan's list spells (`db_?pass`: db_pass, dbpass)."""
    names = {pattern}
    while any("_?" in name or "s?" in name for name in names):
        name = next(name for name in names if "_?" in name or "s?" in name)
        names.remove(name)
        marker = "_?" if "_?" in name else "s?"
        at = name.index(marker)
        names |= {name[:at] + marker[0] + name[at + 2:], name[:at] + name[at + 2:]}
    return {name for name in names if re.fullmatch(r"[a-z_]+", name)}


SCAN_NAMES = sorted({spelled for word in (*DENYLIST, *_EXTRA_NAME_WORDS) for name in _spellings(word)
                     for spelled in (name, name.upper(), f"app_{name}", f"{name}_value")})


def test_the_scan_knows_many_names() -> None:
    assert len(SCAN_NAMES) > 150 and {"sig", "signature", "pw", "dbpass", "clientsecret"} <= set(SCAN_NAMES)


@pytest.mark.parametrize("syntax", ["{name}={value}", "{name}: {value}", '{{"{name}": "{value}"}}', "--{name} {value}"])
def test_every_name_the_scan_refuses_is_redacted(syntax: str) -> None:
    redactor = Redactor(key=b"k" * 32)
    missed = []
    for name in SCAN_NAMES:
        if not _secret_name(name):
            continue
        line = "2026-12-01T11:00:00.2Z verified " + syntax.format(name=name, value="valid") + " for the request\n"
        if scan_text("".join(redactor.redact_blocks([line], "app.log"))):
            missed.append(name)
    assert missed == []


@pytest.mark.parametrize("marker", [pattern.pattern for pattern in PrivateKeyDetector.denylist])
def test_every_private_key_marker_the_scan_refuses_is_redacted(marker: str) -> None:
    text = f"2026-12-01T11:00:00.1Z starting\n2026-12-01T11:00:00.2Z openssl: expected {marker} here\n"
    out = "".join(Redactor(key=b"k" * 32).redact_blocks([text], "app.log"))
    assert out.startswith("2026-12-01T11:00:00.1Z starting\n")
    assert scan_text(out) == []


@pytest.mark.parametrize("seed", range(3))
def test_every_run_the_scan_takes_for_random_is_redacted(seed: int) -> None:
    """The scan's runs hold dots and tildes (`ya29.` OAuth tokens, SAS signatures), the redactor's own
    entropy candidates do not; and a rule of higher priority may take part of a run, leaving the rest."""
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits
    redactor = Redactor(key=b"k" * 32)
    for _ in range(1500):
        parts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(3, 12))) for _ in range(rng.randint(2, 6))]
        token = "".join(part + rng.choice(".~_-+/=") for part in parts)[:-1]
        for line in (f"2026-12-01T11:00:00.2Z request id {token} done\n", f"password={token}.x\n",
                     f"caf\u00e9 {token}\n"):
            out = "".join(redactor.redact_blocks([line], "app.log"))
            assert scan_text(out) == [], (line, out)
        kept = "".join(redactor.redact_blocks([f"2026-12-01T11:00:00.2Z request id {token} done\n"], "app.log"))
        assert kept.startswith("2026-12-01T11:00:00.2Z request id ") and kept.endswith(" done\n")  # around the run


@pytest.mark.parametrize("line", [
    "\tat com.example.payments.SignatureVerifier.verify(SignatureVerifier.java:42)",
    "\tat com.example.TokenService.get(TokenService.kt:7)",
    'level=error caller=internal/auth/token.go:87 msg="refresh failed"',
    "panic at sig.rs:9",
])
def test_a_line_number_after_a_source_files_name_is_kept(line: str) -> None:
    """`SignatureVerifier.java:42` is no `name: value` pair: its line number is what a fix needs (found by the
    reviewer: `signature` and `token` made such names secret)."""
    text = f"2026-12-01T11:00:00.2Z {line}\n"
    assert "".join(Redactor(key=b"k" * 32).redact_blocks([text], "app.log")) == text
    assert scan_text(text) == []


def test_a_secret_after_a_source_files_name_is_still_redacted() -> None:
    text = "password.go: hunter2 and token.py=s3cr3t-value\n"
    out = "".join(Redactor(key=b"k" * 32).redact_blocks([text], "app.log"))
    assert "hunter2" not in out and "s3cr3t-value" not in out and scan_text(out) == []
