"""Is the source embedded in this image the commit that runs? A patch made against another commit
would fix code that is not deployed, so a mismatch is refused before any engine runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pathops_contracts.errors import ContractViolation

SHORT = 12


class SourceCommitMismatch(ContractViolation):
    """The image embeds one commit, the evidence says another one runs (exit 4)."""


def check_source_commit(embedded: str, source: Mapping[str, Any]) -> str:
    """Compare the image's SOURCE_COMMIT_SHA with the snapshot manifest's `source`; return the line
    analysis.md carries about it, or raise SourceCommitMismatch naming both short SHAs.

    A snapshot without a commit (the workload records none) is not refused: the fix proceeds
    against the embedded source, and the line says that nothing checked it against what runs.
    """
    running = source.get("commit_sha")
    where = source.get("commit_sha_from") or "the snapshot"
    if not running:
        return (f"The snapshot records no source commit (the workload carries no commit annotation, label or "
                f"image tag), so the embedded source `{embedded[:SHORT]}` could not be checked against what runs.")
    if str(running).lower() != embedded.lower():
        raise SourceCommitMismatch(
            f"source commit mismatch: the image embeds {embedded[:SHORT]}, the snapshot says "
            f"{str(running)[:SHORT]} runs ({where}); build the fix agent at {str(running)[:SHORT]}")
    return f"The embedded source `{embedded[:SHORT]}` is the commit that runs ({where})."
