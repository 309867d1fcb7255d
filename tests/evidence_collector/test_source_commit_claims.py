"""A commit claim is a full SHA and nothing else: a trailing newline makes it no claim at all."""

from __future__ import annotations

from evidence_collector.source_commit import find_source_commit

SHA = "a" * 40


def test_the_collector_takes_no_commit_with_a_trailing_newline() -> None:
    pod = {"metadata": {"annotations": {"pathops.io/source-commit": SHA + "\n"}}}
    assert find_source_commit([("pod/x", pod)], f"registry.example/app:{SHA}\n") == (None, None)
    pod["metadata"]["annotations"]["pathops.io/source-commit"] = SHA
    assert find_source_commit([("pod/x", pod)], None) == (SHA, "pod/x annotation pathops.io/source-commit")
