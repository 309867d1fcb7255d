"""Command line of verification-agent: parses options and delegates to the core."""

from __future__ import annotations

from pathops_contracts import __version__
from pathops_contracts.cli import tool_group

main = tool_group(
    "verification-agent",
    __version__,
    "Verify a preflight deployment: passed, failed or inconclusive, never passed without evidence.",
)
