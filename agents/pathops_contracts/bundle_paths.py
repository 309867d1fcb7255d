"""The one rule for a bundle member's path, shared by the writer and the reader."""

from __future__ import annotations

from pathlib import PurePosixPath

from pathops_contracts.errors import ContractViolation


def check_member_name(name: str) -> None:
    """A member name must be relative, without '..' segments, backslashes or NULs ('.' segments and
    doubled slashes are normalised away where the name is read as a path: `check_member_path`).

    String tests only: a writer checks every member of a bundle (two thousand in a namespace's snapshot),
    and a PurePosixPath costs ten times these."""
    if not name or name.startswith("/") or "\\" in name or "\x00" in name or ".." in name.split("/"):
        raise ContractViolation(f"bundle member {shown_name(name)} has an unsafe path")


def check_member_path(name: str) -> PurePosixPath:
    """`check_member_name`'s rule; the name as a path (normalised: no '.' segments, no doubled slashes)."""
    check_member_name(name)
    return PurePosixPath(name)


def shown_name(name: str) -> str:
    """A member name for an error message: quoted, escaped, and cut (names reach 64 KiB before checks)."""
    return repr(name[:80]) + ("..." if len(name) > 80 else "")
