"""Load the versioned JSON Schemas and validate documents when produced and when consumed."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
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
FIX_CALLBACK = "fix-callback/v2"
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


Check = Callable[[Any], bool]
_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str), "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list), "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
}
_NOTES = {"description", "title", "$comment"}


def _compile(schema: Any, resolver: Any, depth: int = 0) -> Check | None:
    """A plain-Python check that accepts only what the schema accepts (it may refuse more: then the
    full validator decides), or None when the schema uses a keyword outside this small subset."""
    if not isinstance(schema, dict) or depth > 16:
        return None
    if "$ref" in schema:
        if set(schema) - _NOTES != {"$ref"}:
            return None
        resolved = resolver.lookup(schema["$ref"])
        return _compile(resolved.contents, resolved.resolver, depth + 1)
    checks = [_keyword(keyword, value, schema, resolver, depth) for keyword, value in schema.items()
              if keyword not in _NOTES]
    if any(check is None for check in checks):
        return None
    every = [check for check in checks if check is not None]

    def valid(instance: Any) -> bool:
        return all(check(instance) for check in every)

    return valid


def _keyword(keyword: str, value: Any, schema: dict[str, Any], resolver: Any, depth: int) -> Check | None:
    """The check of one keyword (see _compile), or None when it is outside the subset."""
    def string_check(test: Callable[[str], bool]) -> Check:
        return lambda instance: not isinstance(instance, str) or test(instance)

    def object_check(test: Callable[[dict[str, Any]], bool]) -> Check:
        return lambda instance: not isinstance(instance, dict) or test(instance)

    if keyword == "type":
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not all(name in _TYPES for name in names):
            return None
        tests = [_TYPES[name] for name in names]
        return lambda instance: any(test(instance) for test in tests)
    if keyword == "pattern" and isinstance(value, str):
        pattern = re.compile(value)
        return string_check(lambda text: pattern.search(text) is not None)
    if keyword == "maxLength" and isinstance(value, int):
        return string_check(lambda text: len(text) <= value)
    if keyword == "minLength" and isinstance(value, int):
        return string_check(lambda text: len(text) >= value)
    if keyword == "minimum" and isinstance(value, int):
        return lambda instance: not _TYPES["number"](instance) or bool(instance >= value)
    if keyword in ("enum", "const"):
        allowed = frozenset(x for x in (value if keyword == "enum" else [value]) if isinstance(x, str))
        return lambda instance: isinstance(instance, str) and instance in allowed
    if keyword == "required" and isinstance(value, list):
        keys = tuple(value)
        return object_check(lambda obj: all(key in obj for key in keys))
    if keyword == "additionalProperties" and value is False:
        known = frozenset(schema.get("properties", {}))
        return object_check(known.issuperset)
    if keyword == "properties" and isinstance(value, dict):
        compiled = {name: _compile(sub, resolver, depth + 1) for name, sub in value.items()}
        each = {name: check for name, check in compiled.items() if check is not None}
        if len(each) != len(compiled):
            return None
        return object_check(lambda obj: all(each[name](item) for name, item in obj.items() if name in each))
    if keyword == "items":
        item_check = _compile(value, resolver, depth + 1)
        if item_check is None:
            return None
        return lambda instance: not isinstance(instance, list) or all(map(item_check, instance))
    return None


@cache
def _fast_arrays(contract: str) -> dict[str, Check]:
    """Top-level array properties (a manifest's thousands of files) checked by compiled Python.

    Only for a top-level schema whose keywords validate each property on its own, and only
    arrays whose schema compiles and accepts []: a document is then valid exactly when these
    checks pass and the document with those arrays emptied passes the full validator.
    """
    schema = _validator(contract).schema
    if not isinstance(schema, Mapping) or set(schema) - _NOTES - {
            "$schema", "$id", "type", "required", "additionalProperties", "properties"}:
        return {}
    resolver = _registry().resolver(_BASE + schema_file_name(contract))
    fast = {}
    for name, sub in schema.get("properties", {}).items():
        check = _compile(sub, resolver) if isinstance(sub, dict) and sub.get("type") == "array" else None
        if check is not None and check([]):
            fast[name] = check
    return fast


def validate_document(document: Mapping[str, Any], contract: str) -> Mapping[str, Any]:
    """Return document when it satisfies contract; raise ContractViolation with one line otherwise."""
    fast = _fast_arrays(contract)
    checked: Mapping[str, Any] = document
    if fast and all(check(document[name]) for name, check in fast.items() if name in document):
        checked = {**document, **{name: [] for name in fast if name in document}}
    error = best_match(_validator(contract).iter_errors(checked))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(document)"
        raise ContractViolation(f"{contract} document is invalid at {where}: {error.message}")
    return document
