"""The engine's pure parts: key matching, probe route choice, the Helm renderer, the proof's verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from fix_agent.helm_render import Unrenderable, render_chart
from fix_agent.identity import Target
from fix_agent.line_edits import line_candidates
from fix_agent.playbooks.app_source import source_env_reads
from fix_agent.playbooks.pod_logs import missing_env_names
from fix_agent.playbooks.probe_path import choose_probe_path
from fix_agent.proof import Expectation, Search, prove_edits
from fix_agent.rendering import RenderContext, render_all
from fix_agent.similarity import closest, distance
from tests.fix_agent import helm_create
from tests.fix_agent.corpus import write_files


def test_a_transposition_is_one_edit() -> None:
    assert distance("REDIS_HOTS", "REDIS_HOST") == 1
    assert distance("REDIS_HOTS", "REDIS_PORT") == 3
    assert closest("REDIS_HOTS", ["REDIS_HOST", "REDIS_PORT"])[0] == "REDIS_HOST"  # the old engine refused this
    assert closest("databse_url", ["database_url", "flags"])[0] == "database_url"


def test_a_real_tie_is_refused_naming_the_candidates() -> None:
    name, why = closest("REDIS_HOTS", ["REDIS_HOST", "REDIS_HOTZ"])
    assert name is None and "REDIS_HOST" in why and "REDIS_HOTZ" in why
    assert closest("completely_other", ["database_url"])[0] is None


@pytest.mark.parametrize(("probe", "old", "routes", "served", "expected"), [
    # the liveness route answered 2xx, but a readiness probe belongs on the readiness route
    ("readiness", "/ready", {"/readyz", "/livez"}, {"/livez": {200}}, "/readyz"),
    ("liveness", "/live", {"/readyz", "/livez"}, {"/readyz": {200}}, "/livez"),
    ("liveness", "/healthz", {"/readyz", "/health"}, {"/readyz": {200}}, "/health"),  # generic, never readiness
    ("startup", "/started", {"/startup", "/livez"}, {}, "/startup"),
    ("readiness", "/healthz", {"/health", "/readyz"}, {}, "/health"),  # a one-to-one rename wins
    ("readiness", "/healthz", {"/ready", "/readiness"}, {}, None),  # two readiness routes: ambiguous
    ("readiness", "/ready", {"/livez"}, {}, None),  # only the other role's route: refuse
])
def test_probe_routes_fit_the_probe_role(probe: str, old: str, routes: set[str], served: dict[str, set[int]],
                                         expected: str | None) -> None:
    assert choose_probe_path(probe, old, routes, served)[0] == expected


def test_missing_env_names_and_the_reads_in_four_languages(tmp_path: Path) -> None:
    assert missing_env_names(["KeyError: 'DATABASE_URL'"]) == ["DATABASE_URL"]
    assert missing_env_names(["Error: DATABASE_URL is not set"]) == ["DATABASE_URL"]
    assert missing_env_names(["panic: DATABASE_URL must be set"]) == ["DATABASE_URL"]
    write_files(tmp_path, {"a.py": 'os.getenv("A_URL")\nos.environ["B_URL"]\n', "b.js": "process.env.C_URL\n",
                           "c.go": 'os.Getenv("D_URL")\n', "d.js": "const x = 'E_URL'\n"})
    assert sorted(source_env_reads(tmp_path)) == ["A_URL", "B_URL", "C_URL", "D_URL"]


def test_the_helm_renderer_renders_a_helm_create_chart(tmp_path: Path) -> None:
    write_files(tmp_path, helm_create.chart("shop", "chart", "harbor/shop", "abc123"))
    objects = {o["kind"]: o for o in render_chart(tmp_path / "chart", "shop", "ns")}
    assert sorted(objects) == ["Deployment", "Service", "ServiceAccount"]  # autoscaling off: no HPA
    deployment = objects["Deployment"]
    assert deployment["metadata"]["name"] == "shop"  # the release contains the chart name
    assert deployment["metadata"]["labels"]["helm.sh/chart"] == "shop-0.1.0"
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["name"] == "shop" and container["image"] == "harbor/shop:abc123"
    assert container["resources"] == {"limits": {"memory": "128Mi"}, "requests": {"cpu": "100m", "memory": "64Mi"}}
    assert container["readinessProbe"] == {"httpGet": {"path": "/healthz", "port": "http"}}
    assert container["env"] == [{"name": "LOG_LEVEL", "value": "info"}]
    assert objects["Service"]["spec"]["ports"][0]["targetPort"] == "http"
    other = {o["kind"]: o for o in render_chart(tmp_path / "chart", "prod", "ns")}
    assert other["Deployment"]["metadata"]["name"] == "prod-shop"


def test_the_helm_renderer_refuses_what_it_does_not_implement(tmp_path: Path) -> None:
    files = helm_create.chart("shop", "chart", "harbor/shop", "abc")
    files["chart/templates/extra.yaml"] = "kind: ConfigMap\ndata:\n  x: {{ lookup \"v1\" \"Secret\" \"ns\" \"x\" }}\n"
    write_files(tmp_path, files)
    with pytest.raises(Unrenderable, match="lookup"):
        render_chart(tmp_path / "chart", "shop", "ns")


def _target(container: dict[str, object]) -> Target:
    return Target("Deployment", "web", "shop", "web", "web-1", container, {})


MULTI = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: worker}
spec:
  template:
    spec:
      containers:
        - name: worker
          image: x/worker:1
          resources: {limits: {memory: 128Mi}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      containers:
        - name: web
          image: x/web:1
          resources: {limits: {memory: 128Mi}}
"""


def test_the_proof_refuses_an_edit_of_another_workload_with_the_same_value(tmp_path: Path) -> None:
    write_files(tmp_path, {"deploy/all.yaml": MULTI})
    expectation = Expectation(_target({"name": "web", "resources": {"limits": {"memory": "128Mi"}}}),
                              {("resources", "limits", "memory"): "256Mi"})
    context = RenderContext("shop", "shop")
    both = MULTI.replace("128Mi", "256Mi")
    problems = prove_edits(tmp_path, context, expectation, {"deploy/all.yaml": both})
    assert any("worker" in p and "unintended change" in p for p in problems)
    only_web = MULTI[::-1].replace("iM821", "iM652", 1)[::-1]
    assert prove_edits(tmp_path, context, expectation, {"deploy/all.yaml": only_web}) == []
    assert (tmp_path / "deploy/all.yaml").read_text() == MULTI  # the tree is left as it was
    assert prove_edits(tmp_path, context, expectation, {"deploy/all.yaml": MULTI})[0].startswith(
        "the edit changes nothing")


def test_the_proof_checks_the_port_chain(tmp_path: Path) -> None:
    manifest = ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n"
                "    metadata: {labels: {app: web}}\n    spec:\n      containers:\n        - name: web\n"
                "          ports: [{name: http, containerPort: 8000}]\n"
                "          readinessProbe: {httpGet: {path: /readyz, port: 8000}}\n---\n"
                "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n"
                "  ports: [{port: 80, targetPort: 8000}]\n")
    write_files(tmp_path, {"deploy/web.yaml": manifest})
    live = {"name": "web", "ports": [{"name": "http", "containerPort": 8000}],
            "readinessProbe": {"httpGet": {"path": "/readyz", "port": 8000}}}
    expectation = Expectation(_target(live), {("readinessProbe", "httpGet", "port"): 8080},
                              service_ports={8000: 8080})
    context = RenderContext("shop", "shop")
    probe_only = manifest.replace("path: /readyz, port: 8000", "path: /readyz, port: 8080")
    problems = prove_edits(tmp_path, context, expectation, {"deploy/web.yaml": probe_only})
    assert any("readinessProbe port 8080 is not a port of container web" in p for p in problems)
    expectation.optional[("ports", "[0]", "containerPort")] = 8080
    # containerPort and probe moved, the Service left behind: Ready pods that take no traffic
    service_left = probe_only.replace("containerPort: 8000", "containerPort: 8080")
    problems = prove_edits(tmp_path, context, expectation, {"deploy/web.yaml": service_left})
    assert any("Service web targets port 8000, which container web does not declare" in p for p in problems)
    assert prove_edits(tmp_path, context, expectation, {"deploy/web.yaml": manifest.replace("8000", "8080")}) == []


def test_kustomize_roots_are_the_overlays(tmp_path: Path) -> None:
    write_files(tmp_path, {
        "k8s/base/kustomization.yaml": "resources: [cm.yaml]\n",
        "k8s/base/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n",
        "k8s/overlays/dev/kustomization.yaml": "namespace: dev\nresources: [../../base]\n",
        "k8s/overlays/prod/kustomization.yaml": "namespace: prod\nresources: [../../base]\n",
        "ci/.gitlab-ci.yml": "x: 1\n", "docs/mkdocs.yml": "site_name: x\n"})
    rendered = render_all(tmp_path, RenderContext("shop", "shop"))
    assert sorted(rendered) == ["kustomize:k8s/overlays/dev", "kustomize:k8s/overlays/prod"]
    assert list(rendered["kustomize:k8s/overlays/dev"].objects) == [("ConfigMap", "dev", "c")]
    assert "k8s/base" in rendered["kustomize:k8s/overlays/dev"].inputs


def test_a_chart_deployed_with_an_environment_values_file(tmp_path: Path) -> None:
    files = helm_create.chart("shop", "chart", "harbor/shop", "abc")
    files["chart/values-preflight.yaml"] = ("readinessProbe:\n  httpGet:\n    path: /ready  # preflight\n"
                                           "    port: http\n")
    write_files(tmp_path, files)
    context = RenderContext("shop", "shop")
    rendered = render_all(tmp_path, context)
    assert sorted(rendered) == ["helm:chart", "helm:chart@values-preflight.yaml"]
    live = {"name": "shop", "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}}}
    expectation = Expectation(Target("Deployment", "shop", "shop", "shop", "shop-1", live, {}),
                              {("readinessProbe", "httpGet", "path"): "/readyz"})
    fixed = files["chart/values-preflight.yaml"].replace("/ready ", "/readyz ")
    assert prove_edits(tmp_path, context, expectation, {"chart/values-preflight.yaml": fixed}) == []
    # values.yaml is overridden by the environment file for this field: editing it does not fix what runs
    wrong = files["chart/values.yaml"].replace("path: /healthz", "path: /readyz")
    assert any("is '/ready', not '/readyz'" in p for p in
               prove_edits(tmp_path, context, expectation, {"chart/values.yaml": wrong}))


def test_a_search_past_its_budget_gives_up_with_the_reason(tmp_path: Path) -> None:
    write_files(tmp_path, {"deploy/all.yaml": MULTI})
    expectation = Expectation(_target({"name": "web", "resources": {"limits": {"memory": "128Mi"}}}),
                              {("resources", "limits", "memory"): "256Mi"})
    ticks = iter([0.0, 1000.0])
    search = Search(tmp_path, RenderContext("shop", "shop"), expectation, budget_seconds=60,
                    clock=lambda: next(ticks))
    candidates = line_candidates(tmp_path, lambda key, value: "256Mi" if value == "128Mi" else None)
    assert len(candidates) == 2
    assert search.run(candidates) is None
    assert "budget of 60s ran out after trying 0 of 2 candidate lines" in search.notes[-1]
