"""The patch policy: what an automated change may touch.

Shared by the fix agent (before upload) and mr-creator (after `git am`), because the
merge-request side does not trust the agent side. A pure function over the changes
that `git diff --raw --numstat` reports.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass

MAX_PATCH_BYTES = 256 * 1024
MAX_FILES = 50

# CI definitions and repository plumbing: a change here could run code with CI credentials.
PROTECTED_PATTERNS = (
    ".git/*",
    ".gitlab-ci.yml",
    ".gitlab-ci/*",
    ".gitlab/*",
    ".github/*",
    "Jenkinsfile",
    "*/Jenkinsfile",
    "Jenkinsfile.*",
    ".gitmodules",
    ".gitattributes",
    ".circleci/*",
    ".travis.yml",
    "azure-pipelines.yml",
    ".pre-commit-config.yaml",
    "CODEOWNERS",
    "*/CODEOWNERS",
)

REGULAR_MODES = {"100644", "100755", "000000"}


@dataclass(frozen=True)
class FileChange:
    """One file of a diff, as git reports it."""

    path: str
    old_mode: str
    new_mode: str
    binary: bool
    added_lines: int
    deleted_lines: int


@dataclass(frozen=True)
class PolicyLimits:
    max_patch_bytes: int = MAX_PATCH_BYTES
    max_files: int = MAX_FILES


DEFAULT_LIMITS = PolicyLimits()


def violations(changes: Iterable[FileChange], patch_bytes: int, limits: PolicyLimits = DEFAULT_LIMITS) -> list[str]:
    """Every reason the change may not be proposed; empty when it may."""
    found: list[str] = []
    changes = list(changes)
    if not changes:
        found.append("the patch changes no file")
    if len(changes) > limits.max_files:
        found.append(f"the patch touches {len(changes)} files; at most {limits.max_files} allowed")
    if patch_bytes > limits.max_patch_bytes:
        found.append(f"the patch is {patch_bytes} bytes; at most {limits.max_patch_bytes} allowed")
    for change in changes:
        path = change.path
        if path.startswith("/") or ".." in path.split("/") or path.startswith(".git/") or "/.git/" in path:
            found.append(f"{path}: outside the repository tree")
        elif any(fnmatch.fnmatchcase(path, pattern) for pattern in PROTECTED_PATTERNS):
            found.append(f"{path}: CI definitions and repository plumbing are off limits")
        if change.binary:
            found.append(f"{path}: binary changes are not allowed")
        if change.new_mode not in REGULAR_MODES or change.old_mode not in REGULAR_MODES:
            found.append(f"{path}: only regular files may change (mode {change.old_mode} -> {change.new_mode})")
        elif change.old_mode != "000000" and change.new_mode not in {"000000", change.old_mode}:
            found.append(f"{path}: file mode changes are not allowed ({change.old_mode} -> {change.new_mode})")
        elif change.old_mode == "000000" and change.new_mode == "100755":
            found.append(f"{path}: new executable files are not allowed")
    return found
