"""The checks a patch brings: verification.yaml derived from the incident and the change, in the bundle."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from fix_agent.fix import find_fix
from fix_agent.identity import Target
from fix_agent.playbooks import PLAYBOOKS
from fix_agent.verification_checks import Change, CheckTimings, Signal, derive_spec, render_spec
from pathops_contracts.bundles import read_member
from pathops_contracts.contracts import PATCH_METADATA, validate_document
from pathops_contracts.errors import ContractViolation
from pathops_contracts.verification_spec import parse_spec
from tests.fix_agent import scenarios
from tests.fix_agent.scenarios import SERVED_LOG, snapshot_dir, source_tree

SHA = "4f2c1d8e9a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d"
NS = "shop-frontend-preflight"
SERVICE = {"metadata": {"name": "shop-frontend", "namespace": NS},
           "spec": {"selector": {"app": "shop-frontend"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}


def bundle_of(tmp_path: Path, findings: list[dict[str, Any]], log: str = SERVED_LOG,
              files: dict[str, str] | None = None, keys: list[str] | None = None) -> tuple[Any, Path]:
    source = source_tree(tmp_path / "source", "plain", files)
    live = scenarios.live_container(files["deploy/deployment.yaml"]) if files else None
    snapshot = snapshot_dir(tmp_path / "snapshot", findings, log, keys, live=live)
    (tmp_path / "snapshot" / "objects" / "services.jsonl").write_text(json.dumps(SERVICE) + "\n")
    (tmp_path / "scratch").mkdir()
    return find_fix(snapshot, source, SHA, PLAYBOOKS, tmp_path / "scratch"), tmp_path / "scratch"


def spec_in(bundle: Path) -> tuple[str, dict[str, Any]]:
    text = read_member(bundle, "verification.yaml").decode()
    return text, parse_spec(text, "verification.yaml")


def test_probe_path_fix_brings_rollout_http_on_the_new_path_and_restarts(tmp_path: Path) -> None:
    outcome, _ = bundle_of(tmp_path, [scenarios.probe_finding()])
    assert outcome.status == "patch", outcome.attempts
    text, spec = spec_in(outcome.bundle)
    kinds = [check["type"] for check in spec["checks"]]
    assert kinds == ["rollout", "http", "restarts"]
    http = spec["checks"][1]
    # Through the Service that selects the failing pods, on the path the patch sets, expecting 200 repeatedly.
    assert http["url"] == f"http://shop-frontend.{NS}.svc/health"
    assert http["expectStatus"] == 200 and http["count"] >= 3 and http["failureLimit"] == 0
    assert spec["checks"][0]["workload"] == spec["checks"][2]["workload"] == "deployment/shop-frontend"
    # metadata.json names it, bound by its sha256.
    assert outcome.metadata["verification_spec"] == {
        "path": "verification.yaml", "sha256": hashlib.sha256(text.encode()).hexdigest()}
    stored = json.loads(read_member(outcome.bundle, "metadata.json"))
    assert stored["verification_spec"] == outcome.metadata["verification_spec"]
    assert stored["recommended_checks"]  # the human checks stay


def test_oom_fix_watches_for_oomkilled_and_queries_memory_when_prometheus_is_configured() -> None:
    target = Target("Deployment", "shop-frontend", NS, "web", "web-1", scenarios.live_container(),
                    {"app": "shop-frontend"})
    change = Change({("resources", "limits", "memory"): "256Mi"}, {})
    plain = derive_spec(Signal("oom-killed", target, (SERVICE,)), change, CheckTimings(restarts_window="5m"))
    assert plain is not None
    assert [c["type"] for c in plain["checks"]] == ["rollout", "restarts"]
    assert plain["checks"][1]["window"] == "5m" and "OOMKilled" in plain["checks"][1]["name"]
    with_prometheus = derive_spec(Signal("oom-killed", target, (SERVICE,)), change, prometheus=True)
    assert with_prometheus is not None
    (query,) = [c for c in with_prometheus["checks"] if c["type"] == "prometheus"]
    assert 'container="web"' in query["query"] and query["successCondition"] == "result < 0.8"
    parse_spec(render_spec(with_prometheus, "oom").decode(), "derived")


def test_config_key_fix_checks_the_containers_start(tmp_path: Path) -> None:
    outcome, _ = bundle_of(tmp_path, [scenarios.configmap_finding()], keys=["database_url", "flags"])
    assert outcome.status == "patch", outcome.attempts
    _, spec = spec_in(outcome.bundle)
    assert [c["type"] for c in spec["checks"]] == ["rollout", "restarts"]
    assert "CreateContainerConfigError" in spec["checks"][0]["name"]


def test_image_tag_fix_expects_the_pods_on_the_new_image(tmp_path: Path) -> None:
    stale = "harbor.demo.pathops.io/shop/shop-frontend:0123456789ab"
    files = {"deploy/deployment.yaml": scenarios.DEPLOYMENT.replace(
        "harbor.demo.pathops.io/shop/shop-frontend:1.4.0", stale)}
    source = source_tree(tmp_path / "source", "plain", files)
    snapshot = snapshot_dir(tmp_path / "snapshot", [scenarios.image_pull_finding(stale)], commit=SHA,
                            live=scenarios.live_container(files["deploy/deployment.yaml"]))
    (tmp_path / "scratch").mkdir()
    outcome = find_fix(snapshot, source, SHA, PLAYBOOKS, tmp_path / "scratch")
    assert outcome.status == "patch", outcome.attempts
    _, spec = spec_in(outcome.bundle)
    assert spec["checks"][0]["expectImage"] == f"harbor.demo.pathops.io/shop/shop-frontend:{SHA[:12]}"


def test_port_fix_checks_the_service_port(tmp_path: Path) -> None:
    finding = scenarios.probe_finding()
    finding["facts"].update({"status_code": None, "port": 9090, "message": "connection refused"})
    files = {"deploy/deployment.yaml": scenarios.DEPLOYMENT.replace("port: 8080", "port: 9090"),
             "Dockerfile": "FROM python:3.12-slim\nEXPOSE 8080\n", "app.py": scenarios.APP}
    outcome, _ = bundle_of(tmp_path, [finding], log="Starting shop-frontend on 0.0.0.0:8080\n", files=files)
    assert outcome.status == "patch", outcome.attempts
    _, spec = spec_in(outcome.bundle)
    (http,) = [c for c in spec["checks"] if c["type"] == "http"]
    assert http["url"].startswith(f"http://shop-frontend.{NS}.svc/")


def test_no_service_for_the_pods_means_no_http_check_rather_than_a_wrong_one() -> None:
    target = Target("Deployment", "shop-frontend", NS, "web", "web-1", scenarios.live_container(), {"app": "other"})
    spec = derive_spec(Signal("probe-failure", target, (SERVICE,)),
                       Change({("readinessProbe", "httpGet", "path"): "/health"}, {}))
    assert spec is not None and [c["type"] for c in spec["checks"]] == ["rollout", "restarts"]
    pod_only = Target("Pod", "web-1", NS, "web", "web-1", scenarios.live_container(), {})
    assert derive_spec(Signal("probe-failure", pod_only), Change({}, {})) is None


def test_no_fix_bundle_carries_no_checks(tmp_path: Path) -> None:
    outcome, _ = bundle_of(tmp_path, [scenarios.probe_finding(status=500)])
    assert outcome.status == "no_fix"
    assert "verification_spec" not in outcome.metadata
    with pytest.raises(ContractViolation, match=r"has no verification\.yaml"):
        read_member(outcome.bundle, "verification.yaml")
    forged = {**outcome.metadata, "verification_spec": {"path": "verification.yaml", "sha256": "0" * 64}}
    with pytest.raises(ContractViolation):
        validate_document(forged, PATCH_METADATA)


def test_timings_come_from_the_operator() -> None:
    timings = CheckTimings.from_environment({"VERIFICATION_ROLLOUT_TIMEOUT": "4s",
                                             "VERIFICATION_RESTARTS_WINDOW": "3s"})
    assert timings.rollout() == {"interval": "1s", "count": 4} and timings.restarts_window == "3s"
    assert CheckTimings().rollout() == {"interval": "5s", "count": 60}
    with pytest.raises(ValueError, match="VERIFICATION_RESTARTS_WINDOW"):
        CheckTimings.from_environment({"VERIFICATION_RESTARTS_WINDOW": "forever"})
    assert YAML(typ="safe").load(render_spec({"checks": [{"name": "a", "type": "rollout",
                                                          "workload": "deployment/x"}]}, "x"))
