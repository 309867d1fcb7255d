"""Command line of mr-creator: parses options and delegates to the core."""

from __future__ import annotations

from pathops_contracts import __version__
from pathops_contracts.cli import tool_group

main = tool_group(
    "mr-creator",
    __version__,
    "Apply a patch bundle at its commit and open or update the GitLab merge request.",
)
