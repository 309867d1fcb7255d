"""The patch policy: what an automated change may touch.

Shared by the fix agent (before upload) and mr-creator (after `git am`, on every commit
of the mbox and on the net diff), because the merge-request side does not trust the agent
side. Pure functions over the changes that `git diff --raw --numstat` reports, and over
the CI configuration read through a callable.

Protected paths come in three layers:
- always: `ALWAYS_PROTECTED` (`.git/`, `.gitlab-ci.yml`, `.gitlab/`), whatever is configured;
- what the project's CI runs: its CI configuration file (the project's `ci_config_path`)
  and every file it `include:`s from this repository, also nested and from
  `trigger: include:` child pipelines, `remote:` URLs of this project's raw files and this
  project's `component:`s (`ci_protected_patterns`);
- the operator's list, default `DEFAULT_PROTECTED` (other CI systems, repository plumbing,
  code owners); mr-creator takes it from `--protected-path` / `MR_PROTECTED_PATHS`.
Patterns are globs on repository paths where `*` also crosses `/`.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pathops_contracts.errors import ContractViolation

MAX_PATCH_BYTES = 256 * 1024
MAX_FILES = 50

# CI definitions and repository plumbing: a change here could run code with CI credentials.
ALWAYS_PROTECTED = (".git/*", ".gitlab-ci.yml", ".gitlab/*")
DEFAULT_PROTECTED = (
    ".gitlab-ci/*",
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
PROTECTED_PATTERNS = ALWAYS_PROTECTED + DEFAULT_PROTECTED

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
    protected_paths: tuple[str, ...] = DEFAULT_PROTECTED  # the operator's list, on top of ALWAYS_PROTECTED


DEFAULT_LIMITS = PolicyLimits()


def violations(
    changes: Iterable[FileChange],
    patch_bytes: int,
    limits: PolicyLimits = DEFAULT_LIMITS,
    ci_paths: Iterable[str] = (),
) -> list[str]:
    """Every reason the change may not be proposed; empty when it may.

    `ci_paths` are the patterns of what the project's CI runs (see `ci_protected_patterns`).
    """
    found: list[str] = []
    ci_paths = tuple(ci_paths)
    protected = ALWAYS_PROTECTED + limits.protected_paths
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
        elif any(fnmatch.fnmatchcase(path, pattern) for pattern in protected):
            found.append(f"{path}: CI definitions and repository plumbing are off limits")
        elif any(fnmatch.fnmatchcase(path, pattern) for pattern in ci_paths):
            found.append(f"{path}: CI definitions are off limits (the project's CI configuration runs it)")
        if change.binary:
            found.append(f"{path}: binary changes are not allowed")
        if change.new_mode not in REGULAR_MODES or change.old_mode not in REGULAR_MODES:
            found.append(f"{path}: only regular files may change (mode {change.old_mode} -> {change.new_mode})")
        elif change.old_mode != "000000" and change.new_mode not in {"000000", change.old_mode}:
            found.append(f"{path}: file mode changes are not allowed ({change.old_mode} -> {change.new_mode})")
        elif change.old_mode == "000000" and change.new_mode == "100755":
            found.append(f"{path}: new executable files are not allowed")
    return found


# --- What the project's CI runs ------------------------------------------------------------

DEFAULT_CI_CONFIG = ".gitlab-ci.yml"
MAX_CI_FILES = 150  # GitLab's own limit of included files per pipeline
MAX_CI_FILE_BYTES = 1024 * 1024
_VARIABLE = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|\$\[\[[^\]]*\]\]")


def ci_config_file(ci_config_path: str | None) -> str | None:
    """The project's CI file in this repository (GitLab's `ci_config_path`), None if it lives elsewhere."""
    path = (ci_config_path or "").strip() or DEFAULT_CI_CONFIG
    if "@" in path or "://" in path:  # `file.yml@group/project` or a URL: not this repository
        return None
    return path.lstrip("/")


def ci_protected_patterns(
    ci_config_path: str | None,
    project_path: str,
    read_file: Callable[[str], bytes | None],
    list_files: Callable[[], list[str]],
) -> tuple[str, ...]:
    """Glob patterns of every file of this repository that the CI configuration runs.

    The configuration file itself, its local includes (string, `local:`, or `project:` naming
    this project), nested, and the includes of `trigger:` child pipelines. A path with
    variables becomes a glob (`$VAR` -> `*`). `read_file` gives a file's bytes at the base
    commit (None when it does not exist); `list_files` all paths there (to expand globs).
    A configuration that cannot be read is refused: what it would run is unknown.
    """
    config = ci_config_file(ci_config_path)
    if config is None:
        return ()
    patterns: list[str] = [config]
    queue, seen = [config], {config}
    files: list[str] | None = None
    while queue:
        current = queue.pop(0)
        data = read_file(current)
        if data is None:
            continue
        for pattern in _local_includes(current, data, project_path):
            if pattern not in patterns:
                patterns.append(pattern)
            if any(char in pattern for char in "*?["):
                files = list_files() if files is None else files
                targets = [path for path in files if fnmatch.fnmatchcase(path, pattern)]
            else:
                targets = [pattern]
            for target in targets:
                if target not in seen:
                    seen.add(target)
                    queue.append(target)
                    if len(seen) > MAX_CI_FILES:
                        raise ContractViolation(f"the CI configuration includes more than {MAX_CI_FILES} files")
    return tuple(patterns)


def _local_includes(name: str, data: bytes, project_path: str) -> list[str]:
    if len(data) > MAX_CI_FILE_BYTES:
        raise ContractViolation(f"CI file {name} is over {MAX_CI_FILE_BYTES} bytes; cannot tell what it runs")
    from ruamel.yaml import YAML  # imported where a CI file is read: most runs of a tool never read one
    from ruamel.yaml.error import YAMLError

    yaml = YAML(typ="rt")  # round-trip: keeps GitLab's own tags (!reference) instead of refusing them
    yaml.allow_duplicate_keys = True
    try:
        documents = [doc for doc in yaml.load_all(data.decode("utf-8")) if isinstance(doc, dict)]
    except (YAMLError, UnicodeDecodeError, RecursionError) as error:
        raise ContractViolation(f"CI file {name} cannot be parsed, so what it includes is unknown: "
                                f"{str(error).splitlines()[0] if str(error) else type(error).__name__}") from error
    found: list[str] = []
    for document in documents:
        found += _include_paths(document.get("include"), project_path)
        for job in document.values():
            trigger = job.get("trigger") if isinstance(job, dict) else None
            if isinstance(trigger, dict):
                found += _include_paths(trigger.get("include"), project_path)
    return found


def _include_paths(include: Any, project_path: str) -> list[str]:
    """Local paths of one `include:` value (a string, a mapping or a list of both)."""
    items = include if isinstance(include, list) else [include]
    paths: list[str] = []
    for item in items:
        if isinstance(item, str):
            paths += _own_raw_file(item, project_path) if "://" in item else [item]
        elif isinstance(item, dict):
            if isinstance(item.get("local"), str):
                paths.append(item["local"])
            if isinstance(item.get("remote"), str):
                paths += _own_raw_file(item["remote"], project_path)
            if isinstance(item.get("component"), str):
                paths += _own_component(item["component"], project_path)
            project = item.get("project")
            if isinstance(project, str) and project.strip("/").lower() == project_path.lower():
                files = item.get("file")
                paths += [f for f in (files if isinstance(files, list) else [files]) if isinstance(f, str)]
    return [pattern for path in paths for pattern in _as_patterns(path)]


def _own_raw_file(url: str, project_path: str) -> list[str]:
    """The files a `remote:` URL may name when it is this project's raw file (`/<project>/-/raw/<ref>/<file>`).

    The ref may hold `/`, so every split after it is protected: over-protection, never under."""
    match = re.match(r"\s*(?:[A-Za-z][\w+.-]*://[^/]*|\$\{?\w+\}?)/+(.*?)/+(?:-/+)?raw/+(.+?)/*(?:[?#].*)?$", url)
    if match is None or not _names_project(match[1], project_path):
        return []
    parts = [part for part in match[2].split("/") if part]
    return ["/".join(parts[i:]) for i in range(1, len(parts))]


def _names_project(path: str, project_path: str) -> bool:
    """This project, or a path built from a variable (`$CI_PROJECT_PATH`), which may be this project."""
    return "$" in path or path.strip("/").lower() == project_path.strip("/").lower()


def _own_component(component: str, project_path: str) -> list[str]:
    """The files of a CI/CD component (`<host>/<project>/<name>@<version>`) kept in this project."""
    address = component.split("@", 1)[0].strip().strip("/")
    owner, _, name = address.rpartition("/")
    host_and_project = owner.split("/", 1)
    if len(host_and_project) != 2 or not _names_project(host_and_project[1], project_path):
        return []
    return [f"templates/{name}.yml", f"templates/{name}/template.yml"]


def _as_patterns(path: str) -> list[str]:
    """`$VAR` -> `*`; a leading variable may also stand for nothing (`$CI_PROJECT_DIR/ci.yml`)."""
    pattern = _VARIABLE.sub("*", path.strip()).lstrip("/") or "*"
    # `./ci/x.yml` and `ci/../ci/x.yml` name ci/x.yml: the pattern must match the path a diff shows.
    normalized = posixpath.normpath(pattern)
    pattern = normalized if normalized not in {".", ".."} and not normalized.startswith("../") else pattern
    patterns = [pattern]
    while pattern.startswith("*/"):
        pattern = pattern[2:].lstrip("/")
        patterns.append(pattern)
    return patterns
