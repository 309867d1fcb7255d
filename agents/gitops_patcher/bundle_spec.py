"""The verification spec a patch brings: read from its immutable, content-addressed patch bundle.

The spec that judges a change never comes from the change under test: for a patch, it is the
`verification.yaml` the fix agent wrote into the bundle, whose id is the sha256 of the bundle
(checked on download) and whose own sha256 `metadata.json` records (checked by the shared
`verification_spec_of`, as mr-creator checks it). Only metadata.json and the spec are read.
"""

from __future__ import annotations

from pathlib import Path

from pathops_contracts.errors import ContractViolation
from pathops_runtime.artifact_store import ArtifactStore
from pathops_runtime.bundle_open import PATCH_BUNDLE, fetched_bundle, verification_spec_of


def read_bundle_spec(store: ArtifactStore, patch_id: str, scratch: Path | None = None) -> str:
    """The text of the verification spec inside patch bundle `patch_id`, verified and schema-valid."""
    with fetched_bundle(store, patch_id, PATCH_BUNDLE, scratch) as bundle:
        metadata = bundle.metadata()
        if metadata["status"] != "patch":
            raise ContractViolation(f"patch bundle {patch_id} carries no patch (status {metadata['status']}), "
                                    "so no checks to verify it by")
        spec = verification_spec_of(bundle, metadata)
    if spec is None:
        raise ContractViolation(f"patch bundle {patch_id} carries no verification spec; "
                                "verify it with the app's default-branch spec instead")
    return spec
