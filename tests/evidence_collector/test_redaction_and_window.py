"""Pure parts of the collector: redaction, the final scan, the time window."""

from __future__ import annotations

import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from evidence_collector.collector import Collected
from evidence_collector.redaction import Redactor, find_leaks, load_extra_rules
from evidence_collector.snapshot import SnapshotIdentity, assemble
from evidence_collector.staging import Staging
from evidence_collector.window import resolve_window
from pathops_contracts.errors import ContractViolation, InvalidInput

CASES = [
    ("postgres://shop:Sup3rS3cret@db:5432/shop", "url-credentials", "Sup3rS3cret"),
    ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz123456", "bearer-token", "abcdefghijklmnop"),
    ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0", "jwt", "eyJhbGciOi"),
    ("AWS key AKIAIOSFODNN7EXAMPLE used", "aws-access-key", "AKIAIOSFODNN7EXAMPLE"),
    ("export DB_PASSWORD=hunter2hunter2", "secret-assignment", "hunter2hunter2"),
    ('{"password": "p@ssw0rd!", "user": "x"}', "secret-assignment", "p@ssw0rd!"),
    ("pushing with glpat-abcdefghijklmnopqrstuvwxyz", "gitlab-token", "glpat-abcdefghij"),
    ("gh token ghp_" + "a" * 36, "github-token", "ghp_aaaa"),
    ("aws_secret_access_key = " + "A" * 40, "aws-secret-key", "A" * 40),
]


@pytest.mark.parametrize(("text", "kind", "secret"), CASES, ids=[c[1] + str(i) for i, c in enumerate(CASES)])
def test_each_kind_is_redacted(text: str, kind: str, secret: str) -> None:
    redactor = Redactor()
    out = redactor.redact(text, "f.log")
    assert secret not in out
    assert f"[REDACTED:{kind}:" in out
    assert redactor.report()["by_kind"] == {kind: 1}


def test_ordinary_lines_are_untouched() -> None:
    line = "GET /health 200 in 3 ms user=alice path=/api/v1/cart?id=7 token_count=3"
    assert Redactor().redact(line, "f") == line


def test_pem_blocks_across_lines_are_redacted_whole() -> None:
    lines = ["before\n", "-----BEGIN RSA PRIVATE KEY-----\n", "MIIEowIBAAKCAQEA\n", "-----END RSA PRIVATE KEY-----\n",
             "after\n"]
    out = "".join(Redactor().redact_lines(lines, "f"))
    assert "MIIEow" not in out and out.startswith("before\n[REDACTED:pem-private-key:") and out.endswith("after\n")


def test_tokens_are_deterministic_within_a_snapshot_and_differ_across() -> None:
    first, second = Redactor(), Redactor()
    a = first.redact("DB_PASSWORD=hunter2hunter2", "a")
    b = first.redact("password: hunter2hunter2", "b")
    assert a.split(":")[-1] == b.split(":")[-1]
    assert second.redact("DB_PASSWORD=hunter2hunter2", "a") != a


def test_redaction_is_idempotent() -> None:
    redactor = Redactor()
    once = redactor.redact("url=postgres://a:bcdefg@h/x DB_PASSWORD=hunter2hunter2", "f")
    assert redactor.redact(once, "f") == once


def test_extra_patterns_from_a_file(tmp_path: Path) -> None:
    patterns = tmp_path / "patterns.txt"
    patterns.write_text("# shop's own card numbers\ncard-number: \\b4[0-9]{15}\\b\n")
    redactor = Redactor(load_extra_rules(patterns))
    assert "4111111111111111" not in redactor.redact("paid with 4111111111111111", "f")
    patterns.write_text("no colon here\n")
    with pytest.raises(InvalidInput, match=r"patterns\.txt:1"):
        load_extra_rules(patterns)


def test_final_scan_replaces_what_it_refuses_in_a_file_written_around_the_redactor(tmp_path: Path) -> None:
    """What the scan refuses never leaves: the line goes (counted as scan-refused), the rest is bundled."""
    redactor = Redactor()
    staging = Staging(tmp_path / "stage", redactor, 10**6)
    staging.root.mkdir()
    (staging.root / "sneaky.log").write_text("before\nwritten around the redactor: glpat-abcdefghijklmnopqrstuvwxyz\n"
                                             "after\n")
    assert [hit.kind for hit in find_leaks(staging.root / "sneaky.log")] == ["detect-secrets:GitLab Token"]
    now = datetime.now(UTC)
    manifest, _, _ = assemble(staging, SnapshotIdentity("INC-1", "shop", "shop-preflight", None),
                              resolve_window("30m", now), Collected([], None, None, None, None), redactor,
                              tmp_path / "bundle.tar.gz")
    with tarfile.open(tmp_path / "bundle.tar.gz") as bundle:
        member = bundle.extractfile("sneaky.log")
        assert member is not None
        lines = member.read().decode().split("\n")
    assert lines[0] == "before" and lines[2] == "after" and lines[1].startswith("[REDACTED:scan-refused:")
    assert manifest["redaction"] == {"scan-refused": 1}
    entry = next(f for f in manifest["files"] if f["path"] == "sneaky.log")
    assert entry["size"] == len("\n".join(lines).encode())


def test_final_scan_refuses_a_bundle_when_replacing_does_not_clear_it(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    redactor = Redactor()
    monkeypatch.setattr(Redactor, "refused", lambda self, value, where: value)  # a replacement that clears nothing
    staging = Staging(tmp_path / "stage", redactor, 10**6)
    staging.root.mkdir()
    (staging.root / "sneaky.log").write_text("written around the redactor: glpat-abcdefghijklmnopqrstuvwxyz\n")
    now = datetime.now(UTC)
    with pytest.raises(ContractViolation, match=r"GitLab Token at sneaky\.log:1"):
        assemble(staging, SnapshotIdentity("INC-1", "shop", "shop-preflight", None),
                 resolve_window("30m", now), Collected([], None, None, None, None), redactor,
                 tmp_path / "bundle.tar.gz")
    assert not (tmp_path / "bundle.tar.gz").exists()


def test_windows() -> None:
    now = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    assert resolve_window("30m", now).start == now - timedelta(minutes=30)
    alert = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    anchored = resolve_window("1h30m", now, alert)
    assert (anchored.start, anchored.end) == (alert - timedelta(minutes=90), now)
    interval = resolve_window("2026-11-27T08:00:00Z/2026-11-27T09:00:00Z", now)
    assert interval.end - interval.start == timedelta(hours=1)
    for bad in ("2026-11-27T09:00:00Z/2026-11-27T08:00:00Z", "30d"):
        with pytest.raises(InvalidInput):
            resolve_window(bad, now)
