"""The fix engine's scenario corpus: failure classes x repository layouts, plus out-of-class incidents.

A scenario is a repository (plain manifests, kustomize base + overlays, a `helm create` chart, or
several workloads in one multi-document file) and a failure. The cluster is built from what the
repository renders (so live objects are what Argo CD would have applied), the failure is injected
into the failing workload's pods, events and logs, the real evidence collector reads it from the
fake Kubernetes API, and the fix engine gets the snapshot. `judge` applies the patch to a real git
checkout and compares what is rendered after it with what the scenario expects: only the failing
container's fields change, to the expected values.
"""

from __future__ import annotations

import copy
import io
import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from fix_agent.fix import FixOutcome, find_fix
from fix_agent.proposal import Engine
from fix_agent.rendering import RenderContext, containers, flatten, render_all
from fix_agent.snapshot import Snapshot, load_snapshot
from pathops_runtime.git_env import GitIdentity, git_environment
from pathops_testbed.http_server import BackgroundServer
from pathops_testbed.kube_api import FakeKubernetes, StaticLog, write_kubeconfig
from pathops_testbed.kube_objects import ago, event, pod, replicaset, running, waiting
from tests.fix_agent import helm_create

SHA = "4f2c1d8e9a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d"
OLD_SHA = "0123456789abcdef0123456789abcdef01234567"
REGISTRY = "harbor.demo.pathops.io/shop"
NS = "shop-preflight"
LAYOUTS = ("plain", "kustomize", "helm", "multi")
BREADTH_LAYOUTS = ("plain", "kustomize")  # the everyday classes of issue 19: no Helm cells (renders cost time)
BIN = Path(sys.executable).parent


def _yaml(*documents: Any) -> str:
    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    buffer = io.StringIO()
    yaml.dump_all(list(documents), buffer)
    return buffer.getvalue()


# -- the application --------------------------------------------------------------------------------------------

def app_source(routes: list[str], env_reads: list[str], language: str = "python") -> dict[str, str]:
    if language == "node":
        body = "const routes = {" + ", ".join(f"'{r}': ok" for r in routes) + "};\n" + "".join(
            f"const {n.lower()} = process.env.{n};\nif (!{n.lower()}) throw new Error('{n} is not set');\n"
            for n in env_reads)
        return {"server.js": "// shop web server\nconst ok = () => 'ok';\n" + body}
    if language == "go":
        body = "".join(f'\tmux.HandleFunc("{r}", ok)\n' for r in routes) + "".join(
            f'\tif os.Getenv("{n}") == "" {{\n\t\tpanic("{n} must be set")\n\t}}\n' for n in env_reads)
        return {"main.go": "package main\n\nimport \"os\"\n\nfunc main() {\n" + body + "}\n"}
    body = "ROUTES = {" + ", ".join(f'"{r}": "ok"' for r in routes) + "}\n" + "".join(
        f'{n} = os.environ["{n}"]\n' for n in env_reads)
    return {"app/main.py": '"""shop web."""\nimport os\n\n' + body}


def web_container(name: str = "web", image_tag: str = SHA[:12]) -> dict[str, Any]:
    return {
        "name": name, "image": f"{REGISTRY}/{name}:{image_tag}",
        "ports": [{"name": "http", "containerPort": 8080}],
        "env": [{"name": "LOG_LEVEL", "value": "info"},
                {"name": "REDIS_HOST", "valueFrom": {"configMapKeyRef": {"name": "shop-config", "key": "REDIS_HOST"}}},
                {"name": "DATABASE_URL", "value": "postgres://db:5432/shop"}],
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/livez", "port": "http"}, "periodSeconds": 10},
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "192Mi"}},
    }


def deployment(name: str, container: dict[str, Any]) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": dict(labels)},
            "spec": {"replicas": 2, "selector": {"matchLabels": dict(labels)},
                     "template": {"metadata": {"labels": dict(labels)}, "spec": {"containers": [container]}}}}


def service(name: str, target_port: int | str = "http") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app.kubernetes.io/name": name},
                     "ports": [{"name": "http", "port": 80, "targetPort": target_port}]}}


CONFIGMAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shop-config"},
             "data": {"REDIS_HOST": "redis", "REDIS_PORT": "6379"}}


# -- a failure class: how it breaks the container, and what the fix must make of it ------------------------------

@dataclass
class Failure:
    klass: str
    mode: str  # probe-404 | probe-refused | oom | config-key | crash | image-pull | pending
    probe: str = "readiness"
    routes: tuple[str, ...] = ("/readyz", "/livez")
    env_reads: tuple[str, ...] = ("DATABASE_URL",)
    log: tuple[str, ...] = ()
    message: str = ""
    expected: dict[tuple[str, ...], Any] | None = None  # container path -> value; None: no_fix is right
    # other objects' fields after the fix: (kind, name, object path) -> value (a Service's selector)
    objects_expected: dict[tuple[str, str, tuple[str, ...]], Any] = field(default_factory=dict)
    exit_code: int = 1  # of a crash
    pod_expected: dict[tuple[str, ...], Any] = field(default_factory=dict)  # pod spec path -> value (None: goes)
    refusal: str = ""  # out of class: what the no_fix summary must say
    previous_image: str | None = None  # the failing Deployment's previous ReplicaSet still runs this image, ready


# -- layouts ----------------------------------------------------------------------------------------------------

@dataclass
class Scenario:
    name: str
    klass: str
    layout: str
    files: dict[str, str]
    failure: Failure
    workload: str  # failing Deployment
    container: str
    deployed_root: str  # key of the root Argo CD syncs, e.g. kustomize:k8s/overlays/preflight
    expected_roots: tuple[str, ...] = ()  # roots where the failing container must change (default: deployed)
    extra_objects: list[dict[str, Any]] = field(default_factory=list)
    release: str = "shop"

    @property
    def in_class(self) -> bool:
        return self.failure.expected is not None


def _plain(failure: Failure, broken: dict[str, Any], service_target: Any) -> dict[str, str]:
    return {"deploy/web.yaml": "# shop web: Deployment and Service\n" + _yaml(
        deployment("web", broken), service("web", service_target), CONFIGMAP)}


def _multi(failure: Failure, broken: dict[str, Any], service_target: Any) -> dict[str, str]:
    """A worker first, then the failing web: they share limits, tags, probe paths and env names."""
    worker = copy.deepcopy(broken)
    worker["name"] = "worker"
    worker["image"] = broken["image"].replace("/web:", "/worker:")
    # The worker keeps the value that breaks web: for the worker it is right (it listens on 8000, serves the old
    # routes, needs only 128Mi), so an edit by value instead of by identity would break it.
    if failure.mode == "crash" and failure.klass == "env-var-name":
        worker["env"] = [e for e in worker["env"] if e["name"] != "DATABSE_URL"] + [
            {"name": "DATABASE_URL", "value": "postgres://db:5432/jobs"}]
    return {"deploy/shop.yaml": "# all of shop in one file\n" + _yaml(
        deployment("worker", worker), deployment("web", broken), service("web", service_target), CONFIGMAP)}


def _changed_paths(a: Any, b: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [p for k in set(a) | set(b) for p in _changed_paths(a.get(k), b.get(k), (*prefix, k))]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [p for i, (x, y) in enumerate(zip(a, b, strict=True)) for p in _changed_paths(x, y, (*prefix, i))]
    return [] if a == b else [prefix]


def _nested(path: tuple[Any, ...], value: Any) -> Any:
    for part in reversed(path):
        value = {part: value}
    return value


def _kustomize(failure: Failure, broken: dict[str, Any], service_target: Any, healthy: dict[str, Any],
               placement: str) -> dict[str, str]:
    """Base with the healthy values; the broken value in the base, a strategic-merge patch, a JSON 6902 patch
    or the images: list of the preflight overlay; prod overrides with its own patch."""
    base = copy.deepcopy(broken if placement == "base" else healthy)
    files = {
        "k8s/base/deployment.yaml": _yaml(deployment("web", base)),
        "k8s/base/service.yaml": _yaml(service("web", service_target if placement == "base" else "http")),
        "k8s/base/kustomization.yaml": "resources:\n  - deployment.yaml\n  - service.yaml\n"
                                       "configMapGenerator:\n  - name: shop-config\n    literals:\n"
                                       "      - REDIS_HOST=redis\n      - REDIS_PORT=\"6379\"\n",
        "k8s/overlays/prod/kustomization.yaml": "namespace: shop-prod\nresources:\n  - ../../base\npatches:\n"
                                                "  - path: replicas.yaml\n",
        "k8s/overlays/prod/replicas.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
                                           "spec:\n  replicas: 6\n",
    }
    overlay = f"namespace: {NS}\nresources:\n  - ../../base\n"
    changed = _changed_paths(healthy, broken)
    if placement == "strategic":
        patch = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                 "spec": {"template": {"spec": {"containers": [{"name": "web"}]}}}}
        for path in changed:
            merged = _nested(path, _get(broken, path))
            container = patch["spec"]["template"]["spec"]["containers"][0]
            _merge(container, merged)
        files["k8s/overlays/preflight/web-patch.yaml"] = "# preflight settings of web\n" + _yaml(patch)
        overlay += "patches:\n  - path: web-patch.yaml\n"
    elif placement == "json6902":
        ops = [{"op": "replace", "path": "/spec/template/spec/containers/0/" + "/".join(str(p) for p in path),
                "value": _get(broken, path)} for path in changed]
        files["k8s/overlays/preflight/web-ops.yaml"] = _yaml(ops)
        overlay += ("patches:\n  - path: web-ops.yaml\n    target:\n      group: apps\n      version: v1\n"
                    "      kind: Deployment\n      name: web\n")
    elif placement == "images":
        repository, _, tag = broken["image"].rpartition(":")
        overlay += f"images:\n  - name: {repository}\n    newTag: \"{tag}\"\n"
        files["k8s/base/deployment.yaml"] = _yaml(deployment("web", {**base, "image": f"{repository}:latest"}))
    files["k8s/overlays/preflight/kustomization.yaml"] = overlay
    return files


def _get(container: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        container = container[part]
    return container


def _merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _helm(failure: Failure, broken: dict[str, Any]) -> dict[str, str]:
    """A `helm create` chart whose values carry the broken container (the container is named after the chart)."""
    values = YAML(typ="safe", pure=True).load(helm_create.VALUES)
    values["image"] = {"repository": broken["image"].rpartition(":")[0], "pullPolicy": "IfNotPresent",
                       "tag": broken["image"].rpartition(":")[2]}
    values["service"]["port"] = broken["ports"][0]["containerPort"]
    values["env"] = broken["env"]
    values["resources"] = broken["resources"]
    values["livenessProbe"] = broken["livenessProbe"]
    values["readinessProbe"] = broken["readinessProbe"]
    if "startupProbe" in broken:
        values["startupProbe"] = broken["startupProbe"]
    files = helm_create.chart("shop", "chart", "x", "y")
    files["chart/values.yaml"] = "# Default values for shop.\n" + _yaml(values)
    files["chart/templates/deployment.yaml"] = files["chart/templates/deployment.yaml"].replace(
        "          readinessProbe:\n", "          {{- with .Values.startupProbe }}\n          startupProbe:\n"
        "            {{- toYaml . | nindent 12 }}\n          {{- end }}\n          readinessProbe:\n")
    return files


# -- the classes ------------------------------------------------------------------------------------------------

def failures() -> list[tuple[Failure, Callable[[dict[str, Any]], None], str]]:
    """(failure, how it breaks the container, kustomize placement)."""
    def probe(role: str, path: str) -> Callable[[dict[str, Any]], None]:
        return lambda c: c.setdefault(f"{role}Probe", {"httpGet": {"path": path, "port": "http"},
                                                        "failureThreshold": 30}).__setitem__(
            "httpGet", {"path": path, "port": "http"})

    def ports(c: dict[str, Any]) -> None:
        c["ports"][0]["containerPort"] = 8000

    def memory(c: dict[str, Any]) -> None:
        c["resources"]["limits"]["memory"] = "128Mi"  # right for the worker; the web's use grew

    def config_key(c: dict[str, Any]) -> None:
        c["env"][1]["valueFrom"]["configMapKeyRef"]["key"] = "REDIS_HOTS"

    def env_name(c: dict[str, Any]) -> None:
        c["env"][2]["name"] = "DATABSE_URL"

    def image(c: dict[str, Any]) -> None:
        c["image"] = f"{REGISTRY}/web:{OLD_SHA[:12]}"

    return [
        (Failure("probe-readiness", "probe-404", "readiness", ("/readyz", "/livez"),
                 log=("GET /livez 200", "GET /ready 404", "GET /livez 200", "GET /ready 404"),
                 expected={("readinessProbe", "httpGet", "path"): "/readyz"}), probe("readiness", "/ready"),
         "strategic"),
        (Failure("probe-liveness", "probe-404", "liveness", ("/readyz", "/health"),
                 log=("GET /readyz 200", "GET /healthz 404", "GET /readyz 200"),
                 expected={("livenessProbe", "httpGet", "path"): "/health"}), probe("liveness", "/healthz"),
         "json6902"),
        (Failure("probe-startup", "probe-404", "startup", ("/readyz", "/livez", "/startup"),
                 log=("GET /started 404", "GET /started 404"),
                 expected={("startupProbe", "httpGet", "path"): "/startup"}), probe("startup", "/started"),
         "strategic"),
        (Failure("port-chain", "probe-refused", "readiness", log=("Listening on 0.0.0.0:8080",),
                 message='Get "http://10.1.0.7:8000/readyz": dial tcp 10.1.0.7:8000: connect: connection refused',
                 expected={("ports", "[0]", "containerPort"): 8080}), ports, "base"),
        (Failure("oom", "oom", expected={("resources", "limits", "memory"): "256Mi"}), memory, "strategic"),
        (Failure("configmap-key", "config-key",
                 message=f"couldn't find key REDIS_HOTS in ConfigMap {NS}/shop-config",
                 expected={("env", "[1]", "valueFrom", "configMapKeyRef", "key"): "REDIS_HOST"}), config_key,
         "json6902"),
        (Failure("env-var-name", "crash", env_reads=("DATABASE_URL",),
                 log=("booting shop web", "Traceback (most recent call last):", '  File "app/main.py", line 5',
                      "KeyError: 'DATABASE_URL'"),
                 expected={("env", "[2]", "name"): "DATABASE_URL"}), env_name, "base"),
        (Failure("image-tag", "image-pull", message=f'Back-off pulling image "{REGISTRY}/web:{OLD_SHA[:12]}"',
                 expected={("image",): f"{REGISTRY}/web:{SHA[:12]}"}), image, "images"),
    ]


def scenarios() -> list[Scenario]:
    found = []
    for failure, breaks, placement in failures():
        for layout in LAYOUTS:
            found.append(build(failure, breaks, placement, layout))
    found += variants()
    found += out_of_class()
    found += breadth()
    return found


def variants() -> list[Scenario]:
    """In-class incidents in less common shapes: a StatefulSet, an inline flow-style JSON 6902 patch, a chart
    deployed with an environment values file that holds the broken value."""
    classes = {failure.klass: (failure, breaks) for failure, breaks, _ in failures()}
    found = []
    failure, breaks = classes["oom"]
    stateful = build(failure, breaks, "base", "plain", name="oom/plain-statefulset")
    stateful.files["deploy/web.yaml"] = stateful.files["deploy/web.yaml"].replace(
        "kind: Deployment", "kind: StatefulSet").replace("spec:\n  replicas: 2\n", "spec:\n  serviceName: web\n"
                                                         "  replicas: 2\n", 1)
    found.append(stateful)
    failure, breaks = classes["probe-readiness"]
    inline = build(failure, breaks, "base", "kustomize", name="probe-readiness/kustomize-inline-6902")
    inline.files["k8s/base/deployment.yaml"] = _yaml(deployment("web", web_container()))
    inline.files["k8s/overlays/preflight/kustomization.yaml"] = (
        f"namespace: {NS}\nresources:\n  - ../../base\npatches:\n  - target: {{kind: Deployment, name: web}}\n"
        "    patch: |-\n      - {op: replace, path: /spec/template/spec/containers/0/readinessProbe/httpGet/path, "
        "value: /ready}\n")
    inline.expected_roots = (inline.deployed_root,)
    found.append(inline)
    failure, breaks = classes["probe-liveness"]
    chart = build(failure, lambda c: None, "base", "helm", name="probe-liveness/helm-values-file")
    chart.files["chart/values-preflight.yaml"] = ("# preflight overrides\nlivenessProbe:\n  httpGet:\n"
                                                  "    path: /healthz\n    port: http\n")
    chart.deployed_root = "helm:chart@values-preflight.yaml"
    chart.expected_roots = (chart.deployed_root,)
    found.append(chart)
    failure, breaks = classes["env-var-name"]
    mapped = build(failure, breaks, "base", "helm", name="env-var-name/helm-env-map")
    values = YAML(typ="safe", pure=True).load(mapped.files["chart/values.yaml"])
    values["env"] = {"LOG_LEVEL": "info", "DATABSE_URL": "postgres://db:5432/shop"}
    mapped.files["chart/values.yaml"] = _yaml(values)
    mapped.files["chart/templates/deployment.yaml"] = mapped.files["chart/templates/deployment.yaml"].replace(
        "          {{- with .Values.env }}\n          env:\n            {{- toYaml . | nindent 12 }}\n",
        "          {{- with .Values.env }}\n          env:\n            {{- range $name, $value := . }}\n"
        "            - name: {{ $name }}\n              value: {{ $value | quote }}\n            {{- end }}\n")
    mapped.failure.expected = {("env", "[0]", "name"): "DATABASE_URL"}
    found.append(mapped)

    def secret_key(c: dict[str, Any]) -> None:
        c["env"][1] = {"name": "REDIS_PASSWORD",
                       "valueFrom": {"secretKeyRef": {"name": "shop-secrets", "key": "REDIS_PASWORD"}}}

    failure = Failure("configmap-key", "config-key",
                      expected={("env", "[1]", "valueFrom", "secretKeyRef", "key"): "REDIS_PASSWORD"})
    secret = build(failure, secret_key, "base", "plain", name="configmap-key/plain-secret")
    secret.files["deploy/secret.yaml"] = _yaml({"apiVersion": "v1", "kind": "Secret",
                                                "metadata": {"name": "shop-secrets"}, "type": "Opaque",
                                                "stringData": {"REDIS_PASSWORD": "example", "REDIS_USER": "shop"}})
    found.append(secret)
    return found


def build(failure: Failure, breaks: Callable[[dict[str, Any]], None], placement: str, layout: str,
          name: str | None = None) -> Scenario:
    healthy = web_container()
    broken = copy.deepcopy(healthy)
    breaks(broken)
    language = {"kustomize": "node", "helm": "go"}.get(layout, "python")
    files = app_source(list(failure.routes), list(failure.env_reads), language)
    files["Dockerfile"] = "FROM python:3.12-slim\nEXPOSE 8080\n"
    expected = dict(failure.expected or {})
    if failure.klass == "port-chain" and layout in {"plain", "multi"}:
        # numbers everywhere: the probe port and the Service's targetPort move with the containerPort
        broken["readinessProbe"]["httpGet"]["port"] = 8000
        broken["livenessProbe"]["httpGet"]["port"] = 8000
        expected.update({("readinessProbe", "httpGet", "port"): 8080, ("livenessProbe", "httpGet", "port"): 8080})
    service_target: Any = 8000 if failure.klass == "port-chain" and layout in {"plain", "multi"} else "http"
    container = "web"
    workload = "web"
    deployed = {"plain": "plain:deploy", "multi": "plain:deploy", "kustomize": "kustomize:k8s/overlays/preflight",
                "helm": "helm:chart"}[layout]
    expected_roots: tuple[str, ...] = (deployed,)
    if layout == "plain":
        files.update(_plain(failure, broken, service_target))
    elif layout == "multi":
        files.update(_multi(failure, broken, service_target))
    elif layout == "kustomize":
        files.update(_kustomize(failure, broken, service_target, healthy, placement))
        if placement == "base":
            expected_roots = (deployed, "kustomize:k8s/overlays/prod")
    else:
        if failure.klass == "port-chain":  # helm create: containerPort is service.port; the probe port is wrong
            broken["ports"][0]["containerPort"] = 8080
            broken["readinessProbe"]["httpGet"]["port"] = 8000
            expected = {("readinessProbe", "httpGet", "port"): 8080}
        files.update(_helm(failure, broken))
        container = workload = "shop"
    return Scenario(name or f"{failure.klass}/{layout}", failure.klass, layout, files,
                    Failure(**{**failure.__dict__, "expected": expected if failure.expected is not None else None}),
                    workload, container, deployed, expected_roots,
                    extra_objects=[copy.deepcopy(CONFIGMAP)] if layout == "helm" else [])


def out_of_class() -> list[Scenario]:
    def nothing(_: dict[str, Any]) -> None:
        pass

    def typo_tie(c: dict[str, Any]) -> None:
        c["env"][1]["valueFrom"]["configMapKeyRef"]["key"] = "REDIS_HOTS"

    cases = [
        (Failure("app-exception", "crash", log=("Traceback (most recent call last):", '  File "app/cart.py"',
                                                "ZeroDivisionError: division by zero")), nothing, "plain"),
        (Failure("dependency-outage", "crash", log=(
            "psycopg2.OperationalError: could not connect to server: Connection refused",
            "\tIs the server running on host \"db\" and accepting TCP/IP connections on port 5432?")), nothing,
         "multi"),
        (Failure("capacity", "pending", message="0/3 nodes are available: 3 Insufficient cpu."), nothing, "kustomize"),
        (Failure("probe-500", "probe-404", "readiness", log=("GET /readyz 500",)), nothing, "helm"),
        (Failure("ambiguous-route", "probe-404", "readiness", ("/ready", "/readiness"), log=()),
         lambda c: c["readinessProbe"]["httpGet"].__setitem__("path", "/healthz"), "plain"),
        (Failure("ambiguous-key", "config-key",
                 message=f"couldn't find key REDIS_HOTS in ConfigMap {NS}/shop-config"), typo_tie, "plain"),
    ]
    found = []
    for failure, breaks, layout in cases:
        scenario = build(failure, breaks, "base", layout, name=f"{failure.klass}/{layout}")
        if failure.klass == "probe-500":
            scenario.failure.message = "HTTP probe failed with statuscode: 500"
        if failure.klass == "ambiguous-key":  # REDIS_HOTS is one edit from REDIS_HOST and from REDIS_HOTZ
            scenario.extra_objects = [{**CONFIGMAP, "data": {"REDIS_HOST": "a", "REDIS_HOTZ": "b"}}]
            scenario.files["deploy/web.yaml"] = scenario.files["deploy/web.yaml"].replace(
                "REDIS_PORT: '6379'", "REDIS_HOTZ: b")
        found.append(scenario)
    return found


# -- the everyday classes (issue 19): plain and kustomize cells, plus the cases the evidence cannot decide ----------

SELECTOR = "  selector:\n    app.kubernetes.io/name: web\n"


def _break_service(scenario: Scenario, value: str) -> Scenario:
    """The Service's selector one label value off the pods of web (in the file that holds the Service)."""
    for name, text in scenario.files.items():
        if SELECTOR in text and "kind: Service" in text:
            scenario.files[name] = text.replace(SELECTOR, SELECTOR.replace(": web\n", f": {value}\n"))
    return scenario


def breadth() -> list[Scenario]:
    def nothing(_: dict[str, Any]) -> None:
        pass

    found = []
    for layout in BREADTH_LAYOUTS:
        failure = Failure("service-selector", "healthy", expected={}, objects_expected={
            ("Service", "web", ("spec", "selector", "app.kubernetes.io/name")): "web"})
        scenario = _break_service(build(failure, nothing, "base", layout), "web-app")
        if layout == "kustomize":  # the Service lives in the base: both environments get the fix
            scenario.expected_roots = (scenario.deployed_root, "kustomize:k8s/overlays/prod")
        found.append(scenario)
    missing = f"{REGISTRY}/web:1.5.0"
    pull = f'Failed to pull image "{missing}": rpc error: code = NotFound desc = failed to pull and unpack image ' \
           f'"{missing}": failed to resolve reference "{missing}": {missing}: not found'

    def new_tag(c: dict[str, Any]) -> None:
        c["image"] = missing

    for layout, placement in (("plain", "base"), ("kustomize", "images")):
        failure = Failure("image-rollback", "image-pull", message=pull, previous_image=f"{REGISTRY}/web:1.4.2",
                          expected={("image",): f"{REGISTRY}/web:1.4.2"})
        found.append(build(failure, new_tag, placement, layout))
    # The tag is missing and there is no earlier ReplicaSet: no_fix naming the tag. The tag exists but the pull is
    # refused (credentials): a rollback would hide it.
    found.append(build(Failure("image-missing-no-history", "image-pull", message=pull,
                               refusal="the registry has no tag 1.5.0"), new_tag, "base", "plain",
                       name="image-missing-no-history/plain"))
    denied = build(Failure("image-pull-denied", "image-pull", previous_image=f"{REGISTRY}/web:1.4.2",
                           message=f'Failed to pull image "{missing}": unexpected status from HEAD request: '
                                   "401 Unauthorized", refusal="another reason than a missing tag"), new_tag,
                   "images", "kustomize",
                   name="image-pull-denied/kustomize")
    found.append(denied)
    # A stock server (nginx): no routes in the source; its access log shows what it answers.
    probe_404 = '10.1.0.1 - - [01/Dec/2026:12:00:01 +0000] "GET /healthz HTTP/1.1" 404 153 "-" "kube-probe/1.29"'
    root_200 = '10.1.0.9 - - [01/Dec/2026:12:00:02 +0000] "GET / HTTP/1.1" 200 615 "-" "curl/8.5.0"'

    def healthz(c: dict[str, Any]) -> None:
        c["readinessProbe"]["httpGet"]["path"] = "/healthz"

    for layout in BREADTH_LAYOUTS:
        failure = Failure("probe-stock-image", "probe-404", "readiness", routes=(),
                          log=(probe_404, root_200, probe_404), expected={("readinessProbe", "httpGet", "path"): "/"})
        found.append(build(failure, healthz, "base", layout))
    found.append(build(Failure("probe-stock-unproven", "probe-404", "readiness", routes=(), log=(probe_404,),
                               refusal="nothing proves a path"), healthz, "base", "plain",
                       name="probe-stock-unproven/plain"))
    # A command override runs an executable the image lacks: the override goes (command and args).
    def shell(c: dict[str, Any]) -> None:
        c["command"] = ["/bin/sh", "-c"]
        c["args"] = ["gunicornn --bind 0.0.0.0:8080 app.main:app"]

    def direct(c: dict[str, Any]) -> None:
        c["command"] = ["gunicornn", "--bind", "0.0.0.0:8080", "app.main:app"]

    for layout, breaks, placement, line in (
            ("plain", shell, "base", "/bin/sh: 1: gunicornn: not found"),
            ("kustomize", direct, "strategic", 'exec: "gunicornn": executable file not found in $PATH')):
        failure = Failure("command-not-found", "crash", exit_code=127, log=(line,),
                          expected={("command",): None, ("args",): None})
        found.append(build(failure, breaks, placement, layout))

    def script(c: dict[str, Any]) -> None:
        c["command"] = ["/app/start.sh"]

    found.append(build(Failure("command-image-lacks", "crash", exit_code=127,
                               log=("/app/start.sh: line 3: curl: not found",), refusal="curl is not named by"),
                       script, "base", "plain",
                       name="command-image-lacks/plain"))
    # A nodeSelector no node matches, on a workload that needs no special node: it goes. Beside a GPU request: no_fix.
    unmatched = "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes " \
                "are available: 3 Preemption is not helpful for scheduling."
    pool = "    spec:\n      nodeSelector:\n        node-pool: highmem-x9\n      containers:\n"

    def pin(scenario: Scenario) -> Scenario:
        for name, text in scenario.files.items():
            if "kind: Deployment" in text and "    spec:\n      containers:\n" in text:
                scenario.files[name] = text.replace("    spec:\n      containers:\n", pool)
        return scenario

    for layout in BREADTH_LAYOUTS:
        found.append(pin(build(Failure("node-selector", "pending", message=unmatched, expected={},
                                       pod_expected={("nodeSelector",): None}), nothing, "base", layout)))

    def gpu(c: dict[str, Any]) -> None:
        c["resources"]["limits"]["nvidia.com/gpu"] = 1

    found.append(pin(build(Failure("node-selector-gpu", "pending", message=unmatched,
                                   refusal="requests nvidia.com/gpu"), gpu, "base", "plain",
                           name="node-selector-gpu/plain")))
    # RBAC: the workload's own ServiceAccount may not list configmaps; its Role grants only get on them.
    rbac = _yaml({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "web"}},
                 {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "web"},
                  "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]},
                 {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "web"},
                  "subjects": [{"kind": "ServiceAccount", "name": "web"}],
                  "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "web"}})
    refused = (f'kubernetes.client.exceptions.ApiException: (403) Reason: Forbidden: configmaps is forbidden: User '
               f'"system:serviceaccount:{NS}:web" cannot list resource "configmaps" in API group "" in the namespace '
               f'"{NS}"')
    rule = ("rules", "[1]")

    def with_rbac(scenario: Scenario) -> Scenario:
        for name, text in list(scenario.files.items()):
            if "kind: Deployment" in text and "    spec:\n      containers:\n" in text:
                scenario.files[name] = text.replace("    spec:\n      containers:\n",
                                                    "    spec:\n      serviceAccountName: web\n      containers:\n")
        if scenario.layout == "kustomize":
            scenario.files["k8s/base/rbac.yaml"] = rbac
            scenario.files["k8s/base/kustomization.yaml"] = scenario.files["k8s/base/kustomization.yaml"].replace(
                "  - service.yaml\n", "  - service.yaml\n  - rbac.yaml\n")
            scenario.expected_roots = (scenario.deployed_root, "kustomize:k8s/overlays/prod")
        else:
            scenario.files["deploy/rbac.yaml"] = rbac
        return scenario

    for layout in BREADTH_LAYOUTS:
        failure = Failure("rbac-forbidden", "crash", log=("listing configmaps", refused), expected={},
                          objects_expected={("Role", "web", (*rule, "apiGroups", "[0]")): "",
                                            ("Role", "web", (*rule, "resources", "[0]")): "configmaps",
                                            ("Role", "web", (*rule, "verbs", "[0]")): "list"})
        found.append(with_rbac(build(failure, nothing, "base", layout)))
    other = refused.replace(f"{NS}:web", f"{NS}:default")  # another ServiceAccount: not this workload's Role
    found.append(with_rbac(build(Failure("rbac-other-account", "crash", log=(other,),
                                         refusal="not its own ServiceAccount"), nothing, "base", "plain",
                                 name="rbac-other-account/plain")))
    # Two workloads one value off the selector (web and worker, both labelled by name): which one is meant is
    # not in the evidence.
    ambiguous = build(Failure("service-ambiguous", "healthy", refusal="deployment/web, deployment/worker"), nothing,
                      "base", "multi",
                      name="service-ambiguous/multi")
    ambiguous.files["deploy/shop.yaml"] = ambiguous.files["deploy/shop.yaml"].replace(
        SELECTOR, SELECTOR.replace(": web\n", ": shop\n"))
    found.append(ambiguous)
    return found


# -- the cluster, the collector, the engine, the verdict --------------------------------------------------------

def write_files(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def _lines(*texts: str) -> StaticLog:
    start = datetime.now(UTC) - timedelta(minutes=4)
    return StaticLog([(start + timedelta(seconds=i), text) for i, text in enumerate(texts)])


def load_cluster(scenario: Scenario, source: Path) -> FakeKubernetes:
    """The cluster after Argo CD synced the deployed root, with the failure happening."""
    rendered = render_all(source, RenderContext(scenario.release, NS))[scenario.deployed_root]
    assert rendered.error is None, rendered.error
    cluster = FakeKubernetes()
    failure = scenario.failure
    for (kind, _, name), original in rendered.objects.items():
        obj = copy.deepcopy(original)
        obj["metadata"]["namespace"] = NS
        if kind == "ConfigMap" or kind == "Service":
            cluster.add(obj)
            continue
        if kind not in {"Deployment", "StatefulSet"}:
            continue
        obj["metadata"].update({"uid": f"uid-{name}", "annotations": {
            "deployment.kubernetes.io/revision": "3", "pathops.io/source-commit": SHA}})
        failing = name == scenario.workload
        obj["status"] = {"replicas": 2, "readyReplicas": 0 if failing else 2, "updatedReplicas": 2}
        cluster.add(obj)
        rs = obj
        if kind == "Deployment" and failing and failure.previous_image:
            template = copy.deepcopy(obj["spec"]["template"]["spec"])
            template["containers"][0]["image"] = failure.previous_image
            old = replicaset(obj, 2, template, replicas=2, ready=2)
            cluster.add(old)
            cluster.add(pod(f"{old['metadata']['name']}-h3k8m", old, [running(template["containers"][0]["name"],
                                                                              failure.previous_image)], ready=True))
        if kind == "Deployment":
            rs = replicaset(obj, 3, obj["spec"]["template"]["spec"], replicas=2)
            cluster.add(rs)
        spec = containers(obj)[0]
        pod_name = f"{rs['metadata']['name']}-{'x7k2p' if failing else 'q9w4d'}"
        if not failing:
            cluster.add(pod(pod_name, rs, [running(spec["name"], spec["image"])], ready=True))
            cluster.set_log(NS, pod_name, spec["name"], _lines("Listening on 0.0.0.0:8000", "GET /healthz 200",
                                                                "GET /ready 200", "GET /started 200"))
            continue
        _inject(cluster, failure, rs, pod_name, spec)
    for obj in scenario.extra_objects:
        cluster.add({**copy.deepcopy(obj), "metadata": {**obj["metadata"], "namespace": NS}})
    return cluster


def _inject(cluster: FakeKubernetes, failure: Failure, rs: dict[str, Any], pod_name: str,
            spec: dict[str, Any]) -> None:
    name, image = spec["name"], spec["image"]
    field_path = f"spec.containers{{{name}}}"
    if failure.mode in {"probe-404", "probe-refused"}:
        restarts = 4 if failure.probe != "readiness" else 0
        cluster.add(pod(pod_name, rs, [running(name, image, ready=False, restarts=restarts)]))
        message = failure.message or "HTTP probe failed with statuscode: 404"
        cluster.add(event(NS, "Pod", pod_name, "Unhealthy", f"{failure.probe.capitalize()} probe failed: {message}",
                          2, count=14, field_path=field_path))
        cluster.set_log(NS, pod_name, name, _lines("Listening on 0.0.0.0:8080", *failure.log))
    elif failure.mode == "oom":
        oom = {"exitCode": 137, "reason": "OOMKilled", "finishedAt": ago(1)}
        cluster.add(pod(pod_name, rs, [running(name, image, restarts=5, last_terminated=oom)]))
        cluster.set_log(NS, pod_name, name, _lines("loading catalogue", "cache warm: 118Mi"), previous=True)
    elif failure.mode == "config-key":  # the kubelet names the object the pod references (hash suffix and all)
        source = next(e["valueFrom"] for e in spec["env"] if "valueFrom" in e)
        kind, ref = ("Secret", source["secretKeyRef"]) if "secretKeyRef" in source else \
            ("ConfigMap", source["configMapKeyRef"])
        message = f"couldn't find key {ref['key']} in {kind} {NS}/{ref['name']}"
        cluster.add(pod(pod_name, rs, [waiting(name, image, "CreateContainerConfigError", message)]))
    elif failure.mode == "image-pull":
        cluster.add(pod(pod_name, rs, [waiting(name, image, "ImagePullBackOff", failure.message)]))
    elif failure.mode == "crash":
        crash = {"exitCode": failure.exit_code, "reason": "Error", "finishedAt": ago(1)}
        cluster.add(pod(pod_name, rs, [waiting(name, image, "CrashLoopBackOff", "back-off 5m0s restarting",
                                               restarts=6, last_terminated=crash)]))
        cluster.set_log(NS, pod_name, name, _lines("booting"))
        cluster.set_log(NS, pod_name, name, _lines(*failure.log), previous=True)
    elif failure.mode == "healthy":  # the workload runs; what is broken is around it (a Service)
        cluster.add(pod(pod_name, rs, [running(name, image)], ready=True))
        cluster.set_log(NS, pod_name, name, _lines("Listening on 0.0.0.0:8080", *failure.log))
    elif failure.mode == "pending":
        cluster.add(pod(pod_name, rs, [], phase="Pending", conditions=[
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": failure.message}]))
        cluster.add(event(NS, "Pod", pod_name, "FailedScheduling", failure.message, 2))


def collect(cluster: FakeKubernetes, work: Path) -> Snapshot:
    """Run the real evidence collector against the cluster; the snapshot as the fix agent opens it."""
    work.mkdir(parents=True, exist_ok=True)
    with BackgroundServer(cluster) as server:
        kubeconfig = write_kubeconfig(work / "kubeconfig", server.url, NS)
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "INCIDENT_ID": "INC-2001", "APP_ID": "shop",
               "TARGET_NAMESPACE": NS}
        result = subprocess.run([str(BIN / "evidence-collector"), "collect", "--no-upload", "--output-dir",
                                 str(work / "out")], env=env, capture_output=True, text=True, timeout=120,
                                check=False, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise RuntimeError(f"the collector failed: {result.stderr[-500:]}")
    bundle = next((work / "out").glob("snap-*.tar.gz"))
    root = work / "snapshot"
    with tarfile.open(bundle) as archive:
        archive.extractall(root, filter="data")
    return load_snapshot(bundle.name.removesuffix(".tar.gz"), root)


def real_repository(files: Path, where: Path) -> Path:
    env = git_environment(GitIdentity("Dana", "dana@shop.example"))
    subprocess.run(["cp", "-r", str(files), str(where)], check=True)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "release"]):
        subprocess.run(["git", *args], cwd=where, env=env, check=True, capture_output=True)
    return where


@dataclass
class Verdict:
    scenario: str
    klass: str
    layout: str
    in_class: bool
    result: str  # fixed | missed | wrong | refused (right no_fix) | wrong (patch out of class)
    detail: str
    engine: str


def judge(scenario: Scenario, source: Path, outcome: FixOutcome, work: Path) -> Verdict:
    engine = str(outcome.metadata["engine"].get("playbook") or outcome.metadata["engine"]["name"])

    def verdict(result: str, detail: str) -> Verdict:
        return Verdict(scenario.name, scenario.klass, scenario.layout, scenario.in_class, result, detail, engine)

    if outcome.mbox is None:
        return verdict("missed" if scenario.in_class else "refused", outcome.summary[:2000])
    if not scenario.in_class:
        return verdict("wrong", f"patched an out-of-class incident: {outcome.summary}")
    repository = real_repository(source, work / "applied")
    (work / "patch.mbox").write_text(outcome.mbox)
    applied = subprocess.run(["git", "am", "--3way", str(work / "patch.mbox")], cwd=repository, capture_output=True,
                             text=True, env=git_environment(GitIdentity("R", "r@x.io")), check=False)
    if applied.returncode != 0:
        return verdict("wrong", f"the patch does not apply: {applied.stderr[:200]}")
    context = RenderContext(scenario.release, NS)
    before, after = render_all(source, context), render_all(repository, context)
    expected = _expected(scenario, before)
    problems = []
    for name in sorted(set(before) | set(after)):
        old = {k: flatten(v) for k, v in before[name].objects.items()} if name in before else {}
        new = {k: flatten(v) for k, v in after[name].objects.items()} if name in after else {}
        want = copy.deepcopy(old)
        for (root, key, path), value in expected.items():
            if root == name and value is None:  # the field goes
                want[key] = {p: v for p, v in want[key].items() if p[:len(path)] != path}
            elif root == name:
                want[key][path] = value
        if new != want:
            keys = sorted(set(want) | set(new))
            diff = [(k, p, want.get(k, {}).get(p), new.get(k, {}).get(p)) for k in keys
                    for p in set(want.get(k, {})) | set(new.get(k, {}))
                    if want.get(k, {}).get(p) != new.get(k, {}).get(p)]
            problems.append(f"{name}: {diff[:3]}")
    if problems:
        return verdict("wrong", "; ".join(problems)[:600])
    return verdict("fixed", outcome.summary[:200])


def _expected(scenario: Scenario, before: dict[str, Any]) -> dict[tuple[str, Any, tuple[str, ...]], Any]:
    expected = {}
    for name in scenario.expected_roots:
        for key in before[name].objects:
            if key[0] in {"Deployment", "StatefulSet"} and key[2] == scenario.workload:
                prefix = ("spec", "template", "spec", "containers", f"[{scenario.container}]")
                for path, value in (scenario.failure.expected or {}).items():
                    expected[(name, key, (*prefix, *path))] = value
                for path, value in scenario.failure.pod_expected.items():
                    expected[(name, key, ("spec", "template", "spec", *path))] = value
            if key[0] == "Service" and scenario.failure.klass == "port-chain" and scenario.layout in {"plain", "multi"}:
                expected[(name, key, ("spec", "ports", "[0]", "targetPort"))] = 8080
            for (kind, object_name, path), value in scenario.failure.objects_expected.items():
                if key[0] == kind and key[2] == object_name:
                    expected[(name, key, path)] = value
    return expected


def run(scenario: Scenario, work: Path, engines: list[Engine]) -> Verdict:
    source = write_files(work / "source", scenario.files)
    snapshot = collect(load_cluster(scenario, source), work / "cluster")
    scratch = work / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    outcome = find_fix(snapshot, source, SHA, engines, scratch)
    return judge(scenario, source, outcome, work)


def table(verdicts: list[Verdict]) -> str:
    """fixed / missed / wrong per scenario (class/layout[-variant]), then per class and the totals."""
    lines = [f"{'scenario':<40}{'result':<9}detail"]
    lines += [f"{v.scenario:<40}{v.result:<9}{v.detail[:80]}" for v in verdicts]
    lines.append("")
    groups = [(f"class {k}", [v for v in verdicts if v.klass == k]) for k in dict.fromkeys(v.klass for v in verdicts)]
    groups += [(f"layout {layout}", [v for v in verdicts if v.layout == layout]) for layout in LAYOUTS]
    for label, mine in groups:
        counts = {r: sum(v.result == r for v in mine) for r in ("fixed", "missed", "wrong", "refused")}
        lines.append(f"{label:<34}" + "  ".join(f"{r} {n}" for r, n in counts.items() if n or r == "wrong"))
    in_class = [v for v in verdicts if v.in_class]
    fixed = sum(v.result == "fixed" for v in in_class)
    wrong = sum(v.result == "wrong" for v in verdicts)
    lines.append(f"in class: {fixed}/{len(in_class)} fixed, {sum(v.result == 'missed' for v in in_class)} missed; "
                 f"out of class: {sum(v.result == 'refused' for v in verdicts if not v.in_class)}/"
                 f"{sum(not v.in_class for v in verdicts)} refused; wrong patches: {wrong}")
    return "\n".join(lines)


def as_json(verdicts: list[Verdict]) -> str:
    return json.dumps([v.__dict__ for v in verdicts], indent=1)
