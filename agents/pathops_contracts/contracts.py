"""Load the versioned JSON Schemas and validate documents when produced and when consumed.

A document is first checked by plain Python compiled from its schema (`_compile`: a subset of
JSON Schema that accepts only what the schema accepts). Only a document that check refuses, or a
schema outside the subset, goes to the full validator (jsonschema), which then decides and names
the field. A valid evidence manifest is so judged without importing jsonschema: about a tenth of
a second of the collector's CPU, spent while its log streams were starting.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from pathops_contracts.errors import ContractViolation

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from referencing import Registry

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
def _documents() -> dict[str, Any]:
    """Every schema document of the package, parsed, by file name."""
    folder = resources.files("pathops_contracts") / "schemas"
    return {entry.name: json.loads(entry.read_text(encoding="utf-8"))
            for entry in folder.iterdir() if entry.name.endswith(".schema.json")}


@cache
def _registry() -> Registry[Any]:
    from referencing import Registry, Resource

    registry: Registry[Any] = Registry()
    for name, document in _documents().items():
        registry = registry.with_resource(_BASE + name, Resource.from_contents(document))
    return registry.crawl()


@cache
def _validator(contract: str) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

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
_SCHEMA_ONLY = {"$schema", "$id", "$defs"}  # about the schema, not the instance (`$id`: see _compile)


def _resolve(ref: str, base: str) -> tuple[Any, str] | None:
    """The schema a $ref names and the file it is in (our own files, JSON-pointer fragments only)."""
    target, _, fragment = ref.partition("#")
    name = target.removeprefix(_BASE) or base
    node = _documents().get(name)
    if node is None or "/" in name or "%" in fragment or (fragment and not fragment.startswith("/")):
        return None
    for part in fragment.split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node, name


def _types(schema: Any, base: str, depth: int = 0) -> frozenset[str] | None:
    """The JSON types a schema restricts its instances to ('number' includes 'integer'), or None."""
    if not isinstance(schema, dict) or depth > 16:
        return None
    if "$ref" in schema:
        resolved = _resolve(schema["$ref"], base)
        return None if resolved is None else _types(resolved[0], resolved[1], depth + 1)
    if isinstance(schema.get("type"), str | list):
        names = {schema["type"]} if isinstance(schema["type"], str) else set(schema["type"])
        return frozenset(names | ({"integer"} if "number" in names else set()))
    values = schema.get("enum", [schema["const"]] if "const" in schema else None)
    if isinstance(values, list) and values and all(isinstance(value, str) for value in values):
        return frozenset({"string"})
    return None


def _compile(schema: Any, base: str, depth: int = 0) -> Check | None:
    """A plain-Python check that accepts only what the schema accepts (it may refuse more: then the
    full validator decides), or None when the schema uses a keyword outside this small subset.
    `base`: the schema file that relative $refs resolve against."""
    if not isinstance(schema, dict) or depth > 16:
        return None
    if "$id" in schema:
        identifier = schema["$id"]
        if not isinstance(identifier, str) or identifier.removeprefix(_BASE) not in _documents():
            return None
        base = identifier.removeprefix(_BASE)
    if "$ref" in schema:
        if set(schema) - _NOTES - _SCHEMA_ONLY != {"$ref"}:
            return None
        resolved = _resolve(schema["$ref"], base)
        return None if resolved is None else _compile(resolved[0], resolved[1], depth + 1)
    keywords = set(schema) - _NOTES - _SCHEMA_ONLY
    if schema.get("type") == "object" and schema.get("additionalProperties") is False and keywords <= _CLOSED_OBJECT:
        return _closed_object(schema, base, depth)
    if schema.get("type") == "string" and keywords <= _PLAIN_STRING:
        return _plain_string(schema)
    checks = [_keyword(keyword, value, schema, base, depth) for keyword, value in schema.items()
              if keyword not in _NOTES and keyword not in _SCHEMA_ONLY]
    if any(check is None for check in checks):
        return None
    return _all_of([check for check in checks if check is not None])


# The two shapes a manifest's thousands of entries have, each checked by one function rather than a check
# per keyword (and a wrapper per check): 11 ms of the collector's end for 1,815 files and 1,200 gaps, 5 now.
_CLOSED_OBJECT = {"type", "required", "additionalProperties", "properties"}
_PLAIN_STRING = {"type", "maxLength", "minLength", "pattern"}


def _closed_object(schema: dict[str, Any], base: str, depth: int) -> Check | None:
    """`type: object`, `additionalProperties: false`, `properties`, `required`: an object whose every key is
    a property, valid as that property, holding every required key."""
    properties, required = schema.get("properties", {}), schema.get("required", [])
    if not (isinstance(properties, dict) and isinstance(required, list)
            and all(isinstance(name, str) for name in required)):
        return None
    compiled = {name: _compile(sub, base, depth + 1) for name, sub in properties.items()}
    each = {name: check for name, check in compiled.items() if check is not None}
    if len(each) != len(compiled):
        return None
    needed = frozenset(required)

    def valid(instance: Any) -> bool:
        if not isinstance(instance, dict):
            return False
        for name, item in instance.items():
            check = each.get(name)
            if check is None or not check(item):
                return False
        return instance.keys() >= needed

    return valid


def _plain_string(schema: dict[str, Any]) -> Check | None:
    """`type: string` with `minLength`, `maxLength`, `pattern` (each optional)."""
    shortest, longest, pattern = schema.get("minLength", 0), schema.get("maxLength"), schema.get("pattern")
    if not (isinstance(shortest, int) and (longest is None or isinstance(longest, int))
            and (pattern is None or isinstance(pattern, str))):
        return None
    search = None if pattern is None else re.compile(pattern).search
    most = float("inf") if longest is None else longest

    def valid(instance: Any) -> bool:
        return isinstance(instance, str) and shortest <= len(instance) <= most and (
            search is None or search(instance) is not None)

    return valid


def compile_check(schema: Mapping[str, Any]) -> Check | None:
    """A plain-Python check that accepts only what `schema` accepts, or None when the schema uses a
    keyword outside the compiled subset (see _compile) or a $ref: for schemas written in Python."""
    return _compile(dict(schema), "")


def _all_of(every: list[Check]) -> Check:
    """One check passing when each of `every` passes (plain loops: a manifest has thousands of entries)."""
    if len(every) == 1:
        return every[0]

    def valid(instance: Any) -> bool:
        for check in every:  # noqa: SIM110 - a loop, not a generator per call: measured faster
            if not check(instance):
                return False
        return True

    return valid


def _keyword(keyword: str, value: Any, schema: dict[str, Any], base: str, depth: int) -> Check | None:
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
        if len(tests) == 1:
            return tests[0]
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
        compiled = {name: _compile(sub, base, depth + 1) for name, sub in value.items()}
        each = {name: check for name, check in compiled.items() if check is not None}
        if len(each) != len(compiled):
            return None
        def each_known(obj: dict[str, Any]) -> bool:
            for name, item in obj.items():
                check = each.get(name)
                if check is not None and not check(item):
                    return False
            return True

        return object_check(each_known)
    if keyword == "items":
        item_check = _compile(value, base, depth + 1)
        if item_check is None:
            return None
        return lambda instance: not isinstance(instance, list) or all(map(item_check, instance))
    if keyword == "additionalProperties" and isinstance(value, dict) and "patternProperties" not in schema:
        other_check = _compile(value, base, depth + 1)
        if other_check is None:
            return None
        named = frozenset(schema.get("properties", {}))
        return object_check(lambda obj: all(other_check(item) for name, item in obj.items() if name not in named))
    if keyword == "oneOf" and isinstance(value, list) and value:
        # Exactly one branch: sound with checks that may refuse more only when no instance can pass
        # two branches, i.e. the branches' types are disjoint; then it is "any branch".
        types = [_types(branch, base, depth + 1) for branch in value]
        branches = [_compile(branch, base, depth + 1) for branch in value]
        typed = [t for t in types if t is not None]
        if len(typed) != len(types) or sum(map(len, typed)) != len(frozenset[str]().union(*typed)):
            return None
        if any(branch is None for branch in branches):
            return None
        every = [branch for branch in branches if branch is not None]
        return lambda instance: any(branch(instance) for branch in every)
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
    fast = {}
    for name, sub in schema.get("properties", {}).items():
        is_array = isinstance(sub, dict) and sub.get("type") == "array"
        check = _compile(sub, schema_file_name(contract)) if is_array else None
        if check is not None and check([]):
            fast[name] = check
    return fast


@cache
def _compiled(contract: str) -> Check | None:
    """The whole contract as plain Python, or None when its schema is outside the subset."""
    if contract not in ALL_CONTRACTS:
        raise ValueError(f"unknown contract {contract!r}")
    return _compile(_documents()[schema_file_name(contract)], schema_file_name(contract))


def validate_document(document: Mapping[str, Any], contract: str) -> Mapping[str, Any]:
    """Return document when it satisfies contract; raise ContractViolation with one line otherwise."""
    check = _compiled(contract)
    if check is not None and check(document):
        return document  # accepted by a check that accepts only what the schema accepts
    from jsonschema.exceptions import best_match

    fast = _fast_arrays(contract)
    checked: Mapping[str, Any] = document
    if fast and all(check(document[name]) for name, check in fast.items() if name in document):
        checked = {**document, **{name: [] for name in fast if name in document}}
    error = best_match(_validator(contract).iter_errors(checked))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(document)"
        raise ContractViolation(f"{contract} document is invalid at {where}: {error.message}")
    return document
