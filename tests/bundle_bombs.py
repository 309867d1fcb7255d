"""Crafted bundles ("bombs") written byte by byte, as an attacker would, without tarfile's own checks.

Huge repeated content is cheap to make: a gzip file may hold many members one after the
other, so 16 MiB of one byte is compressed once and its compressed form repeated.
Used by the tests of the bundle reader, of mr-creator and fix-agent, and by
`benchmarks/bundle_bombs.py`.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

GIB = 1024 * 1024 * 1024
_REPEAT_UNIT = 16 * 1024 * 1024


def tar_header(name: str, kind: bytes = b"0", size: int = 0) -> bytes:
    """One 512-byte ustar header with a valid checksum; sizes past the octal field use base-256."""
    block = bytearray(512)
    encoded = name.encode()
    block[0:len(encoded[:100])] = encoded[:100]
    block[100:108] = b"0000644\x00"
    block[108:116] = block[116:124] = b"0000000\x00"
    if size < 8**11:
        block[124:136] = b"%011o\x00" % size
    else:
        block[124:136] = b"\x80" + size.to_bytes(11, "big")
    block[136:148] = b"00000000000\x00"
    block[156:157] = kind
    block[257:265] = b"ustar\x0000"
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\x00 " % sum(block)
    return bytes(block)


def pax_record(key: str, value: str) -> bytes:
    body = f" {key}={value}\n".encode()
    length = len(body) + 1
    while len(str(length)) + len(body) != length:
        length += 1
    return str(length).encode() + body


def padding(size: int) -> bytes:
    return bytes(-size % 512)


class GzipTar:
    """Writes a gzip file of raw tar blocks; `repeat` adds gigabytes for the cost of kilobytes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle = path.open("wb")
        self._pending = io.BytesIO()

    def write(self, data: bytes) -> None:
        self._pending.write(data)

    def repeat(self, byte: bytes, count: int) -> None:
        self._flush()
        unit = gzip.compress(byte * _REPEAT_UNIT, compresslevel=9, mtime=0)
        whole, rest = divmod(count, _REPEAT_UNIT)
        for _ in range(whole):
            self._handle.write(unit)
        self.write(byte * rest)

    def _flush(self) -> None:
        if self._pending.tell():
            self._handle.write(gzip.compress(self._pending.getvalue(), compresslevel=6, mtime=0))
            self._pending = io.BytesIO()

    def close(self) -> Path:
        self.write(bytes(1024))  # end-of-archive marker
        self._flush()
        self._handle.close()
        return self.path


def small_file(tar: GzipTar, name: str, data: bytes) -> None:
    tar.write(tar_header(name, b"0", len(data)) + data + padding(len(data)))


def pax_header_bomb(path: Path, size: int = GIB) -> Path:
    """A PAX extended header of `size` bytes (one valid comment record), then a small member."""
    tar = GzipTar(path)
    prefix = f"{size} comment=".encode()
    tar.write(tar_header("PaxHeaders/metadata.json", b"x", size) + prefix)
    tar.repeat(b"a", size - len(prefix) - 1)
    tar.write(b"\n" + padding(size))
    small_file(tar, "metadata.json", b"{}")
    return tar.close()


def pax_stuck_record_bomb(path: Path) -> Path:
    """A PAX header whose second record has no length: a parser that reads it as length 0 never advances."""
    data = pax_record("comment", "c") + b"a" * 30 + b"\n"
    tar = GzipTar(path)
    tar.write(tar_header("PaxHeaders/metadata.json", b"x", len(data)) + data + padding(len(data)))
    small_file(tar, "metadata.json", b"{}")
    return tar.close()


def gnu_long_name_bomb(path: Path, size: int = GIB) -> Path:
    """A GNU long-name header ('L') of `size` bytes."""
    tar = GzipTar(path)
    tar.write(tar_header("././@LongLink", b"L", size))
    tar.repeat(b"n", size)
    tar.write(padding(size))
    small_file(tar, "metadata.json", b"{}")
    return tar.close()


def huge_size_bomb(path: Path, size: int = 2**80) -> Path:
    """A member whose base-256 size field claims more bytes than exist anywhere."""
    tar = GzipTar(path)
    tar.write(tar_header("patch.mbox", b"0", size) + bytes(512))
    return tar.close()


def sparse_bomb(path: Path) -> Path:
    """A PAX 1.0 sparse file: a small map that claims a terabyte of holes."""
    tar = GzipTar(path)
    records = pax_record("GNU.sparse.major", "1") + pax_record("GNU.sparse.minor", "0") + \
        pax_record("GNU.sparse.name", "patch.mbox") + pax_record("GNU.sparse.realsize", str(2**40))
    tar.write(tar_header("GNUSparseFile.0/patch.mbox", b"x", len(records)) + records + padding(len(records)))
    small_file(tar, "GNUSparseFile.0/patch.mbox", b"1\n0\n0\n")
    return tar.close()


def entries_bomb(path: Path, count: int = 200_000, kind: bytes = b"5") -> Path:
    """`count` entries (directories, or empty files with kind b"0"), each a header of its own."""
    template = tar_header("d0000000/" if kind == b"5" else "f0000000.", kind)
    base = sum(template) - sum(template[148:156]) + 8 * 32 - sum(template[0:9])
    tar = GzipTar(path)
    for number in range(count):  # only name and checksum change: build those two fields alone
        name = (b"d%07d/" if kind == b"5" else b"f%07d.") % number
        tar.write(name + template[9:148] + b"%06o\x00 " % (base + sum(name)) + template[156:])
    return tar.close()


def ratio_bomb(path: Path, size: int = GIB) -> Path:
    """One file of `size` zero bytes: about a thousandth of that on disk."""
    tar = GzipTar(path)
    tar.write(tar_header("patch.mbox", b"0", size))
    tar.repeat(b"\x00", size)
    tar.write(padding(size))
    return tar.close()


def deep_directories_bomb(path: Path, depth: int = 2000) -> Path:
    """Directories nested `depth` deep (names through PAX path records), a file at the bottom."""
    tar = GzipTar(path)
    for level in range(1, depth + 2):
        name = "/".join(["d"] * level) if level <= depth else "/".join(["d"] * depth) + "/metadata.json"
        records = pax_record("path", name)
        kind, data = (b"5", b"") if level <= depth else (b"0", b"{}")
        tar.write(tar_header("PaxHeaders/d", b"x", len(records)) + records + padding(len(records)))
        tar.write(tar_header(name[:100], kind, len(data)) + data + padding(len(data)))
    return tar.close()


def _tarfile_bundle(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def file_and_directory(path: Path) -> Path:
    """`patch.mbox` as a file and as the directory of `patch.mbox/x`."""
    return _tarfile_bundle(path, [("metadata.json", b"{}"), ("patch.mbox", b"From x\n"),
                                  ("patch.mbox/x", b"owned\n")])


def duplicate_names(path: Path) -> Path:
    """Two members named `metadata.json`: which one a reader keeps must not matter, so neither is kept."""
    return _tarfile_bundle(path, [("metadata.json", b"{}"), ("patch.mbox", b"From x\n"),
                                  ("metadata.json", json.dumps({"status": "patch"}).encode())])


def deep_json(depth: int = 100_000) -> bytes:
    return b"[" * depth + b"]" * depth


def corrupt_deflate(path: Path) -> Path:
    """A gzip header followed by a deflate block of the reserved type 3 (zlib: "invalid block type")."""
    path.write_bytes(gzip.compress(b"", mtime=0)[:10] + b"\x07" + bytes(64))
    return path


# Bombs that no bundle reader may accept, whatever the bundle kind, with the words of their refusal.
HEADER_BOMBS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "pax-header-1GiB": (pax_header_bomb, "extended header of 1073741824 bytes"),
    "pax-record-without-length": (pax_stuck_record_bomb, "malformed PAX extended header"),
    "gnu-long-name-1GiB": (gnu_long_name_bomb, "extended header of 1073741824 bytes"),
    "huge-size-field": (huge_size_bomb, "unpacks to more than"),
    "sparse": (sparse_bomb, "sparse"),
    "200k-directories": (entries_bomb, "directories"),
    "200k-files": (lambda path: entries_bomb(path, kind=b"0"), "files"),
    "gzip-ratio-1GiB": (ratio_bomb, "unpacks to more than"),
    "deep-directories": (deep_directories_bomb, "levels deep"),
    "corrupt-deflate": (corrupt_deflate, "not a readable tar.gz"),
    "file-and-directory": (file_and_directory, "both as a file and as a directory"),
    "duplicate-names": (duplicate_names, "appears twice"),
}
