"""Command line of pathops, the local golden-path runner."""

from __future__ import annotations

from pathops_contracts import __version__
from pathops_contracts.cli import tool_group

main = tool_group(
    "pathops",
    __version__,
    "Run the PathOps golden path locally: alert, evidence, fix, merge request.",
)
