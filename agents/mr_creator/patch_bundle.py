"""Fetch a patch bundle and check it before anything is applied: the MR side trusts nothing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pathops_contracts.bundles import ExtractionLimits, extract_bundle, read_json_document, sha256_bytes, sha256_file
from pathops_contracts.contracts import PATCH_METADATA, validate_document
from pathops_contracts.errors import ContractViolation, InvalidInput, NegativeOutcome
from pathops_contracts.verification_spec import MAX_SPEC_BYTES, parse_spec
from pathops_runtime.artifact_store import ArtifactStore

# A patch bundle is metadata.json, patch.mbox and analysis.md: anything much bigger is not one.
LIMITS = ExtractionLimits(max_bytes=32 * 1024 * 1024, max_files=16, max_directories=16, max_depth=4)
MAX_METADATA_BYTES = 1024 * 1024
MAX_ANALYSIS_BYTES = 256 * 1024  # the MR shows 20,000 characters of it


@dataclass(frozen=True)
class PatchBundle:
    patch_id: str
    bundle_sha256: str
    metadata: dict[str, Any]
    mbox: Path
    analysis: str | None
    verification_spec: str | None = None  # the checks the patch brings (verification.yaml), verified


def open_patch_bundle(store: ArtifactStore, patch_id: str, expected_sha: str | None, scratch: Path) -> PatchBundle:
    """Download, verify, extract safely and validate; raise on anything off-contract, and on a bundle made
    against another commit than expected_sha (when given: the bundle's metadata names its base)."""
    archive = scratch / f"{patch_id}.tar.gz"
    stored = store.get(patch_id, archive, max_size=LIMITS.max_archive_bytes)
    contents = scratch / "bundle"
    extract_bundle(archive, contents, LIMITS)
    metadata_path = contents / "metadata.json"
    if not metadata_path.is_file():
        raise ContractViolation(f"patch bundle {patch_id} has no metadata.json")
    metadata = read_json_document(metadata_path, f"metadata.json of {patch_id}", MAX_METADATA_BYTES)
    validate_document(metadata, PATCH_METADATA)
    if expected_sha is not None and metadata["source_commit_sha"] != expected_sha:
        raise ContractViolation(
            f"patch bundle {patch_id} was made against {metadata['source_commit_sha'][:12]}, not the given "
            f"source commit {expected_sha[:12]} (SOURCE_COMMIT_SHA is optional: the bundle names its base)"
        )
    if metadata["status"] != "patch":
        raise NegativeOutcome(f"patch bundle {patch_id} carries no patch (status {metadata['status']})")
    mbox = contents / "patch.mbox"
    if not mbox.is_file():
        raise ContractViolation(f"patch bundle {patch_id} has no patch.mbox")
    if sha256_file(mbox) != metadata["patch_sha256"]:
        raise ContractViolation(f"patch.mbox of {patch_id} does not match patch_sha256 in metadata.json")
    analysis_path = contents / "analysis.md"
    analysis = None
    if analysis_path.is_file():
        with analysis_path.open("rb") as handle:
            analysis = handle.read(MAX_ANALYSIS_BYTES).decode("utf-8", errors="replace")
    return PatchBundle(patch_id, stored.sha256, metadata, mbox, analysis, _verification_spec(contents, metadata))


def _verification_spec(contents: Path, metadata: dict[str, Any]) -> str | None:
    """The bundle's verification.yaml, when metadata.json names it: its sha256 and the spec schema checked."""
    named = metadata.get("verification_spec")
    if named is None:
        return None
    path = contents / str(named["path"])
    if not path.is_file():
        raise ContractViolation(f"metadata.json names {named['path']}, which the bundle lacks")
    data = path.read_bytes()[:MAX_SPEC_BYTES + 1]
    if sha256_bytes(data) != named["sha256"]:
        raise ContractViolation(f"{named['path']} does not match the sha256 metadata.json records")
    text = data.decode("utf-8", errors="replace")
    try:
        parse_spec(text, named["path"])
    except InvalidInput as error:  # the bundle broke its contract: not the caller's input
        raise ContractViolation(str(error)) from error
    return text
