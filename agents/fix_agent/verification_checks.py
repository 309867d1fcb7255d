"""The checks a patch brings with it: `verification.yaml`, derived from the incident signal and the change.

The spec that judges a change must not come from the change under test (a patch could edit its
own checks), so the fix agent writes it into the immutable, content-addressed patch bundle, next
to the patch: what failed (the finding's kind) and what the patch sets (the proven field values)
decide which checks prove the fix worked in preflight:

- probe path: the rollout completes, GET of the new path through the Service answers 200
  (several times), no container restarts;
- port: the rollout completes, the Service port answers HTTP, no restarts;
- OOMKilled: the rollout completes, a restarts window with no OOMKilled (+ a memory query when
  Prometheus is configured);
- config or env key: the containers start (the rollout completes, which a
  CreateContainerConfigError prevents), no restarts;
- image tag: the rollout completes with every pod running the new image, no restarts.

`derive_spec` is pure; `verification_file` adapts a snapshot and a proposal to it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from io import StringIO
from typing import Any

from ruamel.yaml import YAML

from fix_agent.identity import Target, locate, snapshot_objects
from fix_agent.proposal import Proposal
from fix_agent.snapshot import Snapshot
from pathops_contracts.bundles import sha256_bytes
from pathops_contracts.contracts import PATCH_METADATA, validate_document
from pathops_contracts.verification_spec import parse_spec

SPEC_FILE = "verification.yaml"
_DURATION = re.compile(r"^([0-9]+)(s|m)$")
_WORKLOAD_KINDS = {"Deployment": "deployment", "StatefulSet": "statefulset"}


@dataclass(frozen=True)
class CheckTimings:
    """How long preflight is watched; the operator's (VERIFICATION_ROLLOUT_TIMEOUT, VERIFICATION_RESTARTS_WINDOW)."""

    rollout_timeout_seconds: int = 300
    restarts_window: str = "2m"
    http_count: int = 5
    http_interval: str = "2s"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> CheckTimings:
        timeout = _seconds(environ.get("VERIFICATION_ROLLOUT_TIMEOUT", "5m"), "VERIFICATION_ROLLOUT_TIMEOUT")
        window = environ.get("VERIFICATION_RESTARTS_WINDOW", "2m")
        _seconds(window, "VERIFICATION_RESTARTS_WINDOW")
        return cls(rollout_timeout_seconds=timeout, restarts_window=window)

    def rollout(self) -> dict[str, Any]:
        interval = 5 if self.rollout_timeout_seconds >= 60 else 1
        return {"interval": f"{interval}s", "count": max(1, self.rollout_timeout_seconds // interval)}


def _seconds(text: str, name: str) -> int:
    match = _DURATION.fullmatch(text.strip())
    if match is None or int(match[1]) == 0:
        raise ValueError(f"{name} must be a duration like 90s or 5m, got {text!r}")
    return int(match[1]) * (60 if match[2] == "m" else 1)


@dataclass(frozen=True)
class Signal:
    """What failed, as the snapshot says: the finding's kind and the failing workload and container."""

    kind: str  # probe-failure | oom-killed | config-error | crash-loop | image-pull | ...
    target: Target
    services: tuple[dict[str, Any], ...] = ()  # the Services of the namespace, as the snapshot holds them


@dataclass(frozen=True)
class Change:
    """What the patch sets on the failing container (container-relative path -> new value)."""

    fields: Mapping[tuple[str, ...], Any]
    service_ports: Mapping[Any, Any]


def derive_spec(signal: Signal, change: Change, timings: CheckTimings = CheckTimings(),
                prometheus: bool = False) -> dict[str, Any] | None:
    """The verification spec for this signal and change; None when the workload is not one a check can watch."""
    kind = _WORKLOAD_KINDS.get(signal.target.kind)
    if kind is None:
        return None
    workload = f"{kind}/{signal.target.name}"
    container = signal.target.container
    paths = {path[0] for path in change.fields}
    probe_paths = {path: value for path, value in change.fields.items()
                   if len(path) == 3 and path[1:] == ("httpGet", "path") and isinstance(value, str)}
    rollout: dict[str, Any] = {"name": f"rollout of {workload}", "type": "rollout", "workload": workload,
                               **timings.rollout()}
    restarts: dict[str, Any] = {"name": f"no restarts of {container}", "type": "restarts", "workload": workload,
                                "window": timings.restarts_window}
    checks: list[dict[str, Any]] = [rollout]
    http_settings = {"expectStatus": 200, "count": timings.http_count, "interval": timings.http_interval,
                     "failureLimit": 0, "timeout": "5s"}
    if probe_paths:
        url = _service_url(signal, change)
        for path, value in sorted(probe_paths.items()) if url is not None else []:
            checks.append({"name": f"the new {path[0]} path answers 200 through the Service", "type": "http",
                           "url": f"{url}{value}", **http_settings})
    elif "ports" in paths or change.service_ports or signal.kind == "probe-failure":
        url = _service_url(signal, change)
        probe = _probe_path(signal.target.live_container, change)
        if url is not None:
            checks.append({"name": "the Service answers HTTP on the probe path", "type": "http",
                           "url": url + probe, **http_settings})
    if "resources" in paths or signal.kind == "oom-killed":
        restarts["name"] = f"no OOMKilled or restart of {container}"
        if prometheus:
            checks.append(_memory_query(signal.target))
    elif "env" in paths or "envFrom" in paths or signal.kind in {"config-error", "crash-loop"}:
        rollout["name"] = f"{container} starts (no CreateContainerConfigError)"
    elif "image" in paths:
        image = change.fields.get(("image",))
        if isinstance(image, str):
            rollout["name"] = f"pods run {image}"[:100]
            rollout["expectImage"] = image
    rollout["name"] = _name(rollout["name"])
    restarts["name"] = _name(restarts["name"])
    checks.append(restarts)
    return {"checks": checks}


def _name(text: str) -> str:
    """A check name the spec schema accepts: letters, digits, space and . _ - only."""
    cleaned = re.sub(r"[^A-Za-z0-9 ._-]+", "-", text).strip(" -._")
    return (cleaned or "check")[:100]


def _matches(selector: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def _service_url(signal: Signal, change: Change) -> str | None:
    """http://<service>.<namespace>.svc[:port] of the one Service that selects the failing pods."""
    container_ports = _container_ports(signal.target.live_container, change)
    found = []
    for service in signal.services:
        metadata, spec = service.get("metadata") or {}, service.get("spec") or {}
        if metadata.get("namespace") not in {None, signal.target.namespace}:
            continue
        if not _matches(spec.get("selector") or {}, signal.target.live_labels):
            continue
        for port in spec.get("ports") or []:
            target = change.service_ports.get(port.get("targetPort"), port.get("targetPort", port.get("port")))
            if target in container_ports or (isinstance(target, str) and target in container_ports.values()):
                found.append((str(metadata.get("name")), int(port.get("port"))))
    if len(found) != 1:  # none, or ambiguous: no HTTP check rather than a check of the wrong thing
        return None
    name, port = found[0]
    suffix = "" if port == 80 else f":{port}"
    return f"http://{name}.{signal.target.namespace}.svc{suffix}"


def _container_ports(container: Mapping[str, Any], change: Change) -> dict[int, str]:
    """containerPort -> name, after the change."""
    ports: dict[int, str] = {}
    for index, entry in enumerate(container.get("ports") or []):
        number = change.fields.get(("ports", f"[{index}]", "containerPort"), entry.get("containerPort"))
        if isinstance(number, int):
            ports[number] = str(entry.get("name") or "")
    return ports


def _probe_path(container: Mapping[str, Any], change: Change) -> str:
    path = change.fields.get(("readinessProbe", "httpGet", "path"),
                             ((container.get("readinessProbe") or {}).get("httpGet") or {}).get("path"))
    return path if isinstance(path, str) and path.startswith("/") else "/"


def _memory_query(target: Target) -> dict[str, Any]:
    selector = f'namespace="{target.namespace}",pod=~"{target.name}-.*",container="{target.container}"'
    query = (f"max(container_memory_working_set_bytes{{{selector}}}) / "
             f"max(kube_pod_container_resource_limits{{{selector},resource=\"memory\"}})")
    return {"name": _name(f"{target.container} memory under 80 percent of its limit"), "type": "prometheus",
            "query": query, "successCondition": "result < 0.8", "minSamples": 1, "count": 3, "interval": "30s"}


# --- the adapter: snapshot and proposal in, verification.yaml out ------------------------------------------------

def _signal(snapshot: Snapshot, proposal: Proposal) -> Signal | None:
    services = tuple(snapshot_objects(snapshot, "objects/services.jsonl"))
    findings = [f for f in snapshot.findings if isinstance(f, dict) and isinstance(f.get("facts"), dict)]
    target = proposal.expectation.target if proposal.expectation is not None else None
    for finding in findings:
        facts = finding["facts"]
        if target is not None and (facts.get("pod"), facts.get("container")) != (target.pod, target.container):
            continue
        located = target or locate(snapshot, facts.get("pod"), facts.get("container"))
        if isinstance(located, Target):
            return Signal(str(finding.get("kind")), located, services)
    return Signal("", target, services) if target is not None else None


def verification_file(snapshot: Snapshot, proposal: Proposal,
                      environ: Mapping[str, str] | None = None) -> bytes | None:
    """The bundle's verification.yaml for this proposal, schema-valid; None when no check can watch the workload."""
    settings = os.environ if environ is None else environ
    signal = _signal(snapshot, proposal)
    if signal is None:
        return None
    expectation = proposal.expectation
    change = Change(dict(expectation.required) if expectation else {},
                    dict(expectation.service_ports) if expectation else {})
    spec = derive_spec(signal, change, CheckTimings.from_environment(settings),
                       prometheus=bool(settings.get("PROMETHEUS_URL")))
    if spec is None:
        return None
    return render_spec(spec, f"{signal.target.describe()}, {proposal.summary.splitlines()[0][:200]}")


def render_spec(spec: dict[str, Any], about: str) -> bytes:
    """YAML text of the spec (re-parsed and schema-checked: a bundle never carries an invalid one)."""
    stream = StringIO()
    YAML().dump(spec, stream)  # round-trip mode: keys stay in the order the checks were written
    comment = "# Derived by fix-agent from the incident and the change: " + " ".join(about.split())
    text = comment[:300] + "\n" + stream.getvalue()
    parse_spec(text, SPEC_FILE)
    return text.encode("utf-8")


def carry_checks(metadata: dict[str, Any], spec: bytes | None) -> dict[str, Any]:
    """metadata.json naming the bundle's verification.yaml (and its sha256), validated again."""
    if spec is None:
        return metadata
    named = {**metadata, "verification_spec": {"path": SPEC_FILE, "sha256": sha256_bytes(spec)}}
    return dict(validate_document(named, PATCH_METADATA))
