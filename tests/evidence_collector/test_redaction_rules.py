"""The shared redactor and the independent final scan, as pure functions."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from evidence_collector.collector import Collected
from evidence_collector.detectors import Finding
from evidence_collector.snapshot import SnapshotIdentity, assemble
from evidence_collector.staging import Staging
from evidence_collector.window import resolve_window
from pathops_contracts.errors import ContractViolation
from pathops_contracts.redaction import Redactor, token_key
from pathops_contracts.secret_names import is_secret_name
from pathops_contracts.secret_scan import describe, scan_text

PASSWORD = "Zq7vLp2mXw9K"
AZURE = ("Xk9aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5b+/" * 3)[:86] + "=="
SHAPES = {
    "slack": "posting with xoxb-1234567890-1234567890123-" + "AbCdEfGhIjKlMnOpQrStUvWx",
    "stripe": "charge with sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "google": "maps key AIza" + "SyB1cD2eF3gH4iJ5kL6mN7oP8qR9sT0uV1w",
    "azure": f"DefaultEndpointsProtocol=https;AccountName=shop;AccountKey={AZURE};EndpointSuffix=core.windows.net",
    "client-key-data": "    client-key-data: " + "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlFb3dJQkFB",
    "basic-in-json": json.dumps({"Authorization": "Basic " + base64.b64encode(f"shop:{PASSWORD}".encode()).decode()}),
    "x-api-key": f"X-Api-Key: {PASSWORD}",
    "pwd": f"pwd={PASSWORD}",
    "empty-user-url": f"redis://:{PASSWORD}@cache:6379/0",
    "flag-value": f"/app/server --db-password {PASSWORD} --port 8080",
    "json-escaped": json.dumps({"msg": json.dumps({"password": PASSWORD})}),
    "json-in-json-lines": json.dumps({"log": json.dumps({"db_password": PASSWORD}) + "\n"}),
    "slash-and-at": f"DB_PASSWORD=ab/{PASSWORD}@cd",
    "url-slash-and-at": f"postgres://shop:ab/{PASSWORD}@cd@db:5432/shop",
    "fake-token-prefix": f"password=[REDACTED:secret-assignment:abcdef]{PASSWORD}",
    "pem-begin-cut": "\n".join(["MIIEowIBAAKCAQEAx7Hq2" + PASSWORD + "9Wd3KkPp0LmZb1Qr5TtUu7Vv",
                                "-----END RSA PRIVATE KEY-----", "next line"]),
    "pem-end-cut": "\n".join(["-----BEGIN OPENSSH PRIVATE KEY-----", "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUA" + PASSWORD]),
    "pgp": "\n".join(["-----BEGIN PGP PRIVATE KEY BLOCK-----", "", "lQOYBF0" + PASSWORD + "Abc",
                      "-----END PGP PRIVATE KEY BLOCK-----"]),
}
SECRET_OF = {"slack": "AbCdEfGhIjKlMnOpQrStUvWx", "stripe": "4eC39HqLyjWDarjtT1zdp7dc",
             "google": "SyB1cD2eF3gH4iJ5kL6mN7oP8qR9sT0uV1w", "azure": AZURE,
             "client-key-data": "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlFb3dJQkFB",
             "basic-in-json": base64.b64encode(f"shop:{PASSWORD}".encode()).decode()}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_shape_is_redacted_and_the_scan_finds_it_unredacted(shape: str) -> None:
    text = SHAPES[shape]
    secret = SECRET_OF.get(shape, PASSWORD)
    redacted = Redactor().redact(text, "f.log")
    assert secret not in redacted and "[REDACTED:" in redacted
    assert scan_text(redacted) == []
    # The scan is a second, independent net: it finds the shape where the redactor never ran.
    assert scan_text(text), f"the final scan misses {shape}"


EVIDENCE = [
    "AUTH_URL=https://auth.shop.example.com/login", "TOKEN_TTL_SECONDS=3600", "tokens_used=1500",
    "authenticated=true", "author=alice", "automountServiceAccountToken: false", "secretName: shop-tls",
    '"secretKeyRef": {"key": "token", "name": "shop-api"}', "DB_PASSWORD_FILE=/run/secrets/db-password",
    "image=harbor.demo.pathops.io/shop/web@sha256:" + "3b" * 32, "commit 4f2c1d8e9a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d",
    "listening on 0.0.0.0:8443", "trace_id=4bf92f3577b34da6a3ce929d0e0e4736",
    "uid=0c8f6a1e-7d2b-4c3a-9e5f-1a2b3c4d5e6f", "path=/var/run/secrets/kubernetes.io/serviceaccount/token",
    "Basic configuration loaded", "secret \"shop-api\" not found", "couldn't find key token in Secret ns/shop-api",
]


@pytest.mark.parametrize("line", EVIDENCE)
def test_evidence_that_looks_like_a_secret_survives(line: str) -> None:
    assert Redactor().redact(line, "f.log") == line
    assert scan_text(line) == []


def test_the_scan_lets_counts_of_the_redaction_report_through() -> None:
    assert scan_text(json.dumps({"by_kind": {"gitlab-token": 2, "secret-assignment": 3}}, indent=2)) == []


@pytest.mark.parametrize(("name", "secret"), [
    ("DB_PASSWORD", True), ("pwd", True), ("X-Api-Key", True), ("client-key-data", True), ("AccountKey", True),
    ("SECRET_KEY_BASE", True), ("refreshToken", True), ("--db-password", True), ("auth", True),
    ("AUTH_URL", False), ("TOKEN_TTL_SECONDS", False), ("tokens_used", False), ("authenticated", False),
    ("author", False), ("secretName", False), ("secretKeyRef", False), ("key", False), ("DB_PASSWORD_FILE", False),
    ("bypass", False),
])
def test_names_are_matched_as_words(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


def test_objects_keep_their_structure_and_lose_their_secrets() -> None:
    redactor = Redactor()
    pod = {"spec": {"containers": [{
        "args": ["--db-password", PASSWORD, "--token-ttl-seconds", "3600", f"--api-key={PASSWORD}"],
        "env": [{"name": "DB_PASSWORD", "value": PASSWORD}, {"name": "AUTH_URL", "value": "https://auth/x"}]}]},
        "metadata": {"annotations": {"example.com/api-token": PASSWORD, f"glpat-{PASSWORD}{PASSWORD}": "x"}}}
    scrubbed = redactor.scrub_object(pod, "objects/pods.jsonl")
    text = json.dumps(scrubbed)
    assert PASSWORD not in text and json.loads(text) == scrubbed
    assert scrubbed["spec"]["containers"][0]["args"][2:4] == ["--token-ttl-seconds", "3600"]
    assert scrubbed["spec"]["containers"][0]["env"][1]["value"] == "https://auth/x"


def test_token_keys_are_per_incident() -> None:
    same = token_key("INC-1042", "signing-key"), token_key("INC-1042", "signing-key")
    assert same[0] == same[1] != token_key("INC-2001", "signing-key")
    assert token_key("INC-1042", None) != token_key("INC-1042", None)  # nothing secret to derive from: random
    first, second = Redactor(key=same[0]), Redactor(key=same[1])
    assert first.redact(f"pwd={PASSWORD}", "f") == second.redact(f"pwd={PASSWORD}", "g")


def test_scan_reports_never_carry_values() -> None:
    hits = scan_text(f"line one\npwd={PASSWORD}\n")
    assert [(hit.kind, hit.line) for hit in hits] == [("secret-name-value", 2)]
    assert PASSWORD not in describe(hits, "x.log") and "x.log:2" in describe(hits, "x.log")


def test_gap_details_are_redacted_and_the_manifest_is_scanned(tmp_path: Path) -> None:
    redactor = Redactor()
    staging = Staging(tmp_path / "stage", redactor, 10**6)
    staging.root.mkdir()
    staging.gap("pods", "error", f"upstream said: connecting to postgres://shop:{PASSWORD}@db failed")
    now = datetime.now(UTC)
    identity = SnapshotIdentity("INC-1", "shop", "shop-preflight", None)
    manifest, _, _ = assemble(staging, identity, resolve_window("30m", now),
                              Collected([], None, None, None, None), redactor, tmp_path / "bundle.tar.gz")
    assert PASSWORD not in json.dumps(manifest) and "[REDACTED:url-credentials:" in manifest["gaps"][0]["detail"]
    # Whatever reaches the manifest around the redactor is caught by the final scan.
    leaky = Collected([], {"kind": "Deployment", "name": f"pwd={PASSWORD}"}, None, None, None)
    with pytest.raises(ContractViolation, match=r"manifest\.json"):
        assemble(staging, identity, resolve_window("30m", now), leaky, redactor, tmp_path / "other.tar.gz")
    assert not (tmp_path / "other.tar.gz").exists()


def test_the_callback_summary_is_redacted(tmp_path: Path) -> None:
    redactor = Redactor()
    staging = Staging(tmp_path / "stage", redactor, 10**6)
    staging.root.mkdir()
    title = f"web/api cannot start: pulling with pwd={PASSWORD} failed"
    finding = Finding("config-error", "critical", title, title, [], [], {})
    now = datetime.now(UTC)
    _, summary, _ = assemble(staging, SnapshotIdentity("INC-1", "shop", "shop-preflight", None),
                             resolve_window("30m", now), Collected([finding], None, None, None, None), redactor,
                             tmp_path / "bundle.tar.gz")
    assert PASSWORD not in summary and "pwd=[REDACTED:secret-assignment:" in summary


def test_a_key_cut_at_its_begin_takes_its_body_and_nothing_before() -> None:
    body = ["2026-12-01T11:00:00.1Z MIIEowIBAAKCAQEAx7Hq2" + PASSWORD * 3 + "Ab", "2026-12-01T11:00:00.2Z ZZ=="]
    text = "\n".join(["hello", *body, "2026-12-01T11:00:00.3Z -----END RSA PRIVATE KEY-----", "after"]) + "\n"
    out = Redactor().redact(text, "f.log").splitlines()
    assert len(out) == 3 and out[0] == "hello" and out[2] == "after"
    assert out[1].startswith("[REDACTED:pem-private-key:") and PASSWORD not in out[1]


def _putty_key() -> list[str]:
    """A PuTTY key file's lines, as an app printing one would log them."""
    public = base64.b64encode(bytes(range(7, 103))).decode()
    private = base64.b64encode(PASSWORD.encode() * 12).decode()
    return ["PuTTY-User-Key-File-3: ssh-rsa", "Encryption: none", "Comment: deploy@ci", "Public-Lines: 2",
            public[:64], public[64:], "Private-Lines: 3", *(private[n:n + 64] for n in range(0, len(private), 64)),
            "Private-MAC: " + "5e" * 32]


@pytest.mark.parametrize("line", ["loading deploy key: PuTTY-User-Key-File-2: ssh-rsa",
                                  "grep -l PuTTY-User-Key-File /etc/keys found nothing"])
def test_a_putty_marker_alone_is_redacted_not_a_reason_to_refuse_the_snapshot(line: str) -> None:
    """The final scan refuses any PuTTY key marker; the redactor takes a marker whose MAC never comes to the
    end of its text, as a BEGIN without END, so that one log line cannot stop a whole snapshot."""
    text = f"2026-12-01T11:00:00.1Z starting\n2026-12-01T11:00:00.2Z {line}\n"
    out = "".join(Redactor().redact_blocks([text], "f.log"))
    assert out.startswith("2026-12-01T11:00:00.1Z starting\n") and "PuTTY" not in out
    assert scan_text(out) == []


def test_a_putty_key_cut_by_any_block_boundary_is_redacted_whole() -> None:
    key = _putty_key()
    lines = [f"2026-12-01T11:00:{n:02d}.0Z {text}\n" for n, text in enumerate(["starting", *key, "after the key"])]
    for cut in range(1, len(lines)):
        out = "".join(Redactor().redact_blocks(["".join(lines[:cut]), "".join(lines[cut:])], "f.log"))
        assert out.startswith(lines[0]) and out.endswith(lines[-1]), cut
        assert not any(text[-16:] in out for text in key[4:]), cut
        assert scan_text(out) == [], cut


def test_a_list_under_a_secret_name_has_each_item_redacted() -> None:
    """`"password": ["hunter2"]` kept its secret: the items were screened as free text only, and the final
    scan does not refuse them either (found by the reviewer of the scan agreement)."""
    redactor = Redactor(key=b"k" * 32)
    obj = {"password": [PASSWORD, [PASSWORD + "-2"], {"note": "plain"}], "args": ["--verbose", "true"],
           "names": ["web", "api"]}
    scrubbed = redactor.scrub_object(obj, "objects/pods.jsonl")
    text = json.dumps(scrubbed)
    assert PASSWORD not in text and scrubbed["password"][0].startswith("[REDACTED:secret-env-value:")
    assert scrubbed["password"][2] == {"note": "plain"} and scrubbed["args"] == ["--verbose", "true"]
    assert scrubbed["names"] == ["web", "api"]
