"""What a tool reads from the artifact store, and a store built only when first read.

boto3 takes about a third of a second to import and to build its S3 client: the core reads
the store on a worker thread while git fetches, so the store is built there, on first use.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pathops_runtime.artifact_store import ArtifactStore, StoredArtifact, StoreSettings


class ArtifactReader(Protocol):
    """ArtifactStore.get: download, verify against the content address, then hand over."""

    def get(self, artifact_id: str, destination: Path, suffix: str | None = None,
            max_size: int | None = None) -> StoredArtifact: ...


class StoreOnFirstRead:
    """An ArtifactStore for `settings`, made by the first `get` (thread-safe)."""

    def __init__(self, settings: StoreSettings) -> None:
        self._settings = settings
        self._store: ArtifactStore | None = None
        self._lock = threading.Lock()

    def get(self, artifact_id: str, destination: Path, suffix: str | None = None,
            max_size: int | None = None) -> StoredArtifact:
        with self._lock:
            if self._store is None:
                from pathops_runtime.artifact_store import ArtifactStore

                self._store = ArtifactStore.from_settings(self._settings)
        return self._store.get(artifact_id, destination, suffix, max_size)
