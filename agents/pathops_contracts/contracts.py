"""Load the versioned JSON Schemas and validate documents when produced and when consumed."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry, Resource

from pathops_contracts.errors import ContractViolation

_BASE = "https://schemas.pathops.io/"

# Contract name -> the schema_version value its documents carry.
EVIDENCE_MANIFEST = "evidence-manifest/v1"
PATCH_METADATA = "patch-metadata/v1"
VERIFICATION_REPORT = "verification-report/v1"
EVIDENCE_CALLBACK = "evidence-callback/v1"
FIX_CALLBACK = "fix-callback/v1"
FIX_PATCH_INLINE = "fix-patch-inline/v1"
VERIFICATION_CALLBACK = "verification-callback/v1"
JENKINS_WEBHOOK = "jenkins-webhook/v1"
JENKINS_JOB = "jenkins-job/v1"

ALL_CONTRACTS = (
    EVIDENCE_MANIFEST,
    PATCH_METADATA,
    VERIFICATION_REPORT,
    EVIDENCE_CALLBACK,
    FIX_CALLBACK,
    FIX_PATCH_INLINE,
    VERIFICATION_CALLBACK,
    JENKINS_WEBHOOK,
    JENKINS_JOB,
)


def schema_file_name(contract: str) -> str:
    """'evidence-manifest/v1' -> 'evidence-manifest.v1.schema.json'."""
    name, version = contract.split("/")
    return f"{name}.{version}.schema.json"


@cache
def _registry() -> Registry[Any]:
    folder = resources.files("pathops_contracts") / "schemas"
    registry: Registry[Any] = Registry()
    for entry in folder.iterdir():
        if entry.name.endswith(".schema.json"):
            document = json.loads(entry.read_text(encoding="utf-8"))
            registry = registry.with_resource(_BASE + entry.name, Resource.from_contents(document))
    return registry.crawl()


@cache
def _validator(contract: str) -> Draft202012Validator:
    if contract not in ALL_CONTRACTS:
        raise ValueError(f"unknown contract {contract!r}")
    schema = _registry().contents(_BASE + schema_file_name(contract))
    return Draft202012Validator(schema, registry=_registry())


def load_schema(contract: str) -> Mapping[str, Any]:
    """The schema document of a contract (for docs and for consumers outside Python)."""
    schema = _validator(contract).schema
    assert isinstance(schema, Mapping)  # our schemas are objects, never the boolean schemas
    return schema


def validate_document(document: Mapping[str, Any], contract: str) -> Mapping[str, Any]:
    """Return document when it satisfies contract; raise ContractViolation with one line otherwise."""
    error = best_match(_validator(contract).iter_errors(document))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(document)"
        raise ContractViolation(f"{contract} document is invalid at {where}: {error.message}")
    return document
