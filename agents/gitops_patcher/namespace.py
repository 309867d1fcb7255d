"""Render the agents namespace and its NetworkPolicies with the configured egress destinations."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from gitops_patcher.render import _dump, _load, templates_root
from pathops_contracts.agent_job import COMMON_EGRESS, agent_names, load_agent_job
from pathops_contracts.errors import InvalidInput

_DESTINATION = re.compile(
    r"(?:(?P<cidr>[0-9]{1,3}(?:\.[0-9]{1,3}){3}/[0-9]{1,2})|ns/(?P<ns>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?))"
    r":(?P<port>[0-9]{1,5})"
)


@dataclass(frozen=True)
class Destination:
    """An egress destination: a CIDR or a namespace, and a TCP port."""

    cidr: str | None
    namespace: str | None
    port: int

    @classmethod
    def parse(cls, text: str) -> Destination:
        match = _DESTINATION.fullmatch(text)
        if not match or not 0 < int(match["port"]) < 65536:
            raise InvalidInput(f"egress destination {text!r} is not CIDR:PORT or ns/NAMESPACE:PORT")
        return cls(match["cidr"], match["ns"], int(match["port"]))

    def peer(self) -> CommentedMap:
        if self.cidr:
            return CommentedMap([("ipBlock", CommentedMap([("cidr", self.cidr)]))])
        selector = CommentedMap([("matchLabels", CommentedMap([("kubernetes.io/metadata.name", self.namespace)]))])
        return CommentedMap([("namespaceSelector", selector)])


COMMON_POLICY = "agents-common-egress"


@dataclass(frozen=True)
class Egress:
    """Where the agents may connect. The control plane and the Kubernetes API have no default: a
    guessed address would render a NetworkPolicy that silently cuts the agents off. Without an LLM
    destination the fix agent's policy allows nothing beyond the common egress."""

    control_plane: Destination
    kube_api: Destination
    minio: Destination = Destination(None, "minio", 9000)
    llm: Destination | None = None
    preflight_port: int = 8080


def _rule(destination: Destination, extra_ports: tuple[int, ...] = ()) -> CommentedMap:
    ports = CommentedSeq(
        CommentedMap([("protocol", "TCP"), ("port", port)]) for port in (destination.port, *extra_ports)
    )
    return CommentedMap([("to", CommentedSeq([destination.peer()])), ("ports", ports)])


def render_namespace(app: str, agents_namespace: str, preflight_namespace: str, egress: Egress,
                     root: Path | None = None) -> dict[str, str]:
    folder = (root or templates_root()) / "agents-namespace"
    namespace = _load(folder / "namespace.yaml")
    namespace[0]["metadata"]["name"] = agents_namespace
    namespace[0]["metadata"]["labels"]["pathops.io/app"] = app
    policies = _load(folder / "networkpolicy.yaml")
    preflight = Destination(None, preflight_namespace, egress.preflight_port)
    kube_api_extra = (6443,) if egress.kube_api.port == 443 else ()
    rules_to: dict[str, CommentedMap | None] = {
        "minio": _rule(egress.minio), "control-plane": _rule(egress.control_plane),
        "kube-api": _rule(egress.kube_api, kube_api_extra), "llm": _rule(egress.llm) if egress.llm else None,
        "preflight": _rule(preflight),
    }
    # Each agent's own policy allows what its description lists beyond the common destinations.
    own = {job.egress_policy: job.own_egress for job in map(load_agent_job, agent_names())}
    own[COMMON_POLICY] = COMMON_EGRESS
    for policy in policies:
        policy["metadata"]["namespace"] = agents_namespace
        name = policy["metadata"]["name"]
        destinations = own.pop(name, ())
        rules = policy["spec"].get("egress") or []
        if len(rules) != len(destinations):
            raise InvalidInput(f"NetworkPolicy {name} has {len(rules)} egress rules; the descriptions say "
                               f"{', '.join(destinations) or 'none'}")
        for index, destination in enumerate(destinations):
            if destination != "dns":  # the template's rule: kube-dns in kube-system
                rules[index] = rules_to[destination]
        # A destination that is not configured (the LLM) gets no rule at all, never a guessed one.
        for index in reversed(range(len(rules))):
            if rules[index] is None:
                del rules[index]
    if own:
        raise InvalidInput(f"no NetworkPolicy {', '.join(sorted(own))} in agents-namespace/networkpolicy.yaml")
    return {
        "namespace.yaml": _dump(namespace),
        "networkpolicy.yaml": _dump(policies),
        "kustomization.yaml": _dump([CommentedMap([
            ("apiVersion", "kustomize.config.k8s.io/v1beta1"), ("kind", "Kustomization"),
            ("resources", CommentedSeq(["namespace.yaml", "networkpolicy.yaml"])),
        ])]),
    }
