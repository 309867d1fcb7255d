"""Members packed for the bundle as they are staged: tar bytes compressed on a thread of its own.

ISA-L (like zlib) lets go of the GIL while it compresses, so on a second core the bundle's compression is
done while the logs are still being read, and the bundle is then mostly a concatenation
(`pathops_contracts.bundle_writer`). Members are handed over in batches of about a megabyte:
one hand-over per log would wake the thread, and pass the GIL, a thousand times more.
A packed member is used only when its sha256 is that of the member's bytes at bundling time.

The thread runs at a lower priority (nice +10): its work is needed only when the bundle is
written, while the event loop's is on every log's round trip. Left at the same priority, on two
busy cores it took CPU the loop and the API server were waiting for.
"""

from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from pathops_contracts.bundle_writer import PackedMember, pack_member

BATCH_BYTES = 1024 * 1024  # handed over at once
WAITING_BYTES = 16 * 1024 * 1024  # handed over and not packed yet, at most: past it a writer packs its own
NICENESS = 10  # added to the packer thread's nice value


def _lower_priority() -> None:
    """(On the packer's thread.) Yield the CPU to the threads the collection waits on; where the
    system does not let a thread change its priority, it runs as it is."""
    with contextlib.suppress(OSError, AttributeError):  # AttributeError: no per-thread priority here
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, min(os.getpriority(os.PRIO_PROCESS, thread) + NICENESS, 19))


class Packer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._batch: list[tuple[str, int, bytes]] = []  # (name, its version, bytes)
        self._versions: dict[str, int] = {}  # name -> the version added last (absent: discarded)
        self._scanned: dict[str, int] = {}  # name -> the version added as scanned clean
        self._added = 0
        self._batch_bytes = 0
        self._waiting = 0  # bytes of batches handed over, not packed yet
        self._done: dict[str, PackedMember] = {}
        self._batches: list[Future[None]] = []
        self._pool: ThreadPoolExecutor | None = None

    def add(self, name: str, data: bytes, scanned_clean: bool = False) -> None:
        """Pack what `name` now holds (replacing what it held before); `scanned_clean`: the final scan
        passed these very bytes (`scanned_packed`)."""
        with self._lock:
            self._done.pop(name, None)
            self._added += 1
            self._versions[name] = self._added
            if scanned_clean:
                self._scanned[name] = self._added
            else:
                self._scanned.pop(name, None)
            self._batch.append((name, self._added, data))
            self._batch_bytes += len(data)
            if self._batch_bytes >= BATCH_BYTES:
                self._hand_over()

    def discard(self, name: str) -> None:
        with self._lock:
            self._done.pop(name, None)
            self._versions.pop(name, None)
            self._scanned.pop(name, None)

    def packed(self) -> dict[str, PackedMember]:
        """Every member as last added, packed (what is still waiting is packed first)."""
        with self._lock:
            self._hand_over()
            batches = list(self._batches)
        for batch in batches:
            batch.result()
        with self._lock:
            return dict(self._done)

    def scanned_packed(self) -> dict[str, PackedMember]:
        """The members packed from the very bytes the final scan passed as they were added: what the bundle
        may take as packed, unread and unscanned, whatever became of a staged copy since."""
        self.packed()  # what is waiting is packed first
        with self._lock:  # `_done` holds each name's last version only (add drops the one before)
            return {name: member for name, member in self._done.items()
                    if self._scanned.get(name) == self._versions.get(name)}

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def _hand_over(self) -> None:
        """(Lock held.) The current batch to the thread, or packed here when the thread is too far behind."""
        batch, size = self._batch, self._batch_bytes
        self._batch, self._batch_bytes = [], 0
        if not batch:
            return
        if self._waiting + size > WAITING_BYTES:
            for name, version, data in batch:
                if self._versions.get(name) == version:
                    self._done[name] = pack_member(name, data)
            return
        self._waiting += size
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bundle-packer",
                                            initializer=_lower_priority)
        self._batches.append(self._pool.submit(self._pack, batch, size))

    def _pack(self, batch: list[tuple[str, int, bytes]], size: int) -> None:
        try:
            for name, version, data in batch:
                if self._versions.get(name) != version:
                    continue  # added again or discarded since
                member = pack_member(name, data)
                with self._lock:
                    if self._versions.get(name) == version:
                        self._done[name] = member
        finally:
            with self._lock:
                self._waiting -= size
