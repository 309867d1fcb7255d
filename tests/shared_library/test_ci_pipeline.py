"""The repository's own CI (root Jenkinsfile): images are built on a pinned base from the registry."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _images_stage(pipeline: str) -> str:
    start = pipeline.index("stage('Build and push the agent images')")
    return pipeline[start:pipeline.index("post {", start)]


def test_the_images_stage_takes_its_base_and_registry_from_the_controller() -> None:
    """No default in the pipeline (a forgotten setting must not push to the demo's registry): both come
    from the controller's environment, which jenkins/casc.yaml sets."""
    pipeline = (ROOT / "Jenkinsfile").read_text()
    (script,) = re.findall(r"sh\(label: 'images',\s*script: ((?:'[^']*'\s*\+?\s*)+)\)", _images_stage(pipeline))
    command = "".join(re.findall(r"'([^']*)'", script))
    assert command == ("make images PUSH=1 REGISTRY=\"$PATHOPS_REGISTRY\" PYTHON_IMAGE=\"$PATHOPS_PYTHON_IMAGE\" "
                       "IMAGE_REVISION=\"$GIT_COMMIT\"")
    casc = (ROOT / "jenkins" / "casc.yaml").read_text()
    assert "key: PATHOPS_REGISTRY" in casc and "key: PATHOPS_PYTHON_IMAGE" in casc


@pytest.mark.parametrize("missing", ["PYTHON_IMAGE", "REGISTRY"])
def test_a_push_without_its_base_or_registry_is_refused_before_anything_runs(tmp_path: Path, missing: str) -> None:
    """Without PYTHON_IMAGE, build-images.sh would debootstrap a base (root only); without REGISTRY it would
    push to the demo's: never for a push."""
    calls = tmp_path / "calls"
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("buildah", "debootstrap", "python3", "pip"):
        (tools / tool).write_text(f'#!/bin/sh\necho {tool} >> "{calls}"\n')
        (tools / tool).chmod(0o755)
    env = {key: value for key, value in os.environ.items() if key not in {"PYTHON_IMAGE", "REGISTRY"}}
    given = {"PYTHON_IMAGE": "python:3.12.8-slim-bookworm", "REGISTRY": "harbor.example/pathops"}
    given.pop(missing)
    result = subprocess.run([str(ROOT / "scripts" / "build-images.sh")], capture_output=True, text=True, check=False,
                            env={**env, **given, "PATH": f"{tools}:{env['PATH']}", "PUSH": "1"}, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith(f"build-images: PUSH=1 needs {missing}")
    assert not calls.exists()


