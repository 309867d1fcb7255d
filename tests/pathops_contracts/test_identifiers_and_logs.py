"""Identifier rules and secret masking in logs."""

from __future__ import annotations

import json
import logging

import pytest

from pathops_contracts.contracts import VERIFICATION_CALLBACK, validate_document
from pathops_contracts.errors import ContractViolation, InvalidInput
from pathops_contracts.identifiers import APP_ID, COMMIT_SHA, INCIDENT_ID, PROJECT_PATH, VERIFICATION_ID
from pathops_runtime.logs import JsonLinesFormatter, mask_secret


@pytest.mark.parametrize("value", ["INC-1042", "inc_7", "PD.Q3XYZ", "a"])
def test_incident_ids_accepted(value: str) -> None:
    assert INCIDENT_ID.check(value) == value


@pytest.mark.parametrize(
    "value", ['INC-1"; rm -rf /', "x" * 300, "-leading", "trailing-", "a/b", "a\nb", "", "$(id)"]
)
def test_incident_ids_refused(value: str) -> None:
    with pytest.raises(InvalidInput):
        INCIDENT_ID.check(value)


@pytest.mark.parametrize(("value", "valid"), [
    ("VER-7", True), ("VER-7f3a9c2e1b", True), ("VER-" + "a" * 44, True),
    ("INC-1042", False), ("1042", False), ("VER-", False), ("ver-7", False), ("VER-7-", False),
    ("VER-" + "a" * 45, False),
])
def test_a_verification_id_is_its_own_never_a_copied_incident_id(value: str, valid: bool) -> None:
    callback = {"schema_version": VERIFICATION_CALLBACK, "app_id": "shop-frontend", "env": "preflight",
                "verification_id": value, "status": "passed"}
    if valid:
        assert VERIFICATION_ID.check(value) == value
        validate_document(callback, VERIFICATION_CALLBACK)
        return
    with pytest.raises(InvalidInput):
        VERIFICATION_ID.check(value)
    with pytest.raises(ContractViolation):
        validate_document(callback, VERIFICATION_CALLBACK)


def test_other_rules() -> None:
    assert APP_ID.check("shop-frontend")
    for bad in ("Shop", "shop_frontend", "a" * 41):
        with pytest.raises(InvalidInput):
            APP_ID.check(bad)
    assert COMMIT_SHA.check("a" * 40)
    with pytest.raises(InvalidInput):
        COMMIT_SHA.check("A" * 40)
    assert PROJECT_PATH.check("shop/shop-frontend")
    for bad in ("shop", "../x/y", "shop/../etc", "shop/.git", "/abs/path"):
        with pytest.raises(InvalidInput):
            PROJECT_PATH.check(bad)


def test_registered_secrets_never_reach_a_log_line() -> None:
    mask_secret("hunter2-super-secret")
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "token is %s", ("hunter2-super-secret",), None)
    record.header = "Bearer hunter2-super-secret"
    line = JsonLinesFormatter().format(record)
    assert "hunter2" not in line
    entry = json.loads(line)
    assert entry["msg"] == "token is ***" and entry["header"] == "Bearer ***"
