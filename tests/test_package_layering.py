"""The layering of agents/: contracts (pure) <- runtime (I/O) <- tools; no tool imports another.

Read from the source with `ast`, so a lazy import inside a function counts as much as one at
the top of a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

AGENTS = Path(__file__).resolve().parents[1] / "agents"
TOOLS = {"evidence_collector", "fix_agent", "verification_agent", "gitops_patcher", "mr_creator", "jenkins_notifier"}
# What each package may import among the first-party ones (besides itself).
ALLOWED = {
    "pathops_contracts": set(),
    "pathops_runtime": {"pathops_contracts"},
    **{tool: {"pathops_contracts", "pathops_runtime"} for tool in TOOLS},
    # The stand-ins speak the contracts; the demo drives the tools only as processes.
    "pathops_testbed": {"pathops_contracts", "pathops_runtime"},
    "golden_path": {"pathops_contracts", "pathops_runtime", "pathops_testbed"},
}
FIRST_PARTY = set(ALLOWED)
# Network clients the pure half must not import.
NETWORK = {"boto3", "botocore", "requests", "urllib3", "kubernetes", "gitlab", "openai", "git"}


def _imports(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((AGENTS / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(path.relative_to(AGENTS).as_posix())
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_the_layers_below_it(package: str) -> None:
    imports = _imports(package)
    wrong = {name: sorted(where) for name, where in imports.items()
             if name in FIRST_PARTY and name != package and name not in ALLOWED[package]}
    assert wrong == {}


def test_the_contracts_do_no_network_io() -> None:
    imports = _imports("pathops_contracts")
    assert {name: sorted(where) for name, where in imports.items() if name in NETWORK} == {}
