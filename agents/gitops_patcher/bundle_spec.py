"""The verification spec a patch brings: read from its immutable, content-addressed patch bundle.

The spec that judges a change never comes from the change under test: for a patch, it is the
`verification.yaml` the fix agent wrote into the bundle, whose id is the sha256 of the bundle
(checked on download) and whose own sha256 `metadata.json` records (checked here).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from pathops_contracts.bundles import ExtractionLimits, read_member, sha256_bytes
from pathops_contracts.contracts import PATCH_METADATA, validate_document
from pathops_contracts.errors import ContractViolation
from pathops_contracts.verification_spec import MAX_SPEC_BYTES, parse_spec
from pathops_runtime.artifact_store import ArtifactStore

# A patch bundle is four small files; anything much bigger is not one.
LIMITS = ExtractionLimits(max_bytes=32 * 1024 * 1024, max_files=16, max_directories=16, max_depth=4)
MAX_METADATA_BYTES = 1024 * 1024


def read_bundle_spec(store: ArtifactStore, patch_id: str, scratch: Path | None = None) -> str:
    """The text of the verification spec inside patch bundle `patch_id`, verified and schema-valid."""
    with tempfile.TemporaryDirectory(prefix="patch-spec-", dir=scratch) as folder:
        archive = Path(folder) / f"{patch_id}.tar.gz"
        store.get(patch_id, archive, max_size=LIMITS.max_archive_bytes)
        raw_metadata = read_member(archive, "metadata.json", MAX_METADATA_BYTES, LIMITS)
        try:
            metadata = json.loads(raw_metadata)
        except (ValueError, RecursionError) as error:
            raise ContractViolation(f"metadata.json of {patch_id} is not JSON") from error
        if not isinstance(metadata, dict):
            raise ContractViolation(f"metadata.json of {patch_id} is not an object")
        validate_document(metadata, PATCH_METADATA)
        if metadata["status"] != "patch":
            raise ContractViolation(f"patch bundle {patch_id} carries no patch (status {metadata['status']}), "
                                    "so no checks to verify it by")
        named = metadata.get("verification_spec")
        if named is None:
            raise ContractViolation(f"patch bundle {patch_id} carries no verification spec; "
                                    "verify it with the app's default-branch spec instead")
        data = read_member(archive, named["path"], MAX_SPEC_BYTES, LIMITS)
    if sha256_bytes(data) != named["sha256"]:
        raise ContractViolation(f"{named['path']} of {patch_id} does not match the sha256 metadata.json records")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ContractViolation(f"{named['path']} of {patch_id} is not UTF-8") from error
    parse_spec(text, f"{named['path']} of {patch_id}")
    return text
