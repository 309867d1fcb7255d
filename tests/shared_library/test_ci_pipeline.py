"""The repository's own CI (root Jenkinsfile): images are built on a pinned base from the registry."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _images_stage(pipeline: str) -> str:
    start = pipeline.index("stage('Build and push the agent images')")
    return pipeline[start:pipeline.index("post {", start)]


def test_the_images_stage_names_its_base_and_registry() -> None:
    pipeline = (ROOT / "Jenkinsfile").read_text()
    environment = pipeline[pipeline.index("environment {"):pipeline.index("stages {")]
    base = re.search(r"PYTHON_IMAGE = '([^']+)'", environment)
    assert base is not None, "the CI must say which Python base the pushed images are built on"
    # A pinned release of the slim image, through the registry (no :latest, no host without a registry).
    assert re.fullmatch(r"harbor\.demo\.pathops\.io/[a-z0-9/._-]+/python:3\.\d+\.\d+-slim-[a-z]+", base[1]), base[1]
    assert "REGISTRY = 'harbor.demo.pathops.io/pathops'" in environment
    (script,) = re.findall(r"sh\(label: 'images',\s*script: ((?:'[^']*'\s*\+?\s*)+)\)", _images_stage(pipeline))
    command = "".join(re.findall(r"'([^']*)'", script))
    assert command == ("make images PUSH=1 REGISTRY=\"$REGISTRY\" PYTHON_IMAGE=\"$PYTHON_IMAGE\" "
                       "IMAGE_REVISION=\"$GIT_COMMIT\"")


def test_pushing_without_a_python_base_is_refused_before_anything_runs(tmp_path: Path) -> None:
    """Without PYTHON_IMAGE, build-images.sh would debootstrap a base (root only): never for a push."""
    calls = tmp_path / "calls"
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("buildah", "debootstrap", "python3", "pip"):
        (tools / tool).write_text(f'#!/bin/sh\necho {tool} >> "{calls}"\n')
        (tools / tool).chmod(0o755)
    env = {key: value for key, value in os.environ.items() if key != "PYTHON_IMAGE"}
    result = subprocess.run([str(ROOT / "scripts" / "build-images.sh")], capture_output=True, text=True, check=False,
                            env={**env, "PATH": f"{tools}:{env['PATH']}", "PUSH": "1"}, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("build-images: PUSH=1 needs PYTHON_IMAGE, the pinned Python base from a registry")
    assert not calls.exists()
