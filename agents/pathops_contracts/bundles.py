"""Bundles are tar.gz files: written reproducibly, read defensively. The API every tool imports.

Writing (`bundle_writer`) is deterministic (sorted members, fixed owner, mode and mtime, gzip
header without a timestamp) so the same content gives the same bytes, hence the same
content-addressed artifact id.

Reading never hands a crafted archive to `tarfile`: `capped_tar` parses the decompressed
stream's 512-byte headers one member at a time, and every size is checked against
`ExtractionLimits` before anything of that size is read. So a bundle is accepted or
refused in bounded time and memory whatever its headers claim (a 1 GiB PAX header, a
petabyte file size, sparse maps), its entry count, nesting depth or compression ratio.
Refused: absolute paths, '..', links, devices, duplicate names and a name used both as a
file and as a directory (`bundle_paths`, and the extraction here). JSON members are read
with caps of their own (`bundle_json`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Collection
from pathlib import Path

from pathops_contracts.bundle_json import MAX_JSON_DEPTH, read_json_document
from pathops_contracts.bundle_paths import check_member_path, shown_name
from pathops_contracts.bundle_writer import (
    FileSlice,
    Member,
    PackedMember,
    pack_member,
    sha256_bytes,
    sha256_file,
    write_bundle,
)
from pathops_contracts.capped_tar import DEFAULT_LIMITS, BundleMember, ExtractionLimits, TarStream, open_tar_stream
from pathops_contracts.errors import ContractViolation

__all__ = [
    "MAX_JSON_DEPTH", "BundleMember", "ExtractionLimits", "FileSlice", "Member", "PackedMember", "check_member_path",
    "extract_bundle", "pack_member", "read_json_document", "read_member", "read_members", "sha256_bytes",
    "sha256_file", "write_bundle",
]


def extract_bundle(source: Path, scratch: Path, limits: ExtractionLimits = DEFAULT_LIMITS) -> list[str]:
    """Extract the regular files of source into scratch, checking every member as it streams by.

    Members land in a private directory beside scratch that becomes scratch only once the whole
    archive passed, so a refused archive leaves nothing behind. scratch must be absent or empty.
    Returns the extracted member names.
    """
    scratch.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=scratch.parent))
    try:
        with open_tar_stream(source, limits) as tar:
            writer = _MemberWriter(tar, staging)
            names = [member.name for member in tar.members() if writer.write(member)]
        if scratch.exists():
            scratch.rmdir()
        staging.rename(scratch)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return names


class _MemberWriter:
    """Creates members under root, never following or replacing anything."""

    def __init__(self, tar: TarStream, root: Path) -> None:
        self._tar = tar
        self._root = root
        self._last_parent = root  # members of one folder come together: one mkdir for them all

    def write(self, member: BundleMember) -> bool:
        """Create one member; True for a file. Directory entries become directories."""
        target = self._root.joinpath(*member.parts)
        try:
            if member.is_dir:
                target.mkdir(parents=True, exist_ok=True)
                return False
            if target.parent != self._last_parent:
                target.parent.mkdir(parents=True, exist_ok=True)
                self._last_parent = target.parent
            descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except (FileExistsError, NotADirectoryError, IsADirectoryError) as error:
            # The file system is the index of names: a duplicate or a file/directory clash fails here.
            raise ContractViolation(
                f"bundle member {shown_name(member.name)} appears twice, or both as a file and as a directory"
            ) from error
        with os.fdopen(descriptor, "wb") as handle:
            for chunk in self._tar.chunks():
                handle.write(chunk)
        return True


def read_member(source: Path, name: str, max_bytes: int = 16 * 1024 * 1024,
                limits: ExtractionLimits = DEFAULT_LIMITS) -> bytes:
    """Read one regular file of a bundle without extracting the rest."""
    wanted = check_member_path(name).parts
    with open_tar_stream(source, limits) as tar:
        for member in tar.members():
            if member.parts == wanted and not member.is_dir:
                if member.size > max_bytes:
                    raise ContractViolation(f"bundle member {name!r} is not a regular file under {max_bytes} bytes")
                return b"".join(tar.chunks())
    raise ContractViolation(f"bundle {source.name} has no {name}")


def read_members(source: Path, names: Collection[str], max_bytes: int = 16 * 1024 * 1024,
                 limits: ExtractionLimits = DEFAULT_LIMITS) -> dict[str, bytes]:
    """Read several regular files of a bundle in one pass, stopping once all are read; a name the
    bundle lacks is absent from the result (read_member's checks, one decompression instead of one each)."""
    wanted = {check_member_path(name).parts: name for name in names}
    found: dict[str, bytes] = {}
    with open_tar_stream(source, limits) as tar:
        for member in tar.members():
            name = wanted.get(member.parts)
            if name is None or member.is_dir or name in found:
                continue
            if member.size > max_bytes:
                raise ContractViolation(f"bundle member {name!r} is not a regular file under {max_bytes} bytes")
            found[name] = b"".join(tar.chunks())
            if len(found) == len(wanted):
                break
    return found
