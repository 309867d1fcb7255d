"""Where a verification spec may be read from: one file inside one allowed root, and schema-valid.

The spec's text is copied into a ConfigMap that is pushed to the GitOps repository, so a path
that leaves the root (`..`, an absolute path, a symlink pointing out) would publish any file
the Jenkins agent can read. The path is resolved, symlinks included, and must stay inside.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from pathops_contracts.errors import InvalidInput
from pathops_contracts.verification_spec import MAX_SPEC_BYTES, parse_spec


def _relative(spec: str) -> PurePosixPath:
    path = PurePosixPath(spec)
    if not spec or "\0" in spec or "\\" in spec:
        raise InvalidInput("verification spec path must be a non-empty relative path")
    if path.is_absolute():
        raise InvalidInput(f"verification spec {spec!r} must be relative to VERIFICATION_SPEC_ROOT, not absolute")
    if ".." in path.parts:
        raise InvalidInput(f"verification spec {spec!r} must not contain '..'")
    return path


def read_verification_spec(root: Path, spec: str) -> str:
    """The text of the spec at `spec` below `root`, once it is known to be inside root and schema-valid."""
    relative = _relative(spec)
    try:
        base = root.resolve(strict=True)
    except OSError as error:
        raise InvalidInput(f"VERIFICATION_SPEC_ROOT {str(root)!r} does not exist") from error
    if not base.is_dir():
        raise InvalidInput(f"VERIFICATION_SPEC_ROOT {str(root)!r} is not a directory")
    try:
        target = (base / relative).resolve(strict=True)
    except OSError as error:
        raise InvalidInput(f"verification spec {spec!r} does not exist under VERIFICATION_SPEC_ROOT") from error
    if not target.is_relative_to(base):
        raise InvalidInput(f"verification spec {spec!r} resolves outside VERIFICATION_SPEC_ROOT")
    if not target.is_file():
        raise InvalidInput(f"verification spec {spec!r} is not a regular file")
    try:
        with target.open("rb") as handle:
            raw = handle.read(MAX_SPEC_BYTES + 1)
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput(f"verification spec {spec!r} is unreadable: {type(error).__name__}") from error
    parse_spec(text, repr(spec))
    return text
