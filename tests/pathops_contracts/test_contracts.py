"""Each contract: a well-formed document passes, a broken one fails with a pointed message."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pathops_contracts import contracts
from pathops_contracts.errors import ContractViolation

SHA = "4f2c1d8e9a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d"
SNAP = "snap-0123456789abcdef0123456789abcdef"
PATCH = "patch-0123456789abcdef0123456789abcdef"
REPORT = "report-0123456789abcdef0123456789abcdef"
NOW = "2026-11-27T10:00:00Z"

GOOD: dict[str, dict[str, Any]] = {
    contracts.EVIDENCE_MANIFEST: {
        "schema_version": "evidence-manifest/v1",
        "incident_id": "INC-1042",
        "app_id": "shop-frontend",
        "target_namespace": "shop-frontend-preflight",
        "agents_namespace": "shop-frontend-agents",
        "time_window": {"start": "2026-11-27T09:30:00Z", "end": NOW},
        "collected_at": NOW,
        "workload": {"kind": "Deployment", "name": "shop-frontend"},
        "source": {"commit_sha": SHA, "image": "harbor.demo.pathops.io/shop/shop-frontend:4f2c1d8e",
                   "commit_sha_from": "annotation pathops.io/source-commit"},
        "files": [{"path": "pods/web-1/logs/web.previous.log", "sha256": "a" * 64, "size": 120}],
        "gaps": [{"what": "events", "reason": "forbidden", "detail": "HTTP 403"}],
        "redaction": {"jwt": 1},
        "collector": {"name": "evidence-collector", "version": "0.1.0"},
    },
    contracts.PATCH_METADATA: {
        "schema_version": "patch-metadata/v1",
        "incident_id": "INC-1042",
        "snapshot_id": SNAP,
        "source_commit_sha": SHA,
        "status": "patch",
        "files_touched": ["deploy/deployment.yaml"],
        "summary": "Readiness probe path /healthz does not exist; the app serves /health",
        "rationale": "Probe failures (404) in events; routes in app.py serve /health.",
        "recommended_checks": ["readiness probe passes in preflight"],
        "confidence": 0.9,
        "engine": {"name": "playbook", "playbook": "probe-path", "model": None},
        "patch_sha256": "b" * 64,
        "created_at": NOW,
    },
    contracts.VERIFICATION_REPORT: {
        "schema_version": "verification-report/v1",
        "app_id": "shop-frontend",
        "env": "preflight",
        "verification_id": "VER-7",
        "target_namespace": "shop-frontend-preflight",
        "expected_commit_sha": SHA,
        "status": "passed",
        "started_at": NOW,
        "finished_at": NOW,
        "checks": [{"name": "health", "type": "http", "status": "passed", "attempts": 5, "failures": 0,
                    "message": "5/5 responses 200 under 500 ms"}],
        "verifier": {"name": "verification-agent", "version": "0.1.0"},
    },
    contracts.EVIDENCE_CALLBACK: {
        "schema_version": "evidence-callback/v1", "incident_id": "INC-1042", "snapshot_id": SNAP,
        "summary": "1 pod not ready", "pointers": {"bundle": f"s3://pathops-evidence/snapshots/{SNAP}.tar.gz"},
    },
    contracts.FIX_CALLBACK: {
        "schema_version": "fix-callback/v2", "incident_id": "INC-1042", "snapshot_id": SNAP,
        "source_commit_sha": SHA, "patch_id": PATCH, "status": "patch", "summary": "Fix readiness probe path",
        "recommended_checks": ["probe passes"],
        "pointers": {"bundle": f"s3://pathops-evidence/patches/{PATCH}.tar.gz"},
    },
    contracts.FIX_PATCH_INLINE: {
        "schema_version": "fix-patch-inline/v1", "incident_id": "INC-1042", "patch_id": PATCH,
        "patch_sha256": "c" * 64, "patch": "From 4f2c Mon Sep 17 00:00:00 2001\n",
    },
    contracts.VERIFICATION_CALLBACK: {
        "schema_version": "verification-callback/v1", "app_id": "shop-frontend", "env": "preflight",
        "verification_id": "VER-7", "status": "inconclusive", "report_id": REPORT,
    },
    contracts.JENKINS_WEBHOOK: {
        "schema_version": "jenkins-webhook/v1", "changeset_id": "CS-17",
        "mr_url": "https://gitlab.demo.pathops.io/shop/shop-frontend/-/merge_requests/12", "status": "created",
        "branch": "cs-cs-17-fix-readiness-probe-path",
    },
    contracts.JENKINS_JOB: {
        "schema_version": "jenkins-job/v1", "job": "create-mr-from-patch", "status": "failure",
        "build_url": "https://jenkins.demo.pathops.io/job/create-mr-from-patch/12/", "changeset_id": "CS-17",
    },
}

# One breaking edit per contract, and the field the error must name.
BROKEN: dict[str, tuple[str, Any, str]] = {
    contracts.EVIDENCE_MANIFEST: ("files", [{"path": "../etc/passwd", "sha256": "a" * 64, "size": 1}], "files/0/path"),
    contracts.PATCH_METADATA: ("patch_sha256", None, "patch_sha256"),
    contracts.VERIFICATION_REPORT: ("checks", [], "checks"),
    contracts.EVIDENCE_CALLBACK: ("pointers", {}, "pointers"),
    contracts.FIX_CALLBACK: ("status", "maybe", "status"),
    contracts.FIX_PATCH_INLINE: ("patch", "", "patch"),
    contracts.VERIFICATION_CALLBACK: ("status", "passed-ish", "status"),
    contracts.JENKINS_WEBHOOK: ("mr_url", None, "mr_url"),
    contracts.JENKINS_JOB: ("status", "FAILED", "status"),
}


def test_every_contract_has_a_good_and_a_broken_example() -> None:
    assert set(GOOD) == set(BROKEN) == set(contracts.ALL_CONTRACTS)


@pytest.mark.parametrize("contract", contracts.ALL_CONTRACTS)
def test_good_document_passes(contract: str) -> None:
    assert contracts.validate_document(GOOD[contract], contract) is GOOD[contract]


@pytest.mark.parametrize("contract", contracts.ALL_CONTRACTS)
def test_broken_document_fails_naming_the_field(contract: str) -> None:
    field, value, where = BROKEN[contract]
    document = copy.deepcopy(GOOD[contract])
    document[field] = value
    with pytest.raises(ContractViolation) as caught:
        contracts.validate_document(document, contract)
    message = str(caught.value)
    assert "\n" not in message
    assert f"at {where}" in message


@pytest.mark.parametrize("contract", contracts.ALL_CONTRACTS)
def test_document_of_another_version_fails(contract: str) -> None:
    name, version = contract.split("/v")
    document = {**GOOD[contract], "schema_version": f"{name}/v{int(version) + 1}"}
    with pytest.raises(ContractViolation, match="schema_version"):
        contracts.validate_document(document, contract)


def test_no_fix_patch_metadata_has_no_patch() -> None:
    document = {**GOOD[contracts.PATCH_METADATA], "status": "no_fix", "patch_sha256": None, "files_touched": []}
    contracts.validate_document(document, contracts.PATCH_METADATA)
    with pytest.raises(ContractViolation):
        contracts.validate_document({**document, "files_touched": ["a.yaml"]}, contracts.PATCH_METADATA)


FILE = {"path": "logs/web-0/api.log", "sha256": "ab" * 32, "size": 10, "media_type": "text/plain"}
GAP = {"what": "logs/web-0/api.log", "reason": "truncated", "detail": "kept the head"}
ENTRY_CHANGES: list[tuple[str, dict[str, Any], str, Any]] = [
    ("files", FILE, "path", "../etc/passwd"), ("files", FILE, "path", "/abs"), ("files", FILE, "path", "a" * 513),
    ("files", FILE, "path", 7), ("files", FILE, "sha256", "AB" * 32), ("files", FILE, "sha256", "ab" * 31),
    ("files", FILE, "size", -1), ("files", FILE, "size", True), ("files", FILE, "size", 1.0),
    ("files", FILE, "size", "10"), ("files", FILE, "media_type", None), ("files", FILE, "extra", "x"),
    ("files", FILE, "sha256", None), ("gaps", GAP, "reason", "lost"), ("gaps", GAP, "detail", "d" * 2001),
    ("gaps", GAP, "what", None), ("gaps", GAP, "extra", 1), ("gaps", GAP, "reason", None),
]


@pytest.mark.parametrize(("array", "entry", "key", "value"), ENTRY_CHANGES)
def test_thousands_of_entries_are_judged_as_the_full_validator_judges_them(
        array: str, entry: dict[str, Any], key: str, value: Any) -> None:
    """Manifest entries go through a compiled check first: it must never accept what the schema refuses."""
    document = copy.deepcopy(GOOD[contracts.EVIDENCE_MANIFEST])
    changed = {**entry, key: value} if value is not None else {k: v for k, v in entry.items() if k != key}
    document[array] = [dict(entry, path=f"logs/p{i}/c.log") if array == "files" else entry for i in range(2000)]
    document[array][1234] = changed
    full = list(contracts._validator(contracts.EVIDENCE_MANIFEST).iter_errors(document))
    if full:
        with pytest.raises(ContractViolation, match=rf"at {array}/1234"):
            contracts.validate_document(document, contracts.EVIDENCE_MANIFEST)
    else:
        assert contracts.validate_document(document, contracts.EVIDENCE_MANIFEST) is document
    document[array][1234] = entry
    assert contracts.validate_document(document, contracts.EVIDENCE_MANIFEST) is document


def test_a_fix_callback_carries_its_source_commit_and_a_failure_carries_no_patch() -> None:
    good = GOOD[contracts.FIX_CALLBACK]
    failed = {key: good[key] for key in ("schema_version", "incident_id", "snapshot_id", "source_commit_sha")}
    contracts.validate_document({**failed, "status": "failed", "summary": "source commit mismatch"},
                                contracts.FIX_CALLBACK)
    for broken in ({**failed, "status": "failed", "summary": "x", "patch_id": PATCH},
                   {**failed, "status": "patch", "summary": "x"},
                   {key: value for key, value in good.items() if key != "source_commit_sha"}):
        with pytest.raises(ContractViolation):
            contracts.validate_document(broken, contracts.FIX_CALLBACK)


# What the compiled checks are tried on: every value of a good document replaced by each of these,
# each key dropped, an unknown key added to each object, and each list emptied or doubled.
ODD_VALUES: list[Any] = [None, True, False, 0, 1, 1.0, -1, 2.5, "", "x", "x" * 5000, "../etc/passwd", "/abs",
                         "2026-11-27T10:00:00Z", "2026-11-27T10:00:00Z\n", "a" * 64, "A" * 64, SHA, SNAP, [], {},
                         [None], {"x": 1}, "Deployment", "passed", "patch", "s3://b/k"]


def _mutations(value: Any) -> list[Any]:
    """Documents one edit away from value."""
    out: list[Any] = [copy.deepcopy(odd) for odd in ODD_VALUES]
    if isinstance(value, dict):
        for key, item in value.items():
            out.append({k: v for k, v in value.items() if k != key})
            out.extend({**value, key: changed} for changed in _mutations(item))
        out.append({**value, "unexpected": "x"})
    if isinstance(value, list):
        out.append(value + copy.deepcopy(value))
        for index, item in enumerate(value):
            out.extend([*value[:index], changed, *value[index + 1:]] for changed in _mutations(item))
    return out


@pytest.mark.parametrize("contract", contracts.ALL_CONTRACTS)
def test_the_compiled_check_never_accepts_what_the_full_validator_refuses(contract: str) -> None:
    """Documents the compiled check accepts are not given to jsonschema: each one edit from a good
    document is judged by both, and the compiled check may only be stricter."""
    check = contracts._compiled(contract)
    if check is None:
        pytest.skip(f"{contract} is outside the compiled subset: jsonschema judges every document")
    full = contracts._validator(contract)
    both = stricter = 0
    for document in _mutations(GOOD[contract]):
        valid = not list(full.iter_errors(document))
        if check(document):
            assert valid, document
            both += 1
        elif valid:
            stricter += 1
    assert both >= 5  # the edits that keep a document valid are accepted without jsonschema
    assert stricter <= both // 4, (both, stricter)


def test_a_valid_manifest_and_evidence_callback_are_judged_without_jsonschema() -> None:
    """The collector validates what it makes; the full validator is imported only to explain a refusal."""
    program = (
        "import sys\n"
        "from tests.pathops_contracts.test_contracts import GOOD\n"
        "from pathops_contracts import contracts\n"
        "for contract in (contracts.EVIDENCE_MANIFEST, contracts.EVIDENCE_CALLBACK):\n"
        "    contracts.validate_document(GOOD[contract], contract)\n"
        "assert 'jsonschema' not in sys.modules and 'referencing' not in sys.modules, 'imported'\n"
        "bad = dict(GOOD[contracts.EVIDENCE_MANIFEST], collected_at='yesterday')\n"
        "try:\n"
        "    contracts.validate_document(bad, contracts.EVIDENCE_MANIFEST)\n"
        "except contracts.ContractViolation as error:\n"
        "    print(error)\n")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.stdout.strip().startswith("evidence-manifest/v1 document is invalid at collected_at: ")


CLOSED = {"type": "object", "required": ["a"], "additionalProperties": False,
          "properties": {"a": {"type": "string", "maxLength": 2}, "b": {"type": "integer"}}}


@pytest.mark.parametrize(("schema", "instance", "accepted"), [
    ({"oneOf": [{"type": "null"}, {"type": "string", "maxLength": 2}]}, None, True),
    ({"oneOf": [{"type": "null"}, {"type": "string", "maxLength": 2}]}, "abc", False),
    ({"oneOf": [{"type": "null"}, {"type": "string", "maxLength": 2}]}, 1, False),
    ({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "integer"}},
     {"a": "x", "b": 1}, True),
    ({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "integer"}},
     {"b": "x"}, False),
    ({"$ref": "defs.schema.json#/$defs/sha256"}, "ab" * 32, True),
    ({"$ref": "#/$defs/sha256"}, "AB" * 32, False),
    # A closed object and a plain string: checked by one function each (`_closed_object`, `_plain_string`).
    (CLOSED, {"a": "x", "b": 1}, True),
    (CLOSED, {"a": "x"}, True),
    (CLOSED, {"b": 1}, False),  # a required key missing
    (CLOSED, {"a": "x", "c": 1}, False),  # a key that is no property
    (CLOSED, {"a": "xyz"}, False),  # a property's own check
    (CLOSED, {"a": 1}, False),
    (CLOSED, ["a"], False),
    (CLOSED, None, False),
    ({"type": "string", "minLength": 2, "maxLength": 3, "pattern": "^a"}, "ab", True),
    ({"type": "string", "minLength": 2, "maxLength": 3, "pattern": "^a"}, "a", False),
    ({"type": "string", "minLength": 2, "maxLength": 3, "pattern": "^a"}, "abcd", False),
    ({"type": "string", "minLength": 2, "maxLength": 3, "pattern": "^a"}, "ba", False),
    ({"type": "string", "minLength": 2, "maxLength": 3, "pattern": "^a"}, 12, False),
    ({"type": "string"}, "", True),
])
def test_compiled_keywords(schema: dict[str, Any], instance: Any, accepted: bool) -> None:
    check = contracts._compile(schema, "defs.schema.json")
    assert check is not None and check(instance) is accepted


@pytest.mark.parametrize("schema", [
    {"oneOf": [{"type": "string"}, {"type": "string", "maxLength": 3}]},  # "ab" passes both: oneOf refuses it
    {"oneOf": [{"type": "number"}, {"type": "integer"}]},
    {"oneOf": [{"minLength": 1}, {"type": "null"}]},  # a branch of unknown type
    {"$ref": "https://example.com/other.json#/x"},
    {"$ref": "defs.schema.json#/$defs/missing"},
    {"type": "object", "patternProperties": {"^a": {}}, "additionalProperties": {"type": "integer"}},
    {"anyOf": [{"type": "null"}]},
])
def test_schemas_outside_the_subset_go_to_the_full_validator(schema: dict[str, Any]) -> None:
    assert contracts._compile(schema, "defs.schema.json") is None
