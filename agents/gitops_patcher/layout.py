"""Where agent runs live in the GitOps repository, and how the app's kustomization lists them.

    agents/<app>/kustomization.yaml          resources: [namespace, runs/<run>...]  (Argo CD path)
    agents/<app>/namespace/                  agents namespace + NetworkPolicies (written once)
    agents/<app>/runs/<run>/                 one run: Job, ServiceAccount, RBAC, kustomization.yaml
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq


def app_dir(repo_root: Path, app: str) -> Path:
    return repo_root / "agents" / app


def run_dir(repo_root: Path, app: str, run_name: str) -> Path:
    return app_dir(repo_root, app) / "runs" / run_name


def _yaml() -> YAML:
    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def read_resources(kustomization: Path) -> list[str]:
    if not kustomization.exists():
        return []
    document = _yaml().load(kustomization.read_text(encoding="utf-8")) or {}
    return [str(item) for item in document.get("resources", [])]


def write_resources(kustomization: Path, resources: list[str]) -> None:
    """Set the resources list, keeping whatever else (and comments) the file has."""
    yaml = _yaml()
    if kustomization.exists():
        document = yaml.load(kustomization.read_text(encoding="utf-8")) or CommentedMap()
    else:
        document = CommentedMap([("apiVersion", "kustomize.config.k8s.io/v1beta1"), ("kind", "Kustomization")])
    document["resources"] = CommentedSeq(resources)
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    kustomization.parent.mkdir(parents=True, exist_ok=True)
    kustomization.write_text(buffer.getvalue(), encoding="utf-8")


def add_run(repo_root: Path, app: str, run_name: str, files: dict[str, str], namespace_files: dict[str, str]) -> bool:
    """Write a run and list it; False when the run is already there (nothing to do)."""
    target = run_dir(repo_root, app, run_name)
    kustomization = app_dir(repo_root, app) / "kustomization.yaml"
    resources = read_resources(kustomization)
    entry = f"runs/{run_name}"
    if target.exists() and entry in resources:
        return False
    namespace_dir = app_dir(repo_root, app) / "namespace"
    if not namespace_dir.exists():
        namespace_dir.mkdir(parents=True)
        for name, text in namespace_files.items():
            (namespace_dir / name).write_text(text, encoding="utf-8")
    if "namespace" not in resources:
        resources.insert(0, "namespace")
    target.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (target / name).write_text(text, encoding="utf-8")
    if entry not in resources:
        resources.append(entry)
    write_resources(kustomization, resources)
    return True


def remove_run(repo_root: Path, app: str, run_name: str) -> None:
    shutil.rmtree(run_dir(repo_root, app, run_name), ignore_errors=True)
    kustomization = app_dir(repo_root, app) / "kustomization.yaml"
    write_resources(kustomization, [r for r in read_resources(kustomization) if r != f"runs/{run_name}"])


def list_runs(repo_root: Path, app: str) -> list[str]:
    runs = app_dir(repo_root, app) / "runs"
    return sorted(entry.name for entry in runs.iterdir() if entry.is_dir()) if runs.exists() else []
