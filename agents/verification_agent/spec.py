"""The verification spec: loaded from YAML, validated against its JSON Schema with clear errors."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from pathops_contracts.errors import InvalidInput

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_CONDITION = re.compile(r"result\s*(<=|>=|==|!=|<|>)\s*(-?[0-9.]+)")


def seconds(duration: str | None, default: float = 0.0) -> float:
    if not duration:
        return default
    return sum(float(n) * _UNITS[u] for n, u in re.findall(r"([0-9]+)(ms|s|m|h)", duration))


def _validator() -> Draft202012Validator:
    schema = json.loads((resources.files("verification_agent") / "schemas" / "spec.schema.json").read_text())
    return Draft202012Validator(schema)


def _explain(error: ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "(spec)"
    if error.validator == "oneOf" and isinstance(error.instance, dict):
        kind = error.instance.get("type")
        if kind not in {"rollout", "restarts", "http", "prometheus", "job"}:
            return f"{where}: unknown check type {kind!r} (rollout, restarts, http, prometheus or job)"
        # The branch of that type says what is wrong.
        for sub in error.context or []:
            if sub.relative_schema_path and sub.relative_schema_path[0] == _BRANCH[kind]:
                inner = "/".join(str(p) for p in sub.absolute_path) or where
                return f"{inner}: {sub.message}"
    return f"{where}: {error.message}"


_BRANCH = {"rollout": 0, "restarts": 1, "http": 2, "prometheus": 3, "job": 4}


def load_spec(path: Path) -> dict[str, Any]:
    try:
        document = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except (OSError, YAMLError) as error:
        raise InvalidInput(f"verification spec {path}: {str(error).splitlines()[0]}") from error
    errors = sorted(_validator().iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        raise InvalidInput(f"verification spec {path}: {_explain(errors[0])}")
    names = [check["name"] for check in document["checks"]]
    if len(set(names)) != len(names):
        raise InvalidInput(f"verification spec {path}: check names must be unique")
    return dict(document)


def condition_holds(condition: str, value: float) -> bool:
    """Evaluate `result < 0.01 and result >= 0` style conditions without eval."""
    terms = re.split(r"\s+(and|or)\s+", condition.strip())
    outcome = _compare(terms[0], value)
    for joiner, term in zip(terms[1::2], terms[2::2], strict=True):
        outcome = (outcome and _compare(term, value)) if joiner == "and" else (outcome or _compare(term, value))
    return outcome


def _compare(term: str, value: float) -> bool:
    match = _CONDITION.fullmatch(term.strip())
    if match is None:
        raise InvalidInput(f"condition {term!r} is not 'result <op> number'")
    operator, number = match[1], float(match[2])
    return {"<": value < number, "<=": value <= number, ">": value > number, ">=": value >= number,
            "==": value == number, "!=": value != number}[operator]
