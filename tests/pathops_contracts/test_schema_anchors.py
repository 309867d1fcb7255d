"""Schema patterns end at the end of the value, not before a trailing newline.

jsonschema checks `pattern` with `re.search`, where `$` also matches before a final newline: a
commit claim "<sha>\\n" (a workload annotation is attacker-influenced) passed every `^...$` pattern
and reached fix-agent, which then refused a right fix comparing "<sha>" with "<sha>\\n".
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import pytest

from pathops_contracts.contracts import validate_document
from pathops_contracts.errors import ContractViolation

SHA = "a" * 40


def _patterns(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
        return own + [p for value in node.values() for p in _patterns(value)]
    if isinstance(node, list):
        return [p for value in node for p in _patterns(value)]
    return []


def test_no_anchored_pattern_ends_with_a_bare_dollar() -> None:
    schemas = resources.files("pathops_contracts") / "schemas"
    bare = [(entry.name, pattern) for entry in schemas.iterdir() if entry.name.endswith(".json")
            for pattern in _patterns(json.loads(entry.read_text()))
            if pattern.endswith("$")]
    assert bare == []


@pytest.mark.parametrize("pattern", ["^([0-9a-f]{40}|[0-9a-f]{64})$(?![\\s\\S])"])
def test_the_end_guard_refuses_only_a_trailing_newline(pattern: str) -> None:
    assert re.search(pattern, SHA) and not re.search(pattern, SHA + "\n")


def test_a_callback_with_a_newline_after_its_commit_is_refused() -> None:
    document = {"schema_version": "evidence-callback/v1", "incident_id": "INC-1", "snapshot_id": "snap-" + "0" * 32,
                "summary": "x", "source_commit_sha": SHA + "\n", "pointers": {"bundle": "s3://bucket/snapshots/k.tar.gz"}}
    with pytest.raises(ContractViolation, match="source_commit_sha"):
        validate_document(document, "evidence-callback/v1")
    validate_document({**document, "source_commit_sha": SHA}, "evidence-callback/v1")
