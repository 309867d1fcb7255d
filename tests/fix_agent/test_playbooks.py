"""Playbooks per scenario: the patch applies with git am --3way, and it is the expected change."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from fix_agent.fix import find_fix
from fix_agent.playbooks import PLAYBOOKS
from fix_agent.playbooks.memory_limit import format_memory, parse_memory, raised_memory_limit
from pathops_contracts.errors import ContractViolation
from tests.fix_agent import scenarios
from tests.fix_agent.scenarios import SERVED_LOG, apply_mbox, real_repository, snapshot_dir, source_tree

SHA = "4f2c1d8e9a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d"


def run(tmp_path: Path, layout: str, findings: list[dict], log: str = SERVED_LOG, files: dict | None = None,
        keys: list[str] | None = None):  # type: ignore[no-untyped-def]
    source = source_tree(tmp_path / "source", layout, files)
    live = scenarios.live_container(files["deploy/deployment.yaml"]) if files and "deploy/deployment.yaml" in files \
        else None
    snapshot = snapshot_dir(tmp_path / "snapshot", findings, log, keys, live=live)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return source, find_fix(snapshot, source, SHA, PLAYBOOKS, scratch)


def applied(tmp_path: Path, source: Path, mbox: str) -> Path:
    repository, _ = real_repository(source, tmp_path / "real")
    result = apply_mbox(repository, mbox)
    assert result.returncode == 0, result.stderr
    return repository


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    return [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]


@pytest.mark.parametrize(
    ("layout", "file", "line"),
    [
        ("plain", "deploy/deployment.yaml", "            path: /healthz   # changed in the last release"),
        ("helm", "chart/values.yaml", "    path: /healthz  # see templates/deployment.yaml"),
        ("kustomize", "k8s/overlays/preflight/probe.yaml", "              path: /healthz  # preflight override"),
    ],
)
def test_probe_path(tmp_path: Path, layout: str, file: str, line: str) -> None:
    # Only the value changes, on its own line; the comment stays.
    expected = [(line, line.replace("/healthz", "/health"))]
    source, outcome = run(tmp_path, layout, [scenarios.probe_finding()])
    assert outcome.status == "patch", outcome.attempts
    assert outcome.metadata["files_touched"] == [file]
    assert outcome.metadata["engine"] == {"name": "playbook", "playbook": "probe-path", "model": None}
    assert outcome.metadata["confidence"] == 0.9  # route in app.py and 200s in the logs
    assert outcome.mbox is not None
    repository = applied(tmp_path, source, outcome.mbox)
    assert changed_lines((source / file).read_text(), (repository / file).read_text()) == expected
    assert "Fix readiness probe path: /healthz -> /health" in outcome.summary


def test_probe_without_a_served_route_is_no_fix(tmp_path: Path) -> None:
    files = dict(scenarios.LAYOUTS["plain"], **{"app.py": "ROUTES = {'/': 'home'}\n"})
    _, outcome = run(tmp_path, "plain", [scenarios.probe_finding()], log="", files=files)
    assert outcome.status == "no_fix"
    assert outcome.mbox is None and outcome.metadata["patch_sha256"] is None
    assert "no route fits the readiness probe" in outcome.summary
    with tarfile.open(outcome.bundle) as archive:
        assert sorted(archive.getnames()) == ["analysis.md", "metadata.json"]


def test_probe_failing_with_500_is_not_a_path_problem(tmp_path: Path) -> None:
    _, outcome = run(tmp_path, "plain", [scenarios.probe_finding(status=500)])
    assert outcome.status == "no_fix"


def test_oom_raises_the_limit_and_keeps_a_lower_request(tmp_path: Path) -> None:
    # The request (64Mi) equals the new limit's half-or-less: it stays; only the limit doubles.
    source, outcome = run(tmp_path, "plain", [scenarios.oom_finding()])
    assert outcome.status == "patch", outcome.attempts
    repository = applied(tmp_path, source, outcome.mbox or "")
    assert changed_lines((source / "deploy/deployment.yaml").read_text(),
                         (repository / "deploy/deployment.yaml").read_text()) == [
        ("            memory: 128Mi", "            memory: 256Mi")]


def test_oom_request_equal_to_the_limit_follows_it(tmp_path: Path) -> None:
    deployment = scenarios.DEPLOYMENT.replace("memory: 64Mi", "memory: 128Mi")
    source, outcome = run(tmp_path, "plain", [scenarios.oom_finding()], files={"deploy/deployment.yaml": deployment})
    assert outcome.status == "patch", outcome.attempts
    repository = applied(tmp_path, source, outcome.mbox or "")
    assert changed_lines(deployment, (repository / "deploy/deployment.yaml").read_text()) == [
        ("            memory: 128Mi", "            memory: 256Mi"),
        ("            memory: 128Mi", "            memory: 256Mi")]


def test_a_helm_value_no_template_reads_is_not_edited(tmp_path: Path) -> None:
    # values.yaml has resources.limits.memory 128Mi, but the chart's template never renders it: editing it would
    # change nothing that is deployed, so the proof refuses (the old engine patched it).
    _, outcome = run(tmp_path, "helm", [scenarios.oom_finding()])
    assert outcome.status == "no_fix"
    assert "no deploy root renders" in outcome.summary or "no edit could be proven" in outcome.summary


def test_oom_at_the_cap_is_no_fix(tmp_path: Path) -> None:
    files = {"deploy/deployment.yaml": scenarios.DEPLOYMENT.replace("memory: 128Mi", "memory: 4Gi")}
    _, outcome = run(tmp_path, "plain", [scenarios.oom_finding("4Gi")], files=files)
    assert outcome.status == "no_fix" and "cap" in outcome.summary


def test_memory_rule() -> None:
    assert format_memory(raised_memory_limit(parse_memory("128Mi") or 0) or 0) == "256Mi"
    assert format_memory(raised_memory_limit(parse_memory("100Mi") or 0) or 0) == "256Mi"  # 200 -> next 64Mi
    assert format_memory(raised_memory_limit(parse_memory("3Gi") or 0) or 0) == "4Gi"
    assert raised_memory_limit(parse_memory("4Gi") or 0) is None


def test_configmap_key_typo(tmp_path: Path) -> None:
    source, outcome = run(tmp_path, "plain", [scenarios.configmap_finding()])
    assert outcome.status == "patch", outcome.attempts
    repository = applied(tmp_path, source, outcome.mbox or "")
    assert changed_lines((source / "deploy/deployment.yaml").read_text(),
                         (repository / "deploy/deployment.yaml").read_text()) == [
        ("              key: databse_url", "              key: database_url")]


def test_configmap_key_without_a_close_match_is_no_fix(tmp_path: Path) -> None:
    _, outcome = run(tmp_path, "plain", [scenarios.configmap_finding("completely_other")])
    assert outcome.status == "no_fix"


def test_same_evidence_gives_the_same_patch(tmp_path: Path) -> None:
    _, first = run(tmp_path / "a", "plain", [scenarios.probe_finding()])
    _, second = run(tmp_path / "b", "plain", [scenarios.probe_finding()])
    assert first.mbox == second.mbox
    assert first.bundle.read_bytes() == second.bundle.read_bytes()


def test_metadata_and_analysis_in_the_bundle(tmp_path: Path) -> None:
    _, outcome = run(tmp_path, "plain", [scenarios.probe_finding()])
    with tarfile.open(outcome.bundle) as archive:
        assert sorted(archive.getnames()) == ["analysis.md", "metadata.json", "patch.mbox", "verification.yaml"]
        metadata = json.loads(archive.extractfile("metadata.json").read())  # type: ignore[union-attr]
        analysis = archive.extractfile("analysis.md").read().decode()  # type: ignore[union-attr]
    assert metadata["source_commit_sha"] == SHA and metadata["snapshot_id"] == "snap-" + "5" * 32
    assert "## What was tried" in analysis and "probe-path`: proposed" in analysis
    assert "## Playbooks: preconditions and confidence" in analysis
    assert "- `probe-path` (confidence 0.9): an HTTP probe fails with 4xx" in analysis
    assert "failing container: deployment/shop-frontend container web (pod web-1)" in analysis
    assert "proven by rendering every deploy root before and after the edit of deploy/deployment.yaml:18" in analysis


STALE = "harbor.demo.pathops.io/shop/shop-frontend:0123456789ab"


@pytest.mark.parametrize(("image", "commit", "fixed"), [
    (STALE, SHA, f"harbor.demo.pathops.io/shop/shop-frontend:{SHA[:12]}"),
    ("harbor.demo.pathops.io/shop/shop-frontend:1.4.0", SHA, None),  # a release tag: a person decides
    (f"harbor.demo.pathops.io/shop/shop-frontend:{SHA[:12]}", SHA, None),  # right tag, image missing
    (STALE, None, None),  # the deployed commit is unknown
])
def test_image_tag_that_names_another_commit(tmp_path: Path, image: str, commit: str | None,
                                             fixed: str | None) -> None:
    files = {"deploy/deployment.yaml": scenarios.DEPLOYMENT.replace(
        "harbor.demo.pathops.io/shop/shop-frontend:1.4.0", image)}
    source = source_tree(tmp_path / "source", "plain", files)
    snapshot = snapshot_dir(tmp_path / "snapshot", [scenarios.image_pull_finding(image)], commit=commit,
                            live=scenarios.live_container(files["deploy/deployment.yaml"]))
    (tmp_path / "scratch").mkdir()
    outcome = find_fix(snapshot, source, SHA, PLAYBOOKS, tmp_path / "scratch")
    if fixed is None:
        assert outcome.status == "no_fix"
        return
    assert outcome.status == "patch", outcome.attempts
    repository = applied(tmp_path, source, outcome.mbox or "")
    assert changed_lines((source / "deploy/deployment.yaml").read_text(),
                         (repository / "deploy/deployment.yaml").read_text()) == [
        (f"        image: {image}", f"        image: {fixed}")]


def test_probe_port_that_the_app_does_not_listen_on(tmp_path: Path) -> None:
    finding = scenarios.probe_finding()
    finding["facts"].update({"status_code": None, "port": 9090, "message": "dial tcp 10.0.0.5:9090: connect: "
                                                                          "connection refused"})
    files = {"deploy/deployment.yaml": scenarios.DEPLOYMENT.replace("port: 8080", "port: 9090"),
             "Dockerfile": "FROM python:3.12-slim\nEXPOSE 8080\n", "app.py": scenarios.APP}
    source, outcome = run(tmp_path, "plain", [finding], log="Starting shop-frontend on 0.0.0.0:8080\n", files=files)
    assert outcome.status == "patch", outcome.attempts
    assert outcome.metadata["engine"]["playbook"] == "port-chain"
    repository = applied(tmp_path, source, outcome.mbox or "")
    assert changed_lines((source / "deploy/deployment.yaml").read_text(),
                         (repository / "deploy/deployment.yaml").read_text()) == [
        ("            port: 9090", "            port: 8080")]


def test_service_target_port_mismatch(tmp_path: Path) -> None:
    service = ("apiVersion: v1\nkind: Service\nmetadata:\n  name: shop-frontend\nspec:\n  selector:\n"
               "    app: shop-frontend\n  ports:\n    - port: 80\n      targetPort: 8000  # the old port\n")
    finding = {"kind": "service-port-mismatch", "severity": "high", "title": "service targets 8000", "detail": "",
               "objects": [], "pointers": [],
               "facts": {"service": "shop-frontend", "target_port": 8000, "container_ports": [8080]}}
    files = dict(scenarios.LAYOUTS["plain"], **{"deploy/service.yaml": service})
    source, outcome = run(tmp_path, "plain", [finding], log="Listening on 0.0.0.0:8080\n", files=files)
    assert outcome.status == "patch", outcome.attempts
    repository = applied(tmp_path, source, outcome.mbox or "")
    assert outcome.metadata["files_touched"] == ["deploy/service.yaml"]
    assert "targetPort: 8080  # the old port" in (repository / "deploy/service.yaml").read_text()
    # The app's port is not known (no log line, two EXPOSEd ports): nothing is guessed.
    unknown = dict(files, Dockerfile="FROM python:3.12-slim\nEXPOSE 8080 9090\nEXPOSE 9090\n")
    _, refused = run(tmp_path / "two", "plain", [finding], log="", files=unknown)
    assert refused.status == "no_fix"


def test_a_probe_path_the_source_serves_is_not_changed(tmp_path: Path) -> None:
    # /healthz is a route of the app: the 404 comes from somewhere else (a base path, a proxy), so moving the
    # probe to /health would hide the problem. The old engine did exactly that.
    files = dict(scenarios.LAYOUTS["plain"], **{"app.py": 'ROUTES = {"/health": "ok", "/healthz": "ok"}\n'})
    _, outcome = run(tmp_path, "plain", [scenarios.probe_finding()], files=files)
    assert outcome.status == "no_fix"
    assert "the source serves /healthz" in outcome.summary


def test_renamed_readiness_and_liveness_routes_are_fixed_together(tmp_path: Path) -> None:
    deployment = scenarios.DEPLOYMENT.replace(
        "            path: /healthz   # changed in the last release\n            port: 8080\n",
        "            path: /ready\n            port: 8080\n        livenessProbe:\n          httpGet:\n"
        "            path: /live\n            port: 8080\n")
    files = {"deploy/deployment.yaml": deployment, "app.py": 'ROUTES = {"/readyz": 1, "/livez": 1}\n'}
    liveness = scenarios.probe_finding("/live")
    liveness["facts"]["probe"] = "liveness"
    source, outcome = run(tmp_path, "plain", [scenarios.probe_finding("/ready"), liveness],
                          log="GET /livez 200\nGET /ready 404\n", files=files)
    assert outcome.status == "patch", outcome.attempts
    assert outcome.summary == "Fix liveness and readiness probe paths: /live -> /livez, /ready -> /readyz"
    repository = applied(tmp_path, source, outcome.mbox or "")
    assert changed_lines(deployment, (repository / "deploy/deployment.yaml").read_text()) == [
        ("            path: /ready", "            path: /readyz"),
        ("            path: /live", "            path: /livez")]


def test_malformed_findings_are_ignored_not_fatal(tmp_path: Path) -> None:
    # The envelope (kind, severity, title, detail, facts) is the loader's contract (a violation is a
    # ContractViolation, see test_snapshot_bombs); inside it, hostile facts are skipped by every playbook.
    envelope = {"severity": "high", "title": "t", "detail": ""}
    hostile = [
        {**envelope, "kind": "probe-failure", "facts": {"pod": "web-1", "container": "web", "probe": "readiness",
                                                        "status_code": "404; rm -rf /", "path": "/healthz"}},
        {**envelope, "kind": "oom-killed", "facts": {"pod": None, "container": ["web"]}},
        {**envelope, "kind": "", "facts": {"pod": "web-1"}},
        {**envelope, "kind": "crash-loop", "facts": {"pod": "../../etc", "container": "passwd",
                                                     "last_lines": "KeyError", "exit_code": 127}},
        {**envelope, "kind": "service-no-pods", "facts": {"service": ["web"]}},
        {**envelope, "kind": "unschedulable", "facts": {"pod": "../x", "message": "didn't match Pod's node "
                                                        "affinity/selector"}},
    ]
    _, outcome = run(tmp_path, "plain", hostile)  # type: ignore[arg-type]
    assert outcome.status == "no_fix" and outcome.mbox is None


def test_findings_that_break_their_contract_are_refused_not_guessed_at(tmp_path: Path) -> None:
    # A finding without kind, or one that is not an object, is a snapshot that broke its contract (exit 4).
    with pytest.raises(ContractViolation, match=r"findings\.json .* is not a list of findings"):
        run(tmp_path, "plain", [{"facts": {"pod": "web-1"}}, "not a finding"])  # type: ignore[list-item]
