"""Fetch a patch bundle and check it before anything is applied: the MR side trusts nothing.

Getting, verifying, extracting and validating metadata.json is the shared `open_bundle`; what is
checked here is what mr-creator relies on: the commit, the status, the patch's own sha256.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pathops_contracts.bundles import sha256_file
from pathops_contracts.errors import ContractViolation, NegativeOutcome
from pathops_runtime.bundle_open import PATCH_BUNDLE, open_bundle, verification_spec_of

if TYPE_CHECKING:  # the store (boto3) is built where it is first read
    from pathops_runtime.artifact_reader import ArtifactReader

MAX_ANALYSIS_BYTES = 256 * 1024  # the MR shows 20,000 characters of it


@dataclass(frozen=True)
class PatchBundle:
    patch_id: str
    bundle_sha256: str
    metadata: dict[str, Any]
    mbox: Path
    analysis: str | None
    verification_spec: str | None = None  # the checks the patch brings (verification.yaml), verified


def open_patch_bundle(store: ArtifactReader, patch_id: str, expected_sha: str | None, scratch: Path) -> PatchBundle:
    """Download, verify, extract safely and validate; raise on anything off-contract, and on a bundle made
    against another commit than expected_sha (when given: the bundle's metadata names its base)."""
    opened = open_bundle(store, patch_id, PATCH_BUNDLE, scratch / "bundle")
    metadata = opened.metadata
    if expected_sha is not None and metadata["source_commit_sha"] != expected_sha:
        raise ContractViolation(
            f"patch bundle {patch_id} was made against {metadata['source_commit_sha'][:12]}, not the given "
            f"source commit {expected_sha[:12]} (SOURCE_COMMIT_SHA is optional: the bundle names its base)"
        )
    if metadata["status"] != "patch":
        raise NegativeOutcome(f"patch bundle {patch_id} carries no patch (status {metadata['status']})")
    mbox = opened.root / "patch.mbox"
    if not mbox.is_file():
        raise ContractViolation(f"patch bundle {patch_id} has no patch.mbox")
    if sha256_file(mbox) != metadata["patch_sha256"]:
        raise ContractViolation(f"patch.mbox of {patch_id} does not match patch_sha256 in metadata.json")
    analysis_path = opened.root / "analysis.md"
    analysis = None
    if analysis_path.is_file():
        with analysis_path.open("rb") as handle:
            analysis = handle.read(MAX_ANALYSIS_BYTES).decode("utf-8", errors="replace")
    return PatchBundle(patch_id, opened.sha256, metadata, mbox, analysis, verification_spec_of(opened, metadata))
