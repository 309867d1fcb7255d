"""JSON documents from a bundle: refused (never crashed on) when too large, not JSON, or nested too deep."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pathops_contracts.errors import ContractViolation

MAX_JSON_DEPTH = 64


def read_json_document(path: Path, what: str, max_bytes: int = 16 * 1024 * 1024,
                       max_depth: int = MAX_JSON_DEPTH) -> Any:
    """A JSON file from a bundle, refused (never crashed on) when too large, not JSON, or nested too deep."""
    size = path.stat().st_size
    if size > max_bytes:
        raise ContractViolation(f"{what} is {size} bytes; at most {max_bytes} allowed")
    try:
        document = json.loads(path.read_bytes())
    except RecursionError as error:  # the C decoder's own guard against `[[[[...` (exit 1 otherwise)
        raise ContractViolation(f"{what} nests deeper than {max_depth} levels") from error
    except ValueError as error:
        raise ContractViolation(f"{what} is not JSON: {error}") from error
    if _nesting_depth(document, max_depth) > max_depth:
        raise ContractViolation(f"{what} nests deeper than {max_depth} levels")
    return document


def _nesting_depth(document: Any, stop_after: int) -> int:
    """How deeply arrays and objects nest, counted without recursion (stops past stop_after)."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending and deepest <= stop_after:
        value, depth = pending.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is not None:
            deepest = max(deepest, depth)
            pending.extend((child, depth + 1) for child in children)
    return deepest
