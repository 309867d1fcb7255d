"""The report gate: every secret value the agent holds is masked, and a report that still holds one is refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from verification_agent.checks import CheckResult
from verification_agent.report import SecretInReport, junit_xml, known_secrets, refuse_leaks, sanitize_report


def test_known_secrets_are_the_credential_values_the_agent_holds(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("eyJhbGciOiJSUzI1NiJ9.service-account\n")
    environ = {"AWS_SECRET_ACCESS_KEY": "aws-secret-value", "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
               "CALLBACK_SIGNING_KEY": "signing-key-value", "CONTROL_PLANE_TOKEN": "cp-token-value",
               "DB_PASSWORD": "hunter2hunter2", "APP_ID": "shop-frontend", "PWD": "/scratch", "TOKEN_TTL": "abc",
               "HOME": "/home/agent"}
    secrets = known_secrets(environ, ("option-signing-key", None), token_file=token)
    assert secrets == {"aws-secret-value", "AKIAEXAMPLE", "signing-key-value", "cp-token-value", "hunter2hunter2",
                       "option-signing-key", "eyJhbGciOiJSUzI1NiJ9.service-account"}


def test_masking_reaches_messages_measurements_and_their_keys() -> None:
    secret = 'pa"ss\\word-with-quotes'
    result = CheckResult("slo", "prometheus", "failed", 1, 1, f"query said {secret}",
                         [{"values": {f"{{token={secret}}}": 1.0}, "reason": [secret]}])
    (masked,) = sanitize_report([result], {secret})
    serialized = json.dumps(masked.as_dict()).encode()
    refuse_leaks({"report.json": serialized, "junit.xml": junit_xml("VER-7", [masked], 0.1)}, {secret})
    assert masked.message == "query said ****" and masked.measurements[0]["reason"] == ["****"]


@pytest.mark.parametrize("encode", [
    lambda s: json.dumps({"m": s}).encode(),
    lambda s: junit_xml("VER-7", [CheckResult("x", "job", "failed", 1, 1, s)], 0.1),
])
def test_a_secret_left_in_any_encoding_stops_the_upload(encode: Callable[[str], bytes]) -> None:
    secret = 'pa"ss<word>&more\\'
    with pytest.raises(SecretInReport, match="nothing was uploaded") as refused:
        refuse_leaks({"report.json": encode(secret)}, {secret})
    assert secret not in str(refused.value) and refused.value.exit_code == 4


def test_what_a_check_observed_is_redacted_like_logs_even_when_the_agent_never_held_it() -> None:
    # A preflight app that prints its own database URL and a Stripe key in a job's output or an HTTP body.
    leaked = ["postgres://app:Sup3r-S3cret-Pw@db:5432/shop", "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"]
    result = CheckResult("smoke", "job", "failed", 1, 1, f"exit 1: connecting to {leaked[0]}",
                         [{"stdout": f"STRIPE_KEY={leaked[1]}\nready"}])
    (clean,) = sanitize_report([result], set())
    serialized = json.dumps(clean.as_dict())
    assert not any(value in serialized for value in ("Sup3r-S3cret-Pw", leaked[1]))
    assert "postgres://" in serialized and "ready" in serialized  # the evidence around them stays
    refuse_leaks({"report.json": serialized.encode()}, set())


def test_the_shared_secret_scan_refuses_a_report_that_skipped_the_redactor() -> None:
    raw = json.dumps({"checks": [{"message": "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}]})
    with pytest.raises(SecretInReport, match="final secret scan") as refused:
        refuse_leaks({"report.json": raw.encode()}, set())
    assert "wJalrXUtnFEMI" not in str(refused.value)
