"""The redactor's and the scan's fast paths decide exactly what the full searches would.

The screens (an anchor ruled out by its rarest character, long runs found by a translation,
short strings without any anchor skipping the anchored rules, spans remembered per string)
only skip work: a secret is redacted and found the same whether it stands alone, sits in a
long clean log, or comes back a second time.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from evidence_collector.collector import Collected
from evidence_collector.packer import Packer
from evidence_collector.snapshot import SnapshotIdentity, assemble
from evidence_collector.staging import Staging
from evidence_collector.window import resolve_window
from pathops_contracts import random_strings, secret_scan
from pathops_contracts.bundle_writer import PackedMember
from pathops_contracts.bundles import FileSlice, read_members, sha256_bytes
from pathops_contracts.errors import ContractViolation
from pathops_contracts.redaction import _ENTROPY_CANDIDATE, Redactor, Screen, has_candidate, lower_ascii
from pathops_contracts.secret_scan import scan_text
from pathops_testbed.kube_api import SharedLog

KEY = b"k" * 32
DISCORD = "MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs"
SECRETS = {
    "aws": "AKIAIOSFODNN7EXAMPLQ",
    "github": "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "discord": DISCORD,
    "assignment": "db_password=Zq7vLp2mXw9K",
    "entropy": "q8Zr2LmX7vKp4NwT9sYb3HcJ6dFg",
    "url": "postgres://shop:Zq7vLp2mXw9K@db:5432/shop",
    "keyword": "ibm_cloud_iam_key = 'q8Zr2LmX7vKp4NwT9sYb3HcJ6dFgq8Zr2LmX7vKp4NwT'",
}


def clean_log() -> str:
    """About 8 KB of the benchmark's clean log lines: no anchor, no long run."""
    text = b"".join(SharedLog(8 * 1024, datetime.now(UTC)).render(None, None, None, True)).decode()
    assert len(text) > 4096
    return text


@pytest.mark.parametrize("alphabet", ["abcKEYkey_=-. \n", "AKIAaws3T-_x \n", "pwdpassTOKENtoken:/\n"])
def test_the_screen_answers_as_a_substring_search_does(alphabet: str) -> None:
    rng = random.Random(alphabet)
    anchors = ["key", "KEY", "akia", "AKIA", "a3t", "aws", "_authToken", "pass", "pwd", "token", "://", "-us", "sk"]
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        lowered = lower_ascii(text)
        screen = Screen(text, lowered)
        for anchor in anchors:
            for folded in (True, False):
                assert screen.holds(anchor, folded) is (anchor in (lowered if folded else text)), (text, anchor)


@pytest.mark.parametrize("alphabet", ["aZ9+/=_-.~ \n", "aZ9-\u00e9\u0661 ", "aZ9_.\ud800\U0001f600:"])
def test_the_run_screens_answer_as_the_regexes_do(alphabet: str) -> None:
    """Runs are found on the UTF-8 bytes: a non-ASCII character (or a lone surrogate) breaks one as in the text."""
    rng = random.Random(len(alphabet))
    for _ in range(400):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        assert has_candidate(text) is (_ENTROPY_CANDIDATE.search(text) is not None), text
        assert (b"a" * 20 in secret_scan._runs(text)) is (random_strings._RANDOM.search(text) is not None), text


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_a_secret_is_redacted_alike_alone_in_a_long_log_and_the_second_time(name: str) -> None:
    secret = SECRETS[name]
    alone = Redactor(key=KEY).redact(secret, "f")
    log = clean_log()
    redactor = Redactor(key=KEY)
    in_log = redactor.redact(log + secret + "\n" + log, "f")
    again = redactor.redact(secret, "f")
    assert alone != secret and "Zq7vLp2mXw9K" not in alone
    assert in_log == log + alone + "\n" + log
    assert again == alone
    assert sum(redactor.counts.values()) == 2 * len(Redactor(key=KEY).spans(secret))  # each time counted


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_the_scan_finds_a_secret_alone_and_at_the_end_of_a_long_log(name: str) -> None:
    secret = SECRETS[name]
    log = clean_log()
    alone = {hit.kind for hit in scan_text(secret)}
    at_end = scan_text(log + secret + "\n")
    assert alone
    assert {hit.kind for hit in at_end} == alone
    assert {hit.line for hit in at_end} == {log.count("\n") + 1}


def test_discord_shaped_tokens_with_non_ascii_digits_are_still_searched() -> None:
    """`\\d` matches any Unicode digit: on non-ASCII text the run screen does not apply."""
    token = "M" + "\u0661" * 23 + ".Cl2FMQ." + "\u0662" * 27  # no ASCII run of 24
    redactor = Redactor(key=KEY)
    assert token not in redactor.redact(token, "f")
    assert token not in redactor.redact(clean_log() + token + "\n", "f")
    assert scan_text(clean_log() + token + "\n")


def test_clean_text_is_left_alone_by_every_path() -> None:
    log = clean_log()
    redactor = Redactor(key=KEY)
    assert redactor.redact(log, "f") == log
    assert redactor.redact("harbor/shop:1", "f") == "harbor/shop:1"
    assert scan_text(log) == []
    assert not redactor.counts


def test_a_log_scanned_as_written_is_bundled_from_the_bytes_that_were_scanned(tmp_path: Path) -> None:
    """The bundle skips the final scan only for the very bytes scanned as they were written: it packs
    those, so a staged copy changed since (by a bug, or anything else) never reaches the bundle."""
    redactor = Redactor(key=KEY)
    staging = Staging(tmp_path / "stage", redactor, 10**6)
    staging.root.mkdir()
    window = resolve_window("30m", datetime.now(UTC))
    identity = SnapshotIdentity("INC-1", "shop", "shop-preflight", None)
    nothing = Collected([], None, None, None, None)
    staging.write_stream("logs/web/api.log", iter([clean_log()]), 10**6)
    written = staging.read("logs/web/api.log")
    assert staging.scanned_packed()["logs/web/api.log"].sha256 == sha256_bytes(written)
    where = staging.members()["logs/web/api.log"]
    assert isinstance(where, FileSlice)  # a slice of the spool, not a file of its own
    with where.path.open("r+b") as spool:  # changed after its scan
        spool.seek(where.offset)
        spool.write(("glpat-" + "aB3dE5fG7hJ9kL1mN3pQ5r" + "\n").encode())
    manifest, _, _ = assemble(staging, identity, window, nothing, redactor, tmp_path / "clean.tar.gz")
    entry = next(f for f in manifest["files"] if f["path"] == "logs/web/api.log")
    assert entry["sha256"] == sha256_bytes(written) and entry["size"] == len(written)
    assert read_members(tmp_path / "clean.tar.gz", ["logs/web/api.log"]) == {"logs/web/api.log": written}


def test_a_log_the_scan_did_not_pass_as_written_is_scanned_again_and_refused(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """(Replacing what the scan refuses, `refusals`, made to clear nothing here.)"""
    monkeypatch.setattr(Redactor, "refused", lambda self, value, where: value)
    redactor = Redactor(key=KEY)
    staging = Staging(tmp_path / "stage", redactor, 10**6)
    staging.root.mkdir()
    staging.write_excerpt("logs/web/api.excerpt.txt", "== head ==\nglpat-" + "aB3dE5fG7hJ9kL1mN3pQ5r\n", cap=1000)
    assert "logs/web/api.excerpt.txt" not in staging.scanned_packed()
    with pytest.raises(ContractViolation, match=r"logs/web/api\.excerpt\.txt"):
        assemble(staging, SnapshotIdentity("INC-1", "shop", "shop-preflight", None),
                 resolve_window("30m", datetime.now(UTC)), Collected([], None, None, None, None), redactor,
                 tmp_path / "leaky.tar.gz")
    assert not (tmp_path / "leaky.tar.gz").exists()


def test_a_keyword_detector_is_searched_on_the_lines_of_its_anchors_only_and_finds_all_of_them() -> None:
    """Cloudant's `clpw` (no other keyword in it) is found, at its line, amid lines naming a secret."""
    log = clean_log()
    value = "abcdefghijklmnopqrstuvwx"  # 24 lower-case letters: no entropy, no secret name, only Cloudant
    text = "objects/secret-references.json\n" + log + f'clpw = "{value}"\n' + log
    hits = scan_text(text)
    assert [hit.kind for hit in hits] == ["detect-secrets:Cloudant Credentials"]
    assert hits[0].line == log.count("\n") + 2


@pytest.mark.parametrize("name", ["DB_PASSWORD", "dbPassword", "AUTH_URL", "secretKeyRef", "api-key", "key", "author",
                                  "x" * 300 + "_token", "x" * 300 + "_name"])
def test_remembered_secret_names_answer_as_the_words_do(name: str) -> None:
    from pathops_contracts import redaction, secret_names

    expected = secret_names.is_secret_name(name)
    assert redaction.is_secret_name(name) is expected
    assert redaction.is_secret_name(name) is expected  # the second time, from memory (short names)
    scrubbed = Redactor(key=KEY).scrub_object({name: "Zq7vLp2mXw9K", "n": 3, "ok": True, "none": None}, "f")
    assert (scrubbed[name] != "Zq7vLp2mXw9K") is expected
    assert (scrubbed["n"], scrubbed["ok"], scrubbed["none"]) == (3, True, None)


def test_a_member_written_again_while_the_packed_ones_are_gathered_is_never_taken_for_its_scanned_self() -> None:
    """scanned_packed() answers with members whose bytes are the ones scanned clean: a version added between
    its wait for the packing thread and its answer (a writer still running) is not paired with the one before."""
    packer = Packer()
    leaky = ("token=glpat-" + "aB3dE5fG7hJ9kL1mN3pQ5r\n").encode()
    packer.add("logs/web/api.log", leaky)  # not scanned clean
    gathered = packer.packed

    def gathered_while_written() -> dict[str, PackedMember]:
        everything = gathered()
        packer.add("logs/web/api.log", b"clean\n", scanned_clean=True)  # written again, in between
        return everything

    packer.packed = gathered_while_written  # type: ignore[method-assign]
    member = packer.scanned_packed().get("logs/web/api.log")
    assert member is None or member.sha256 == sha256_bytes(b"clean\n")
    packer.close()
