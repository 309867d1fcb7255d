"""Write bundles reproducibly: the same members give the same bytes, hence the same content-addressed id.

Sorted members, fixed owner, mode and mtime, PAX headers. Each member is compressed as a gzip
member of its own (a gzip file may hold several, RFC 1952; every gzip and tar reader reads them
as one stream), which is what lets a writer compress members as they are made, in any order and
on another core (`pack_member`), and still give the same bytes: the stream is the sorted members'
tar bytes, then the end-of-archive blocks, exactly as tarfile writes them.
"""

from __future__ import annotations

import hashlib
import tarfile
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from isal import isal_zlib

from pathops_contracts.bundle_paths import check_member_name

_CHUNK = 1024 * 1024
_WRITE_BATCH = 1024 * 1024  # bytes of packed members written and hashed at once


@dataclass(frozen=True)
class FileSlice:
    """`length` bytes of the file `path` from `offset`: a member kept inside a larger file (a spool)."""

    path: Path
    offset: int
    length: int


Member = Path | bytes | FileSlice


@dataclass(frozen=True)
class PackedMember:
    """A member as its tar bytes (header, content, padding), compressed as a gzip member of its own."""

    sha256: str  # of the content
    size: int  # of the content
    tar_size: int  # bytes of tar it stands for
    gzip: bytes


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


def write_bundle(destination: Path, members: Mapping[str, Member], mtime: int = 0,
                 packed: Mapping[str, PackedMember] | None = None) -> str:
    """Write members (archive path -> file on disk, bytes, or a slice of a file) as a reproducible tar.gz.

    `packed`: members already packed (`pack_member`, same mtime) for exactly the content `members` names;
    the others are packed here, streamed from disk (never read whole into memory). Returns the sha256
    of the written file.
    """
    for name in members:
        check_member_name(name)
    packed = packed or {}
    offset = 0
    digest = hashlib.sha256()  # of the bytes as they are written: the file is not read back
    batch: list[bytes] = []
    batched = 0
    # Members are written and hashed about a megabyte at a time: a write and an update per member
    # (1,817 of 3 KB in the restarted benchmark) took 15-18 ms, batches 10. The hash is computed on a
    # thread of its own (hashlib lets go of the GIL), in order, while the batch is written: 7 ms. One batch
    # at most waits to be hashed: a slow hash holds up the writes, never more of the bundle in memory.
    with destination.open("wb") as raw, ThreadPoolExecutor(max_workers=1, thread_name_prefix="bundle-hash") as hasher:
        hashing: list[Future[None]] = []  # the batch being hashed, if any

        def flush() -> None:
            nonlocal batched
            data = b"".join(batch)
            batch.clear()
            batched = 0
            for update in hashing:
                update.result()
            hashing[:] = [hasher.submit(digest.update, data)]
            raw.write(data)

        for name in sorted(members):
            member = packed.get(name) or pack_member(name, members[name], mtime)
            batch.append(member.gzip)
            batched += len(member.gzip)
            offset += member.tar_size
            if batched >= _WRITE_BATCH:
                flush()
        # The end of the archive as tarfile writes it: two zero blocks, then zeros to a whole record.
        end = 2 * tarfile.BLOCKSIZE
        end += -(offset + end) % tarfile.RECORDSIZE
        batch.append(_gzip_member(iter([bytes(end)])))
        flush()
        for update in hashing:
            update.result()
    return digest.hexdigest()


def pack_member(name: str, content: Member, mtime: int = 0) -> PackedMember:
    """The member's tar bytes, compressed as one gzip member by ISA-L (`isal`), level 1: on the 43 MB of
    the restarted benchmark's snapshot, in 30 KB members, 45 ms and 5.3 MB, where zlib's level 1 took
    166 ms for 5.9 MB (and its level 6 three times that). Any gzip reader reads it. With zlib, the
    collector's packer thread fell 16 MB behind the logs, and the snapshot waited for it at the end.
    Setting up a compressor costs ISA-L about 1 µs: every member is streamed (`_gzip_member`).
    """
    check_member_name(name)
    size = len(content) if isinstance(content, bytes) else (
        content.length if isinstance(content, FileSlice) else content.stat().st_size)
    header = tar_header(name, size, mtime)
    padding = bytes(-size % tarfile.BLOCKSIZE)
    digest = hashlib.sha256()
    read = 0

    def pieces() -> Iterator[bytes | memoryview]:
        nonlocal read
        yield header
        for chunk in _chunks(content, size):
            digest.update(chunk)
            read += len(chunk)
            yield chunk
        if read != size:
            raise OSError(f"{name} changed size while it was bundled ({size} then {read} bytes)")
        yield padding

    compressed = _gzip_member(pieces())
    return PackedMember(digest.hexdigest(), size, len(header) + size + len(padding), compressed)


def tar_header(name: str, size: int, mtime: int = 0) -> bytes:
    """A regular file's header as tarfile writes it in the PAX format: fixed mode, owner and mtime.

    A short ASCII name needs no PAX extended header, and then the PAX header is the USTAR one, which
    tarfile builds in half the time (the same bytes: `test_bundle_packing.py`).
    """
    info = tarfile.TarInfo(name)
    info.mtime = mtime
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.size = size
    plain = name.isascii() and len(name) <= tarfile.LENGTH_NAME and 0 <= size < 8 ** 11 and 0 <= mtime < 8 ** 11
    return info.tobuf(tarfile.USTAR_FORMAT if plain else tarfile.PAX_FORMAT, tarfile.ENCODING, "surrogateescape")


def _chunks(content: Member, size: int) -> Iterator[bytes | memoryview]:
    """The content in blocks of _CHUNK bytes (the last one shorter), however it is held."""
    if isinstance(content, bytes):
        view = memoryview(content)
        yield from (view[start:start + _CHUNK] for start in range(0, size, _CHUNK))
        return
    path, offset = (content.path, content.offset) if isinstance(content, FileSlice) else (content, 0)
    with path.open("rb") as handle:
        handle.seek(offset)
        left = size
        while left > 0:
            chunk = handle.read(min(_CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


def _gzip_member(pieces: Iterator[bytes | memoryview]) -> bytes:
    """One gzip member: the gzip wrapper writes no file name and a zero mtime, so the bytes are reproducible.

    ISA-L's output depends on where its input is cut (its one-shot `compress` too differs from a stream),
    so every member is streamed in the same pieces whatever it is read from: its header, its content in
    blocks of _CHUNK bytes (`_chunks`), its padding. A member packs the same from bytes, a file or a slice.
    """
    compressor = isal_zlib.compressobj(1, isal_zlib.DEFLATED, 31)
    out = [compressor.compress(piece) for piece in pieces]
    out.append(compressor.flush())
    return b"".join(out)
