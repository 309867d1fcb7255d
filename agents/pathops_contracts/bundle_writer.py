"""Write bundles reproducibly: the same members give the same bytes, hence the same content-addressed id.

Sorted members, fixed owner, mode and mtime, and a gzip header without a timestamp.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pathops_contracts.bundle_paths import check_member_path

_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class FileSlice:
    """`length` bytes of the file `path` from `offset`: a member kept inside a larger file (a spool)."""

    path: Path
    offset: int
    length: int


Member = Path | bytes | FileSlice


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


def write_bundle(destination: Path, members: Mapping[str, Member], mtime: int = 0) -> str:
    """Write members (archive path -> file on disk, bytes, or a slice of a file) as a reproducible tar.gz.

    Returns the sha256 of the written file. Files are streamed from disk, never
    read whole into memory.
    """
    for name in members:
        check_member_path(name)
    # GzipFile with mtime=0 and no file name keeps the gzip header reproducible. Level 1: on a 43 MB
    # evidence snapshot (logs, JSON) it writes 3.6 MB in 0.20 s, level 3 3.5 MB in 0.35 s, level 6
    # 3.0 MB in 0.61 s; the bundle is written after the last request, on the run's critical path.
    with (
        destination.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=1) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for name in sorted(members):
            _add_member(archive, name, members[name], mtime)
    return sha256_file(destination)


def _add_member(archive: tarfile.TarFile, name: str, content: Member, mtime: int) -> None:
    info = tarfile.TarInfo(name)
    info.mtime = mtime
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if isinstance(content, bytes):
        info.size = len(content)
        archive.addfile(info, io.BytesIO(content))
        return
    if isinstance(content, FileSlice):
        info.size = content.length
        with content.path.open("rb") as handle:
            handle.seek(content.offset)
            archive.addfile(info, handle)  # reads exactly info.size bytes (and fails if the file is shorter)
        return
    info.size = content.stat().st_size
    with content.open("rb") as handle:
        archive.addfile(info, handle)
