"""Opening a bundle from the artifact store: get, verify, extract (capped), validate. Written once.

Every consumer of a bundle (mr-creator: patch bundle and incident snapshot; fix-agent: the
snapshot; gitops-patcher: the verification spec a patch brings) goes through here, so a bad
bundle fails the same way everywhere:

| what | error | exit |
|---|---|---|
| the id names another kind of artifact (a snapshot id as PATCH_ID) | `InvalidInput` | 2 |
| no object under the id's key | `ArtifactMissing`: "artifact ID not found at s3://..." | 4 |
| too large, sha256/id mismatch, unsafe tar, metadata missing or off-schema | `ContractViolation` | 4 |
| the store fails, or refuses the credentials | `UpstreamError` / `Forbidden` | 5 / 6 |

The archive is downloaded to a private file (verified by `ArtifactStore.get`, nothing left on a
mismatch) and removed once read; members are read by the one defensive reader
(`pathops_contracts.bundles`), never by `tarfile`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pathops_contracts.bundles import (
    ExtractionLimits,
    extract_bundle,
    read_json_document,
    read_member,
    read_members,
    sha256_bytes,
)
from pathops_contracts.contracts import EVIDENCE_MANIFEST, PATCH_METADATA, validate_document
from pathops_contracts.errors import ContractViolation, InvalidInput
from pathops_contracts.verification_spec import MAX_SPEC_BYTES, parse_spec
from pathops_runtime.artifact_store import ArtifactKind, ArtifactMissing, kind_of

if TYPE_CHECKING:
    from pathops_runtime.artifact_reader import ArtifactReader

__all__ = ["PATCH_BUNDLE", "SNAPSHOT", "ArtifactMissing", "BundleLayout", "FetchedBundle", "OpenedBundle",
           "bundle_metadata", "fetched_bundle", "open_bundle", "verification_spec_of"]


@dataclass(frozen=True)
class BundleLayout:
    """What a kind of bundle is: its artifact kind, its caps, and the metadata document at its root."""

    name: str  # as messages say it: "patch bundle", "snapshot"
    kind: ArtifactKind
    limits: ExtractionLimits
    metadata: str  # the member holding the bundle's metadata
    contract: str  # the schema that metadata satisfies
    max_metadata_bytes: int


# A patch bundle is metadata.json, patch.mbox, analysis.md and verification.yaml: anything much bigger is not one.
PATCH_BUNDLE = BundleLayout(
    "patch bundle", ArtifactKind.PATCH,
    ExtractionLimits(max_bytes=32 * 1024 * 1024, max_files=16, max_directories=16, max_depth=4),
    "metadata.json", PATCH_METADATA, 1024 * 1024)
# Logs of some thousand containers fit; a snapshot is a handful of folders deep (logs/<pod>/<container>.log).
SNAPSHOT = BundleLayout(
    "snapshot", ArtifactKind.SNAPSHOT,
    ExtractionLimits(max_bytes=200 * 1024 * 1024, max_files=4_000, max_directories=512, max_depth=8),
    "manifest.json", EVIDENCE_MANIFEST, 16 * 1024 * 1024)


@dataclass(frozen=True)
class OpenedBundle:
    """A bundle extracted under `root`, its metadata schema-valid."""

    artifact_id: str
    sha256: str  # of the archive, as verified on download
    root: Path
    metadata: dict[str, Any]


def _check_kind(artifact_id: str, layout: BundleLayout) -> None:
    kind = kind_of(artifact_id)
    if kind is not layout.kind:
        raise InvalidInput(f"{artifact_id} names a {kind.name.lower()}, not a {layout.name}")


def bundle_metadata(root: Path, layout: BundleLayout, artifact_id: str) -> dict[str, Any]:
    """The metadata document of an extracted bundle: present, capped, JSON, an object, schema-valid."""
    path = root / layout.metadata
    if not path.is_file():
        raise ContractViolation(f"{layout.name} {artifact_id} has no {layout.metadata}")
    document = read_json_document(path, f"{layout.metadata} of {artifact_id}", layout.max_metadata_bytes)
    if not isinstance(document, dict):
        raise ContractViolation(f"{layout.metadata} of {artifact_id} is not an object")
    validate_document(document, layout.contract)
    return document


def open_bundle(store: ArtifactReader, artifact_id: str, layout: BundleLayout, destination: Path) -> OpenedBundle:
    """Get and verify `artifact_id`, extract it into `destination` (absent or empty) and validate its metadata."""
    _check_kind(artifact_id, layout)
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=destination.parent) as folder:
        archive = Path(folder) / f"{artifact_id}.tar.gz"
        stored = store.get(artifact_id, archive, max_size=layout.limits.max_archive_bytes)
        extract_bundle(archive, destination, layout.limits)
    return OpenedBundle(artifact_id, stored.sha256, destination, bundle_metadata(destination, layout, artifact_id))


@dataclass(frozen=True)
class FetchedBundle:
    """A verified archive on disk whose members are read one by one, none extracted."""

    artifact_id: str
    sha256: str
    archive: Path
    layout: BundleLayout

    def member(self, name: str, max_bytes: int) -> bytes:
        """One regular file of the bundle; ContractViolation when absent or over max_bytes."""
        return read_member(self.archive, name, max_bytes, self.layout.limits)

    def members(self, names: Collection[str], max_bytes: int) -> dict[str, bytes]:
        """Several regular files in one pass over the archive; a name the bundle lacks is absent."""
        return read_members(self.archive, names, max_bytes, self.layout.limits)

    def metadata(self) -> dict[str, Any]:
        """The metadata document, checked as `bundle_metadata` checks it."""
        data = self.member(self.layout.metadata, self.layout.max_metadata_bytes)
        # Through the same hardened JSON reader as an extracted bundle (size, depth, not-JSON).
        path = self.archive.with_name(self.layout.metadata)
        path.write_bytes(data)
        try:
            return bundle_metadata(path.parent, self.layout, self.artifact_id)
        finally:
            path.unlink(missing_ok=True)


@contextmanager
def fetched_bundle(store: ArtifactReader, artifact_id: str, layout: BundleLayout,
                   scratch: Path | None = None) -> Iterator[FetchedBundle]:
    """Get and verify `artifact_id` into a private folder (under scratch), removed on leaving."""
    _check_kind(artifact_id, layout)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=scratch) as folder:
        archive = Path(folder) / f"{artifact_id}.tar.gz"
        stored = store.get(artifact_id, archive, max_size=layout.limits.max_archive_bytes)
        yield FetchedBundle(artifact_id, stored.sha256, archive, layout)


def verification_spec_of(bundle: OpenedBundle | FetchedBundle, metadata: dict[str, Any]) -> str | None:
    """The verification.yaml a patch bundle carries, when metadata.json names one: present, matching the
    sha256 metadata.json records, UTF-8 and schema-valid; anything else is the bundle's fault (exit 4)."""
    named = metadata.get("verification_spec")
    if named is None:
        return None
    path = str(named["path"])
    if isinstance(bundle, OpenedBundle):
        file = bundle.root / path
        if not file.is_file():
            raise ContractViolation(f"metadata.json of {bundle.artifact_id} names {path}, which the bundle lacks")
        with file.open("rb") as handle:
            data = handle.read(MAX_SPEC_BYTES + 1)
    else:
        data = bundle.member(path, MAX_SPEC_BYTES)
    if sha256_bytes(data) != named["sha256"]:
        raise ContractViolation(f"{path} of {bundle.artifact_id} does not match the sha256 metadata.json records")
    try:
        text = data.decode("utf-8")
        parse_spec(text, f"{path} of {bundle.artifact_id}")
    except UnicodeDecodeError as error:
        raise ContractViolation(f"{path} of {bundle.artifact_id} is not UTF-8") from error
    except InvalidInput as error:  # the bundle broke its contract: not the caller's input
        raise ContractViolation(str(error)) from error
    return text
