"""Fix-agent scenarios: a snapshot folder, a source tree, and what the right change is."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from fix_agent.snapshot import Snapshot, load_snapshot
from pathops_runtime.git_env import GitIdentity, git_environment

NOW = "2026-11-27T10:00:00Z"

APP = '''"""shop-frontend: a tiny storefront."""
from http.server import BaseHTTPRequestHandler

ROUTES = {"/": "home", "/health": "ok", "/cart": "cart"}
'''

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop-frontend  # the storefront
spec:
  template:
    metadata:
      labels:
        app: shop-frontend
    spec:
      containers:
      - name: web
        image: harbor.demo.pathops.io/shop/shop-frontend:1.4.0
        ports:
        - containerPort: 8080
        readinessProbe:
          httpGet:
            path: /healthz   # changed in the last release
            port: 8080
        resources:
          requests:
            memory: 64Mi
          limits:
            memory: 128Mi
        env:
        - name: DATABASE_URL
          valueFrom:
            configMapKeyRef:
              name: shop-config
              key: databse_url
"""

HELM_VALUES = """\
# Values of the shop-frontend chart
image:
  tag: 1.4.0
probes:
  readiness:
    path: /healthz  # see templates/deployment.yaml
    port: 8080
resources:
  limits:
    memory: 128Mi
"""

HELM_TEMPLATE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  template:
    spec:
      containers:
        - name: web
          readinessProbe:
            httpGet:
              path: {{ .Values.probes.readiness.path }}
              port: {{ .Values.probes.readiness.port }}
"""

KUSTOMIZE_BASE = DEPLOYMENT.replace("path: /healthz   # changed in the last release", "path: /health")
KUSTOMIZE_PATCH = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop-frontend
spec:
  template:
    spec:
      containers:
        - name: web
          readinessProbe:
            httpGet:
              path: /healthz  # preflight override
"""

LAYOUTS: dict[str, dict[str, str]] = {
    "plain": {"app.py": APP, "Dockerfile": "FROM python:3.12-slim\nEXPOSE 8080\n",
              "deploy/deployment.yaml": DEPLOYMENT},
    "helm": {"app.py": APP, "chart/values.yaml": HELM_VALUES, "chart/templates/deployment.yaml": HELM_TEMPLATE,
             "chart/Chart.yaml": "apiVersion: v2\nname: shop-frontend\nversion: 0.1.0\n"},
    "kustomize": {"app.py": APP, "k8s/base/deployment.yaml": KUSTOMIZE_BASE,
                  "k8s/base/kustomization.yaml": "resources:\n  - deployment.yaml\n",
                  "k8s/overlays/preflight/probe.yaml": KUSTOMIZE_PATCH,
                  "k8s/overlays/preflight/kustomization.yaml":
                      "resources:\n  - ../../base\npatches:\n  - path: probe.yaml\n"},
}


def source_tree(root: Path, layout: str, files: dict[str, str] | None = None) -> Path:
    for name, text in (files if files is not None else LAYOUTS[layout]).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def probe_finding(path: str = "/healthz", status: int = 404) -> dict[str, Any]:
    return {"kind": "probe-failure", "severity": "high", "title": f"readiness probe of web-1 fails ({path}:8080)",
            "detail": f"Readiness probe failed: HTTP probe failed with statuscode: {status} (12 times).",
            "objects": ["pod/web-1"], "pointers": [],
            "facts": {"pod": "web-1", "container": "web", "probe": "readiness", "path": path, "port": 8080,
                      "status_code": status, "container_ports": [8080], "message": f"statuscode: {status}"}}


def oom_finding(limit: str = "128Mi") -> dict[str, Any]:
    return {"kind": "oom-killed", "severity": "critical", "title": "web-1/web was OOMKilled", "detail": "",
            "objects": [], "pointers": [],
            "facts": {"pod": "web-1", "container": "web", "memory_limit": limit, "restart_count": 4}}


def configmap_finding(key: str = "databse_url") -> dict[str, Any]:
    return {"kind": "config-error", "severity": "critical", "title": "cart cannot start", "detail": "",
            "objects": [], "pointers": [],
            "facts": {"pod": "web-1", "container": "web", "missing_key": key, "configmap": "shop-config",
                      "message": f"couldn't find key {key} in ConfigMap shop/shop-config"}}


def image_pull_finding(image: str) -> dict[str, Any]:
    return {"kind": "image-pull", "severity": "critical", "title": f"cannot pull {image}", "detail": "",
            "objects": [], "pointers": [], "facts": {"pod": "web-1", "container": "web", "image": image}}


def live_container(deployment: str = DEPLOYMENT) -> dict[str, Any]:
    """The web container as the cluster runs it: what the plain manifest says."""
    document = YAML(typ="safe", pure=True).load(deployment)
    container: dict[str, Any] = document["spec"]["template"]["spec"]["containers"][0]
    return container


def snapshot_dir(root: Path, findings: list[dict[str, Any]], log: str = "", configmap_keys: list[str] | None = None,
                 commit: str | None = None, live: dict[str, Any] | None = None) -> Snapshot:
    """A snapshot folder as the collector writes it: the failing pod web-1 of Deployment shop-frontend (through
    its ReplicaSet), its log, the ConfigMap keys."""
    root.mkdir(parents=True, exist_ok=True)
    manifest = {
        "schema_version": "evidence-manifest/v1", "incident_id": "INC-1042", "app_id": "shop-frontend",
        "target_namespace": "shop-frontend-preflight", "time_window": {"start": "2026-11-27T09:30:00Z", "end": NOW},
        "collected_at": NOW, "workload": {"kind": "Deployment", "name": "shop-frontend"},
        "source": {"commit_sha": commit, "image": None, "commit_sha_from": "test" if commit else None},
        "files": [], "gaps": [],
        "collector": {"name": "evidence-collector", "version": "0.1.0"},
    }
    (root / "manifest.json").write_text(json.dumps(manifest))
    (root / "findings.json").write_text(json.dumps({"summary": "", "findings": findings}))
    (root / "logs" / "web-1").mkdir(parents=True, exist_ok=True)
    (root / "logs" / "web-1" / "web.log").write_text(log)
    (root / "objects").mkdir(exist_ok=True)
    owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "shop-frontend-7d9f", "uid": "uid-rs",
             "controller": True}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "web-1", "namespace": "shop-frontend-preflight", "labels": {"app": "shop-frontend"},
        "ownerReferences": [owner]}, "spec": {"containers": [live or live_container()]}}
    replicaset = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {
        "name": "shop-frontend-7d9f", "uid": "uid-rs", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": "shop-frontend", "uid": "uid-d",
             "controller": True}]}}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "shop-frontend", "uid": "uid-d"}}
    (root / "objects" / "pods.jsonl").write_text(json.dumps(pod) + "\n")
    (root / "objects" / "owners.jsonl").write_text(json.dumps(deployment) + "\n" + json.dumps(replicaset) + "\n")
    (root / "objects" / "services.jsonl").write_text(json.dumps(
        {"metadata": {"name": "shop-frontend"}, "spec": {"selector": {"app": "shop-frontend"}}}) + "\n")
    (root / "objects" / "configmaps.json").write_text(json.dumps(
        {"configmaps": [{"name": "shop-config", "keys": configmap_keys or ["database_url", "flags"]}]}))
    return load_snapshot("snap-" + "5" * 32, root)


SERVED_LOG = "2026-11-27T09:59:00Z GET /health 200\n2026-11-27T09:59:01Z GET /healthz 404\n"


def real_repository(tree: Path, where: Path) -> tuple[Path, str]:
    """A real git repository holding tree, as the GitLab project would: (path, commit sha)."""
    env = git_environment(GitIdentity("Dana", "dana@shop.example"))
    subprocess.run(["cp", "-r", str(tree), str(where)], check=True)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "release 1.4.0"]):
        subprocess.run(["git", *args], cwd=where, env=env, check=True, capture_output=True)
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, env=env, check=True, capture_output=True,
                         text=True).stdout.strip()
    return where, sha


def apply_mbox(repository: Path, mbox: str) -> subprocess.CompletedProcess[str]:
    env = git_environment(GitIdentity("PathOps Autopilot", "autopilot@pathops.io"))
    patch = repository.parent / "applied.mbox"
    patch.write_text(mbox)
    return subprocess.run(["git", "am", "--3way", str(patch)], cwd=repository, env=env, capture_output=True,
                          text=True, check=False)
