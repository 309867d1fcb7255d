"""Command line of fix-agent: parses options and delegates to the core."""

from __future__ import annotations

from pathops_contracts import __version__
from pathops_contracts.cli import tool_group

main = tool_group(
    "fix-agent",
    __version__,
    "Turn an evidence snapshot and the embedded source into a patch bundle.",
)
