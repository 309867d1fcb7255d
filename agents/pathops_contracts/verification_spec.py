"""The verification spec contract: parsed from YAML and validated against its JSON Schema with clear errors.

Shared because two tools read a spec: gitops-patcher refuses an invalid one before it renders
anything, and verification-agent refuses it again before running a check.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from pathops_contracts.errors import InvalidInput

MAX_SPEC_BYTES = 64 * 1024
CHECK_TYPES = ("rollout", "restarts", "http", "prometheus", "job")  # the schema's oneOf branches, in order


@cache
def _validator() -> Draft202012Validator:
    folder = resources.files("pathops_contracts") / "schemas"
    schema = json.loads((folder / "verification-spec.schema.json").read_text(encoding="utf-8"))
    return Draft202012Validator(schema)


def _explain(error: ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "(spec)"
    if error.validator == "oneOf" and isinstance(error.instance, dict):
        kind = error.instance.get("type")
        if kind not in CHECK_TYPES:
            return f"{where}: unknown check type {kind!r} ({', '.join(CHECK_TYPES)})"
        # The branch of that type says what is wrong.
        for sub in error.context or []:
            if sub.relative_schema_path and sub.relative_schema_path[0] == CHECK_TYPES.index(kind):
                inner = "/".join(str(p) for p in sub.absolute_path) or where
                return f"{inner}: {sub.message[:200]}"
    return f"{where}: {error.message[:200]}"


def parse_spec(text: str, source: str) -> dict[str, Any]:
    """The spec document of `text`; InvalidInput naming `source` unless it is schema-valid."""
    if len(text.encode("utf-8")) > MAX_SPEC_BYTES:
        raise InvalidInput(f"verification spec {source} is larger than {MAX_SPEC_BYTES} bytes")
    try:
        document = YAML(typ="safe").load(text)
    except YAMLError as error:
        raise InvalidInput(f"verification spec {source}: {str(error).splitlines()[0]}") from error
    if not isinstance(document, dict):  # say so without echoing the text (it may be any file)
        raise InvalidInput(f"verification spec {source}: must be a YAML mapping with a 'checks' list")
    errors = sorted(_validator().iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        raise InvalidInput(f"verification spec {source}: {_explain(errors[0])}")
    names = [check["name"] for check in document["checks"]]
    if len(set(names)) != len(names):
        raise InvalidInput(f"verification spec {source}: check names must be unique")
    return dict(document)


def load_spec(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_SPEC_BYTES + 1)
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput(f"verification spec {path}: {type(error).__name__}: {error}") from error
    return parse_spec(text, str(path))
