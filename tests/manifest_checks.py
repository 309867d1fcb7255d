"""Validators every rendered manifest must pass: official schemas, checkov and kustomize."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
KUBERNETES_VERSION = "1.31.0"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


def load_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in YAML(typ="safe").load_all(path.read_text()) if doc]


def validate_schemas(folder: Path) -> int:
    """kubernetes-validate --strict on every object of every YAML file (not kustomization.yaml)."""
    count = 0
    for path in sorted(folder.rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in load_documents(path):
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
            count += 1
    return count


def run_checkov(folder: Path) -> dict[str, Any]:
    if not CHECKOV.exists():
        pytest.fail("checkov is missing: `make test` installs it into .venv-checkov")
    result = subprocess.run(
        [str(CHECKOV), "-d", str(folder), "--framework", "kubernetes", "--quiet", "--compact", "--skip-download",
         "--output", "json"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    summary = {"passed": 0, "failed": 0, "skipped": 0, "failed_checks": []}
    for item in reports:
        summary["passed"] += item["summary"]["passed"]
        summary["failed"] += item["summary"]["failed"]
        summary["skipped"] += item["summary"]["skipped"]
        summary["failed_checks"] += [
            f"{c['check_id']} {c['resource']}" for c in item["results"]["failed_checks"]
        ]
    return summary


def kustomize(folder: Path) -> list[dict[str, Any]]:
    result = subprocess.run(["kubectl", "kustomize", str(folder)], capture_output=True, text=True, check=True)
    return [doc for doc in YAML(typ="safe").load_all(result.stdout) if doc]
