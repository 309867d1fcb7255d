"""Read a tar stream member by member without `tarfile`, every size checked against caps before it is read.

The decompressed stream's 512-byte headers are parsed here, one member at a time, so a bundle is
accepted or refused in bounded time and memory whatever its headers claim (a 1 GiB PAX header, a
petabyte file size, sparse maps), its entry count or nesting depth. Refused: absolute paths, '..',
links, devices and the other special types.
"""

from __future__ import annotations

import gzip
import io
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pathops_contracts.bundle_paths import check_member_path, shown_name
from pathops_contracts.errors import ContractViolation

_CHUNK = 1024 * 1024

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
DEFAULT_MAX_FILES = 4_000
DEFAULT_MAX_DIRECTORIES = 512


@dataclass(frozen=True)
class ExtractionLimits:
    """Caps that a crafted archive cannot exceed; each is checked before the bytes it bounds are read."""

    max_bytes: int = DEFAULT_MAX_BYTES  # sum of the regular files' sizes
    max_files: int = DEFAULT_MAX_FILES  # regular files (each costs a file created, then removed)
    max_directories: int = DEFAULT_MAX_DIRECTORIES  # directory entries (write_bundle writes none)
    max_depth: int = 16  # segments of one member path
    max_name_bytes: int = 1024  # one member path, UTF-8
    max_header_bytes: int = 64 * 1024  # one PAX extended header or GNU long name

    @property
    def max_archive_bytes(self) -> int:
        """The largest compressed file worth downloading: incompressible content plus generous headers."""
        return self.max_bytes + self.max_bytes // 64 + (self.max_files + self.max_directories) * 2048 + 1024 * 1024


DEFAULT_LIMITS = ExtractionLimits()


@dataclass(frozen=True)
class BundleMember:
    """A member that passed every check: a regular file or a directory, by its normalised path."""

    name: str
    parts: tuple[str, ...]
    is_dir: bool
    size: int


_BLOCK = 512
_ZERO_BLOCK = bytes(_BLOCK)
_POSIX_MAGIC = b"ustar\x0000"
_REGULAR = {b"0", b"\x00", b"7"}  # 7 (contiguous file) is a regular file to every reader
_DIRECTORY = b"5"
_PAX_HEADER = b"x"
_GNU_LONG_NAME = b"L"
_REFUSED_TYPES = {
    b"1": "hard link", b"2": "symlink", b"3": "character device", b"4": "block device", b"6": "FIFO",
    b"K": "GNU long link name", b"S": "GNU sparse file", b"g": "global PAX header",
}
_HEADER_FIELDS = struct.Struct("148B8x356B")
_SIGNED_HEADER_FIELDS = struct.Struct("148b8x356b")


def _padding(size: int) -> int:
    return -size % _BLOCK


def _header_number(field: bytes, what: str) -> int:
    """A numeric header field: NUL/space-terminated octal, or GNU base-256 (which can claim any size)."""
    if field[0] & 0x80:
        if field[0] != 0x80:
            raise ContractViolation(f"tar header has a negative {what}")
        return int.from_bytes(field[1:], "big")
    digits = field.split(b"\x00", 1)[0].strip(b" ")
    if not digits:
        return 0
    if digits.strip(b"01234567"):
        raise ContractViolation(f"tar header has a malformed {what}")
    return int(digits, 8)


def _check_checksum(block: bytes) -> None:
    stored = _header_number(block[148:156], "checksum")
    unsigned = 256 + sum(_HEADER_FIELDS.unpack(block))  # the checksum field counts as 8 spaces
    if stored != unsigned and stored != 256 + sum(_SIGNED_HEADER_FIELDS.unpack(block)):
        raise ContractViolation("tar header checksum mismatch")


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ContractViolation(f"tar {what} is not UTF-8") from error


def _pax_records(data: bytes) -> dict[str, str]:
    """The `LENGTH KEY=VALUE\\n` records of a PAX extended header (POSIX.1-2001)."""
    records: dict[str, str] = {}
    position = 0
    while position < len(data):
        if data[position] == 0 and not data[position:].strip(b"\x00"):
            break  # NUL padding after the last record
        space = data.find(b" ", position, position + 21)
        length = int(data[position:space]) if space > position and data[position:space].isdigit() else 0
        end = position + length
        # No length (no space): refused, else a record read as length 0 would never advance.
        if space <= position or length <= space - position + 2 or end > len(data) or data[end - 1] != 0x0A:
            raise ContractViolation("malformed PAX extended header")
        key, separator, value = data[space + 1:end - 1].partition(b"=")
        if not separator or not key:
            raise ContractViolation("malformed PAX extended header")
        records[_text(key, "PAX key")] = _text(value, "PAX value")
        position = end
    return records


class TarStream:
    """The members of an uncompressed tar stream, parsed with caps so nothing unbounded is ever read."""

    def __init__(self, stream: io.BufferedIOBase, limits: ExtractionLimits) -> None:
        self._stream = stream
        self._limits = limits
        self._unread = 0  # data and padding of the current member still in the stream
        self._data_left = 0  # data of the current member not yet handed out
        self._directories = 0
        self._files = 0
        self._bytes = 0

    def _read_exact(self, size: int) -> bytes:
        data = self._stream.read(size)
        if len(data) != size:
            raise ContractViolation("the tar stream is truncated")
        return data

    def _skip(self, size: int) -> None:
        while size:
            size -= len(self._read_exact(min(size, _CHUNK)))

    def members(self) -> Iterator[BundleMember]:
        """Each member in archive order; the data of one not read by `chunks` is skipped."""
        while True:
            self._skip(self._unread)
            member = self._next_member()
            if member is None:
                return
            self._data_left = member.size
            self._unread = member.size + _padding(member.size)
            yield member

    def chunks(self) -> Iterator[bytes]:
        """The data of the current member, in chunks of at most 1 MiB."""
        while self._data_left:
            chunk = self._read_exact(min(self._data_left, _CHUNK))
            self._data_left -= len(chunk)
            self._unread -= len(chunk)
            yield chunk

    def _next_member(self) -> BundleMember | None:
        pax: dict[str, str] = {}
        long_name: str | None = None
        extended = 0
        while True:
            block = self._stream.read(_BLOCK)
            if block == _ZERO_BLOCK:  # end-of-archive marker
                if extended:
                    raise ContractViolation("tar extended header is not followed by a member")
                return None
            if len(block) != _BLOCK:
                raise ContractViolation("the tar stream is truncated (no end-of-archive marker)")
            _check_checksum(block)
            kind = block[156:157]
            size = _header_number(block[124:136], "size")
            if kind not in (_PAX_HEADER, _GNU_LONG_NAME):
                return self._member(block, kind, size, pax, long_name)
            extended += 1
            if extended > 2:
                raise ContractViolation("more than two extended headers precede one tar member")
            if size > self._limits.max_header_bytes:
                # The check that keeps tarfile's whole-header read (1 GiB PAX header -> 3 GB RSS) away.
                raise ContractViolation(
                    f"tar extended header of {size} bytes; at most {self._limits.max_header_bytes} allowed"
                )
            data = self._read_exact(size)
            self._skip(_padding(size))
            if kind == _PAX_HEADER:
                pax.update(_pax_records(data))
            else:
                long_name = _text(data.split(b"\x00", 1)[0], "member name")

    def _member(self, block: bytes, kind: bytes, size: int, pax: dict[str, str], long_name: str | None
                ) -> BundleMember:
        limits = self._limits
        name = pax.get("path") or long_name or self._ustar_name(block)
        if any(key.startswith("GNU.sparse.") for key in pax):
            kind = b"S"
        if kind in _REFUSED_TYPES:
            raise ContractViolation(
                f"bundle member {shown_name(name)} is a {_REFUSED_TYPES[kind]}; "
                "only regular files and directories are allowed"
            )
        if "size" in pax:
            text = pax["size"]
            if not (text.isascii() and text.isdigit() and len(text) <= 20):
                raise ContractViolation(f"bundle member {shown_name(name)} has a malformed PAX size")
            size = int(text)
        is_dir = kind == _DIRECTORY or (kind == b"\x00" and name.endswith("/"))
        self._directories += is_dir
        self._files += not is_dir
        if self._directories > limits.max_directories:
            raise ContractViolation(f"bundle holds more than {limits.max_directories} directories")
        if self._files > limits.max_files:
            raise ContractViolation(f"bundle holds more than {limits.max_files} files")
        if not is_dir and kind not in _REGULAR:
            raise ContractViolation(f"bundle member {shown_name(name)} has the unsupported tar type {kind!r}")
        path = self._checked_path(name, is_dir)
        if is_dir:
            if size:
                raise ContractViolation(f"bundle directory {shown_name(name)} claims {size} bytes of data")
            return BundleMember(path.as_posix(), path.parts, True, 0)
        self._bytes += size
        if self._bytes > limits.max_bytes:
            raise ContractViolation(f"bundle unpacks to more than {limits.max_bytes} bytes")
        return BundleMember(path.as_posix(), path.parts, False, size)

    @staticmethod
    def _ustar_name(block: bytes) -> str:
        name = block[0:100].split(b"\x00", 1)[0]
        prefix = block[345:500].split(b"\x00", 1)[0] if block[257:265] == _POSIX_MAGIC else b""
        return _text(prefix + b"/" + name if prefix else name, "member name")

    def _checked_path(self, name: str, is_dir: bool) -> PurePosixPath:
        limits = self._limits
        encoded = name.encode("utf-8", "surrogatepass")
        if len(encoded) > limits.max_name_bytes:
            raise ContractViolation(f"bundle member name of {len(encoded)} bytes; at most {limits.max_name_bytes}")
        path = check_member_path(name)
        if len(path.parts) > limits.max_depth:
            raise ContractViolation(
                f"bundle member {shown_name(name)} is {len(path.parts)} levels deep; at most {limits.max_depth}"
            )
        if any(len(part.encode("utf-8", "surrogatepass")) > 255 for part in path.parts):
            raise ContractViolation(f"bundle member {shown_name(name)} has a path segment over 255 bytes")
        if not path.parts and not is_dir:
            raise ContractViolation(f"bundle member {shown_name(name)} has an unsafe path")
        return path


@contextmanager
def open_tar_stream(source: Path, limits: ExtractionLimits) -> Iterator[TarStream]:
    """The bundle's tar stream, with decompression errors turned into a contract violation."""
    try:
        with gzip.open(source, "rb") as decompressed:
            yield TarStream(decompressed, limits)
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise ContractViolation(f"bundle {source.name} is not a readable tar.gz: {error}") from error
    except ContractViolation as error:
        raise ContractViolation(f"bundle {source.name} refused: {error}") from error
