"""Render the agents namespace and its NetworkPolicies with the configured egress destinations."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from gitops_patcher.render import _dump, _load, templates_root
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


@dataclass(frozen=True)
class Egress:
    minio: Destination = Destination(None, "minio", 9000)
    control_plane: Destination = Destination("203.0.113.10/32", None, 443)
    kube_api: Destination = Destination("10.96.0.1/32", None, 443)
    llm: Destination = Destination("198.51.100.20/32", None, 443)
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
    for policy in policies:
        policy["metadata"]["namespace"] = agents_namespace
        rules = policy["spec"].get("egress")
        name = policy["metadata"]["name"]
        if name == "agents-common-egress":
            rules[1] = _rule(egress.minio)
            rules[2] = _rule(egress.control_plane)
        elif name == "evidence-collector-kube-api":
            rules[0] = _rule(egress.kube_api, kube_api_extra)
        elif name == "fix-agent-llm":
            rules[0] = _rule(egress.llm)
        elif name == "verification-agent-preflight":
            rules[0] = _rule(preflight)
            rules[1] = _rule(egress.kube_api, kube_api_extra)
    return {
        "namespace.yaml": _dump(namespace),
        "networkpolicy.yaml": _dump(policies),
        "kustomization.yaml": _dump([CommentedMap([
            ("apiVersion", "kustomize.config.k8s.io/v1beta1"), ("kind", "Kustomization"),
            ("resources", CommentedSeq(["namespace.yaml", "networkpolicy.yaml"])),
        ])]),
    }
