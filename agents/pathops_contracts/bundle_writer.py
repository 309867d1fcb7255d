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

    ISA-L's output depends on where its input is cut, so how a member is compressed depends on its size
    alone, never on how it is held: up to _CHUNK bytes in one call (header, content and padding together),
    a larger one streamed in the same pieces (`_gzip_member`). One call each for the compression and the
    digest is what lets the collector's packer thread give the GIL back rarely: a call a piece made the
    event loop wait for it at each of its system calls (restarted benchmark: 70 ms less CPU a run).
    """
    check_member_name(name)
    size = len(content) if isinstance(content, bytes) else (
        content.length if isinstance(content, FileSlice) else content.stat().st_size)
    header = tar_header(name, size, mtime)
    padding = bytes(-size % tarfile.BLOCKSIZE)
    tar_size = len(header) + size + len(padding)
    if size <= _CHUNK:
        data = content if isinstance(content, bytes) else b"".join(_chunks(content, size))
        if len(data) != size:
            raise OSError(f"{name} changed size while it was bundled ({size} then {len(data)} bytes)")
        return PackedMember(hashlib.sha256(data).hexdigest(), size, tar_size,
                            isal_zlib.compress(b"".join((header, data, padding)), 1, 31))
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
    return PackedMember(digest.hexdigest(), size, tar_size, compressed)


def tar_header(name: str, size: int, mtime: int = 0) -> bytes:
    """A regular file's header as tarfile writes it in the PAX format: fixed mode, owner and mtime.

    A short ASCII name needs no PAX extended header, and then the PAX header is the USTAR one: laid out
    here field by field (`_ustar_header`, 2 µs where tarfile takes 20), the same bytes as tarfile's
    (`test_bundle_packing.py`). Any other name is tarfile's to write.
    """
    if name.isascii() and len(name) <= tarfile.LENGTH_NAME and 0 <= size < 8 ** 11 and 0 <= mtime < 8 ** 11:
        return _ustar_header(name.encode("ascii"), size, mtime)
    info = tarfile.TarInfo(name)
    info.mtime = mtime
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.size = size
    return info.tobuf(tarfile.PAX_FORMAT, tarfile.ENCODING, "surrogateescape")


# The USTAR fields around the name, size, mtime and checksum, as tarfile fills them for a regular file of
# mode 0644 and owner 0:0 without owner names: mode, uid, gid; then type, link name, magic and version,
# owner and group names, device numbers (empty for a regular file), name prefix, and the padding to 512.
_MODE_OWNER = b"0000644\0" + b"0000000\0" * 2
_AFTER_CHECKSUM = tarfile.REGTYPE + bytes(100) + tarfile.POSIX_MAGIC + bytes(32 + 32 + 8 + 8 + 155 + 12)
_CONSTANT_SUM = sum(_MODE_OWNER) + sum(_AFTER_CHECKSUM) + 8 * ord(" ")  # the checksum field counts as blanks


def _ustar_header(name: bytes, size: int, mtime: int) -> bytes:
    """tarfile's USTAR header block for an ASCII name of at most 100 bytes, size and mtime below 8**11."""
    numbers = b"%011o\0%011o\0" % (size, mtime)
    checksum = _CONSTANT_SUM + sum(name) + sum(numbers)
    return b"".join((name, bytes(100 - len(name)), _MODE_OWNER, numbers, b"%06o\0 " % checksum, _AFTER_CHECKSUM))


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
    so every member larger than _CHUNK is streamed in the same pieces whatever it is read from: its header,
    its content in blocks of _CHUNK bytes (`_chunks`), its padding (`pack_member` compresses a smaller one in
    one call). A member packs the same from bytes, a file or a slice.
    """
    compressor = isal_zlib.compressobj(1, isal_zlib.DEFLATED, 31)
    out = [compressor.compress(piece) for piece in pieces]
    out.append(compressor.flush())
    return b"".join(out)
