"""Deterministic fixes that the evidence and the source determine, tried before any model.

Each playbook (1) finds the failing container by identity (pod -> owner chain -> workload and
container), (2) works out from the evidence and the source what that container's field must
become, and (3) searches the repository for the line that renders it, keeping only an edit that
`proof` shows changes exactly that field of exactly that container in what is deployed. Each
states its preconditions and confidence (they go to analysis.md); when a precondition fails or
the evidence is ambiguous it proposes nothing and says why, naming the candidates.

One module per kind of finding; what they share is in `playbook` (the attempt, the failing
container, the proof step), `app_source` (the application's code) and `pod_logs`. PLAYBOOKS is
the registry, in the order the playbooks are tried.
"""

from __future__ import annotations

from fix_agent.playbooks.command_override import CommandOverridePlaybook
from fix_agent.playbooks.config_key import ConfigKeyPlaybook
from fix_agent.playbooks.env_name import EnvNamePlaybook
from fix_agent.playbooks.image_rollback import ImageRollbackPlaybook
from fix_agent.playbooks.image_tag import ImageTagPlaybook
from fix_agent.playbooks.memory_limit import OomPlaybook
from fix_agent.playbooks.node_placement import NodePlacementPlaybook
from fix_agent.playbooks.out_of_class import OutOfClassNotes
from fix_agent.playbooks.playbook import Playbook
from fix_agent.playbooks.port_chain import PortChainPlaybook
from fix_agent.playbooks.probe_path import ProbePathPlaybook
from fix_agent.playbooks.rbac_grant import RbacGrantPlaybook
from fix_agent.playbooks.service_selector import ServiceSelectorPlaybook
from fix_agent.playbooks.stock_probe import StockProbePlaybook

__all__ = ["PLAYBOOKS", "Playbook"]

# The commit-tag image fix before the rollback, probe-path before the stock-image probe: the narrower first.
PLAYBOOKS: tuple[Playbook, ...] = (
    ProbePathPlaybook(), PortChainPlaybook(), ConfigKeyPlaybook(), EnvNamePlaybook(), OomPlaybook(),
    ImageTagPlaybook(), ImageRollbackPlaybook(), StockProbePlaybook(), ServiceSelectorPlaybook(),
    CommandOverridePlaybook(), NodePlacementPlaybook(), RbacGrantPlaybook(), OutOfClassNotes(),
)
