"""The one rule for a bundle member's path, shared by the writer and the reader."""

from __future__ import annotations

from pathlib import PurePosixPath

from pathops_contracts.errors import ContractViolation


def check_member_path(name: str) -> PurePosixPath:
    """A member name must be relative, without '.'/'..' segments and without backslashes."""
    if not name or name.startswith("/") or "\\" in name or "\x00" in name:
        raise ContractViolation(f"bundle member {shown_name(name)} has an unsafe path")
    path = PurePosixPath(name)  # normalises away "." segments
    if ".." in path.parts:
        raise ContractViolation(f"bundle member {shown_name(name)} has an unsafe path")
    return path


def shown_name(name: str) -> str:
    """A member name for an error message: quoted, escaped, and cut (names reach 64 KiB before checks)."""
    return repr(name[:80]) + ("..." if len(name) > 80 else "")
