"""Bundles are tar.gz files: written reproducibly, read defensively.

Writing is deterministic (sorted members, fixed owner, mode and mtime, gzip header
without a timestamp) so the same content gives the same bytes, hence the same
content-addressed artifact id. Reading refuses anything that could write outside the
scratch directory: absolute paths, '..', links, devices, and oversize archives.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pathops_contracts.errors import ContractViolation

_CHUNK = 1024 * 1024

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
DEFAULT_MAX_FILES = 20_000


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def check_member_path(name: str) -> PurePosixPath:
    """A member name must be relative, without '.'/'..' segments and without backslashes."""
    if not name or name.startswith("/") or "\\" in name or "\x00" in name:
        raise ContractViolation(f"bundle member {name!r} has an unsafe path")
    path = PurePosixPath(name)  # normalises away "." segments
    if ".." in path.parts:
        raise ContractViolation(f"bundle member {name!r} has an unsafe path")
    return path


def write_bundle(destination: Path, members: Mapping[str, Path | bytes], mtime: int = 0) -> str:
    """Write members (archive path -> file on disk or bytes) as a reproducible tar.gz.

    Returns the sha256 of the written file. Files are streamed from disk, never
    read whole into memory.
    """
    for name in members:
        check_member_path(name)
    # GzipFile with mtime=0 and no file name keeps the gzip header reproducible. Level 3: on logs it
    # compresses within 10% of level 6 in less than half the time.
    with (
        destination.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=3) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for name in sorted(members):
            _add_member(archive, name, members[name], mtime)
    return sha256_file(destination)


def _add_member(archive: tarfile.TarFile, name: str, content: Path | bytes, mtime: int) -> None:
    info = tarfile.TarInfo(name)
    info.mtime = mtime
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if isinstance(content, bytes):
        info.size = len(content)
        archive.addfile(info, io.BytesIO(content))
        return
    info.size = content.stat().st_size
    with content.open("rb") as handle:
        archive.addfile(info, handle)


@dataclass(frozen=True)
class ExtractionLimits:
    """Caps that a crafted archive cannot exceed."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_files: int = DEFAULT_MAX_FILES


def _checked_members(archive: tarfile.TarFile, limits: ExtractionLimits) -> Iterator[tarfile.TarInfo]:
    total = 0
    count = 0
    for member in archive:
        check_member_path(member.name)
        if member.isdir():
            continue
        if not member.isfile():
            kind = "link" if (member.issym() or member.islnk()) else "special file"
            raise ContractViolation(f"bundle member {member.name!r} is a {kind}; only regular files are allowed")
        count += 1
        total += member.size
        if count > limits.max_files:
            raise ContractViolation(f"bundle holds more than {limits.max_files} files")
        if total > limits.max_bytes:
            raise ContractViolation(f"bundle unpacks to more than {limits.max_bytes} bytes")
        yield member


def extract_bundle(source: Path, scratch: Path, limits: ExtractionLimits = ExtractionLimits()) -> list[str]:
    """Extract regular files of source into scratch after checking every member.

    Every member is checked before anything is written, so a refused archive leaves
    scratch untouched. Returns the extracted member names.
    """
    try:
        with tarfile.open(source, mode="r:gz") as archive:
            members = list(_checked_members(archive, limits))
            scratch.mkdir(parents=True, exist_ok=True)
            # The 'data' filter is a second guard behind our own checks.
            archive.extractall(scratch, members=members, filter="data")
    except (tarfile.TarError, EOFError, gzip.BadGzipFile) as error:
        raise ContractViolation(f"bundle {source.name} is not a readable tar.gz: {error}") from error
    return [member.name for member in members]


def read_member(source: Path, name: str, max_bytes: int = 16 * 1024 * 1024) -> bytes:
    """Read one regular file of a bundle without extracting the rest."""
    try:
        with tarfile.open(source, mode="r:gz") as archive:
            member = archive.getmember(name)
            if not member.isfile() or member.size > max_bytes:
                raise ContractViolation(f"bundle member {name!r} is not a regular file under {max_bytes} bytes")
            handle = archive.extractfile(member)
            assert handle is not None  # a regular file always has a stream
            return handle.read()
    except KeyError as error:
        raise ContractViolation(f"bundle {source.name} has no {name}") from error
    except (tarfile.TarError, EOFError, gzip.BadGzipFile) as error:
        raise ContractViolation(f"bundle {source.name} is not a readable tar.gz: {error}") from error
