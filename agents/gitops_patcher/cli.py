"""Command line of gitops-patcher: parses options and delegates to the core."""

from __future__ import annotations

from pathops_contracts import __version__
from pathops_contracts.cli import tool_group

main = tool_group(
    "gitops-patcher",
    __version__,
    "Render agent Jobs with least-privilege RBAC into the GitOps repository that Argo CD applies.",
)
