"""Command line of evidence-collector: parses options and delegates to the core."""

from __future__ import annotations

from pathops_contracts import __version__
from pathops_contracts.cli import tool_group

main = tool_group(
    "evidence-collector",
    __version__,
    "Collect a bounded, redacted evidence snapshot of an incident and announce it.",
)
