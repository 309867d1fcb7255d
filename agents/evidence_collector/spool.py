"""The staging area's spool: the bytes of every staged log in one scratch file, each a slice of it.

Creating and deleting a file costs far more than writing one: on this project's machines (ext4)
about 0.3-0.5 ms of kernel time per file created, and again to delete it, more than redacting a
small log does. A namespace's collection stages thousands of logs and excerpts; they go into one
file instead, each at a range reserved for it before its first byte (its byte limit), so that
concurrent streams never interleave and a stream is written as it arrives, never held whole in
memory. Space reserved and not written stays a hole of a sparse file: it costs nothing.

Only the collector writes the spool, and only through `Staging`, which redacts first; the
snapshot's final scan reads the slices back like any other staged file.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from pathops_contracts.bundle_writer import FileSlice


class Spool:
    """Named slices of one file: reserve a range, write into it, then commit the name to what was written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._end = 0  # the first offset no reservation covers
        # name -> where its bytes are, committed ones only: made once here, not again for every `slices()`
        # (three times a run, 1,800 logs and excerpts: 2-3 ms each).
        self._slices: dict[str, FileSlice] = {}
        self._lock = threading.Lock()

    def reserve(self, size: int) -> int:
        """The offset of `size` bytes no other reservation uses."""
        with self._lock:
            if self._fd is None:  # created at the first write: O_EXCL, never a file someone planted there
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            offset = self._end
            self._end += size
            return offset

    def write_at(self, offset: int, data: bytes) -> None:
        """Write data at offset (inside a range reserved by the caller)."""
        assert self._fd is not None, "reserve() first"
        view = memoryview(data)
        while view:
            written = os.pwrite(self._fd, view, offset)
            view, offset = view[written:], offset + written

    def commit(self, name: str, offset: int, length: int) -> None:
        """`name` is now these bytes (a name committed again is replaced, as a rewritten file is)."""
        with self._lock:
            self._slices[name] = FileSlice(self.path, offset, length)

    def put(self, name: str, data: bytes) -> None:
        offset = self.reserve(len(data))
        self.write_at(offset, data)
        self.commit(name, offset, len(data))

    def __contains__(self, name: str) -> bool:
        with self._lock:
            return name in self._slices

    def discard(self, name: str) -> None:
        with self._lock:
            self._slices.pop(name, None)

    def size(self, name: str) -> int:
        with self._lock:
            return self._slices[name].length

    def read(self, name: str) -> bytes:
        with self._lock:
            where = self._slices[name]
        offset, length = where.offset, where.length
        assert self._fd is not None
        data = os.pread(self._fd, length, offset)
        while len(data) < length:  # pread may return less than asked; the file is ours and that long
            more = os.pread(self._fd, length - len(data), offset + len(data))
            if not more:
                raise OSError(f"spool {self.path} ends inside {name}")
            data += more
        return data

    def slices(self) -> dict[str, FileSlice]:
        """Every committed name and where its bytes are, for the bundle."""
        with self._lock:
            return dict(self._slices)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
